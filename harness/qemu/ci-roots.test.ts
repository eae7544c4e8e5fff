import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ciRoots, missingRoots } from './ci-roots.ts';
import { QEMU_VERSIONS } from './install.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

/** CI runs the live checks against every version it has a root for, and it keeps a root for every version. */
describe('CI roots', () => {
  it('.ci/roots readies every QEMU version, and .ci/run readies them before npm test', () => {
    const loop = /^for v in ([0-9. ]+); do$/m.exec(read('.ci/roots'));
    expect(loop?.[1].split(' ').sort()).toEqual([...QEMU_VERSIONS].sort());
    const run = read('.ci/run');
    expect(run.indexOf('bash .ci/roots')).toBeGreaterThan(-1);
    expect(run.indexOf('bash .ci/roots')).toBeLessThan(run.indexOf('\nnpm test'));
    expect(read('.ci/versions')).toContain('bash .ci/roots');
  });

  it('a version CI lists without a runnable root fails, with why', () => {
    const gone = (v: string) => {
      if (v === '10.0') throw new Error('no QEMU 10.0 in /cache/qemu/10.0');
    };
    expect(ciRoots({ FLEECE_LAB_CI_ROOTS: '5.2, 10.0,' })).toEqual(['5.2', '10.0']);
    expect(missingRoots(['5.2', '10.0'], gone)).toEqual([
      { version: '10.0', why: 'no QEMU 10.0 in /cache/qemu/10.0' },
    ]);
  });

  // on CI (.ci/run sets FLEECE_LAB_CI_ROOTS): every root it readied is here, so no live check skips it
  it.skipIf(ciRoots().length === 0)('every root CI readied resolves here', () => {
    expect(missingRoots(ciRoots())).toEqual([]);
  });
});
