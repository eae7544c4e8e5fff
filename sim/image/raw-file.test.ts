import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openRawFile } from './raw-file.js';
import { firstDiff, makeTempDir } from './test-support.js';

const tmp = makeTempDir('raw-file-test-');
afterAll(() => tmp.remove());

describe('openRawFile', () => {
  it('takes its size from the file and reports data everywhere', () => {
    const p = tmp.path('size.raw');
    writeFileSync(p, new Uint8Array(12345));
    const s = openRawFile(p, { readOnly: true });
    expect(s.size).toBe(12345);
    expect(s.blockStatus(5, 100)).toEqual([{ offset: 5, length: 100, status: 'data' }]);
    expect(s.blockStatus(5, 0)).toEqual([]);
    expect(s.memoryBytes).toBe(0);
    s.close();
  });

  it('refuses writes when read-only and access after close', () => {
    const p = tmp.path('ro.raw');
    writeFileSync(p, new Uint8Array(100));
    const s = openRawFile(p, { readOnly: true });
    expect(() => s.write(0, new Uint8Array(1))).toThrow(/read-only/);
    expect(() => s.writeZeroes(0, 1)).toThrow(/read-only/);
    expect(() => s.read(99, 2)).toThrow(RangeError);
    s.close();
    expect(() => s.read(0, 1)).toThrow(/closed/);
  });

  it('matches a Uint8Array model on disk under random writes, zeroes and discards', () => {
    const SIZE = 70000;
    const op = fc.record({
      kind: fc.constantFrom('write', 'zero', 'discard'),
      offset: fc.nat(SIZE - 1),
      length: fc.nat(5000),
      fill: fc.integer({ min: 1, max: 255 }),
    });
    let run = 0;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const p = tmp.path(`model-${run++}.raw`);
        const initial = new Uint8Array(SIZE).map((_, i) => (i * 31) & 0xff);
        writeFileSync(p, initial);
        const model = initial.slice();
        const s = openRawFile(p, { readOnly: false });
        for (const o of ops) {
          const length = Math.min(o.length, SIZE - o.offset);
          if (o.kind === 'write') {
            const data = new Uint8Array(length).fill(o.fill);
            s.write(o.offset, data);
            model.set(data, o.offset);
          } else {
            if (o.kind === 'zero') s.writeZeroes(o.offset, length);
            else s.discard(o.offset, length);
            model.fill(0, o.offset, o.offset + length);
          }
        }
        expect(firstDiff(s.read(0, SIZE), model)).toBe(-1);
        s.close();
        expect(firstDiff(new Uint8Array(readFileSync(p)), model)).toBe(-1);
      }),
      { numRuns: 40 },
    );
  });
});
