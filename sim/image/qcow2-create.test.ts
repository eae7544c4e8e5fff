import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createQcow2, openQcow2 } from './qcow2.js';
import { hasQemu, makeTempDir, NO_QEMU_REASON, QEMU_IMG, qemuCheck, runOk } from './test-support.js';

const tmp = makeTempDir('qcow2-create-');
afterAll(() => tmp.remove());

interface Case {
  size: number;
  clusterSize: number;
  backing?: { file: string; format: 'raw' | 'qcow2' };
}

const cases: Case[] = [
  { size: 2 ** 30, clusterSize: 65536 },
  { size: 0, clusterSize: 65536 },
  { size: 1000, clusterSize: 65536 }, // rounded up to 1024 like qemu-img
  { size: 2 ** 40, clusterSize: 65536 },
  { size: 2 ** 40, clusterSize: 2 ** 21 },
  { size: 10 * 2 ** 30, clusterSize: 512 }, // L1 spills past the first refcount block
  { size: 2 ** 35, clusterSize: 1024 },
  { size: 2 ** 30, clusterSize: 4096, backing: { file: 'base.raw', format: 'raw' } },
  { size: 5 * 2 ** 30, clusterSize: 65536, backing: { file: 'base.qcow2', format: 'qcow2' } },
];

describe('createQcow2', () => {
  it('rejects bad cluster sizes and a format without a file', () => {
    expect(() => createQcow2(tmp.path('bad.qcow2'), { size: 1, clusterSize: 3000 })).toThrow(RangeError);
    expect(() => createQcow2(tmp.path('bad.qcow2'), { size: 1, clusterSize: 256 })).toThrow(RangeError);
    expect(() => createQcow2(tmp.path('bad.qcow2'), { size: 1, backingFormat: 'raw' })).toThrow(
      /without backingFile/,
    );
  });

  it('produces an image our reader opens empty', () => {
    const p = tmp.path('empty.qcow2');
    createQcow2(p, { size: 3 * 2 ** 20 + 512, clusterSize: 4096 });
    const img = openQcow2(p, { readOnly: true });
    expect(img.size).toBe(3 * 2 ** 20 + 512);
    expect(img.blockStatus(0, img.size)).toEqual([{ offset: 0, length: img.size, status: 'unallocated' }]);
    img.close();
  });

  for (const c of cases) {
    const label = `size ${c.size}, cluster ${c.clusterSize}${c.backing ? `, backing ${c.backing.format}` : ''}`;
    it.skipIf(!hasQemu)(
      `is byte-identical to qemu-img create and passes check: ${label}${hasQemu ? '' : ` (${NO_QEMU_REASON})`}`,
      () => {
        const slug = `${c.size}-${c.clusterSize}-${c.backing?.format ?? 'none'}`;
        const ours = tmp.path(`ours-${slug}.qcow2`);
        const theirs = tmp.path(`theirs-${slug}.qcow2`);
        if (c.backing?.format === 'raw') writeFileSync(tmp.path(c.backing.file), new Uint8Array(4096));
        if (c.backing?.format === 'qcow2') createQcow2(tmp.path(c.backing.file), { size: 2 ** 20 });
        createQcow2(ours, {
          size: c.size,
          clusterSize: c.clusterSize,
          backingFile: c.backing?.file,
          backingFormat: c.backing?.format,
        });
        const args = ['create', '-q', '-f', 'qcow2', '-o', `cluster_size=${c.clusterSize}`];
        if (c.backing) args.push('-b', c.backing.file, '-F', c.backing.format);
        runOk(QEMU_IMG, [...args, theirs, String(c.size)]);
        const a = readFileSync(ours);
        const b = readFileSync(theirs);
        expect(a.length).toBe(b.length);
        expect(a.equals(b)).toBe(true);

        expect(qemuCheck(ours).code).toBe(0);
        const info = JSON.parse(runOk(QEMU_IMG, ['info', '--output=json', ours])) as Record<string, unknown>;
        expect(info['cluster-size']).toBe(c.clusterSize);
        expect(info['virtual-size']).toBe(Math.ceil(c.size / 512) * 512);
        expect(info.format).toBe('qcow2');
        expect(info['backing-filename']).toBe(c.backing?.file);
        expect(info['backing-filename-format']).toBe(c.backing?.format);
      },
    );
  }

  it.skipIf(!hasQemu)('grows the refcount table when the L1 table alone exceeds it, and passes check', () => {
    // 512-byte clusters: one refcount table cluster covers 8 MiB; a 64 GiB image needs a 16 MiB L1.
    const p = tmp.path('grow.qcow2');
    createQcow2(p, { size: 64 * 2 ** 30, clusterSize: 512 });
    const { code, report } = qemuCheck(p);
    expect({ code, leaks: report.leaks ?? 0, errors: report['check-errors'] }).toEqual({
      code: 0,
      leaks: 0,
      errors: 0,
    });
  });
});
