import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createQcow2, openQcow2 } from './qcow2.js';
import { Qcow2Model } from './qcow2-test-model.js';
import { firstDiff, hasQemu, makeTempDir, qemuCheck } from './test-support.js';

const tmp = makeTempDir('qcow2-test-');
afterAll(() => tmp.remove());

type Op = { kind: 'write' | 'zero' | 'discard'; offset: number; length: number; fill: number };

function opsArb(size: number, cs: number): fc.Arbitrary<Op[]> {
  // Bias offsets and lengths towards cluster boundaries so whole-cluster paths are exercised too.
  const pos = fc.oneof(
    fc.nat(size - 1),
    fc.nat(Math.floor((size - 1) / cs)).map((c) => c * cs),
  );
  const len = fc.oneof(
    fc.nat(3 * cs),
    fc.integer({ min: 1, max: 3 }).map((k) => k * cs),
  );
  const op = fc.record({
    kind: fc.constantFrom<Op['kind']>('write', 'write', 'zero', 'discard'),
    offset: pos,
    length: len,
    fill: fc.integer({ min: 1, max: 255 }),
  });
  return fc
    .array(op, { maxLength: 25 })
    .map((ops) => ops.map((o) => ({ ...o, length: Math.min(o.length, size - o.offset) })));
}

describe('qcow2 store against a cluster-level model', () => {
  for (const cs of [512, 4096]) {
    for (const withBacking of [false, true]) {
      it(`cluster ${cs}, ${withBacking ? 'with' : 'without'} backing COW source`, () => {
        // Odd size: the last cluster is partial, covering the "whole cluster up to size" rule.
        const size = 9 * cs + 1536;
        const backing = new Uint8Array(size).map((_, i) => 1 + ((i * 13) % 251));
        let runNo = 0;
        fc.assert(
          fc.property(opsArb(size, cs), (ops) => {
            const path = tmp.path(`prop-${cs}-${withBacking}-${runNo++}.qcow2`);
            createQcow2(path, { size, clusterSize: cs });
            const img = openQcow2(path, {
              readOnly: false,
              backingRead: withBacking ? (o, l) => backing.slice(o, o + l) : undefined,
            });
            const model = new Qcow2Model(size, cs, withBacking ? backing : undefined);
            for (const o of ops) {
              if (o.kind === 'write') {
                const data = new Uint8Array(o.length).fill(o.fill);
                img.write(o.offset, data);
                model.write(o.offset, data);
              } else if (o.kind === 'zero') {
                img.writeZeroes(o.offset, o.length);
                model.writeZeroes(o.offset, o.length);
              } else {
                img.discard(o.offset, o.length);
                model.discard(o.offset, o.length);
              }
            }
            expect(firstDiff(img.read(0, size), model.bytes)).toBe(-1);
            expect(img.blockStatus(0, size)).toEqual(model.status(0, size));
            img.close();
            // Everything must be on disk: a fresh open sees the same image.
            const again = openQcow2(path, { readOnly: true });
            expect(firstDiff(again.read(0, size), model.bytes)).toBe(-1);
            expect(again.blockStatus(3, size - 3)).toEqual(model.status(3, size - 3));
            again.close();
            if (hasQemu) {
              const { code, report } = qemuCheck(path);
              expect({ code, leaks: report.leaks ?? 0, errors: report['check-errors'] }).toEqual({
                code: 0,
                leaks: 0,
                errors: 0,
              });
            }
          }),
          { numRuns: 25 },
        );
      });
    }
  }

  it('exposes header facts and refuses writes when read-only', () => {
    const path = tmp.path('facts.qcow2');
    createQcow2(path, { size: 2 ** 30, backingFile: 'base.raw', backingFormat: 'raw' });
    const img = openQcow2(path, { readOnly: true });
    expect(img.size).toBe(2 ** 30);
    expect(img.clusterSize).toBe(65536);
    expect(img.version).toBe(3);
    expect(img.backingFile).toBe('base.raw');
    expect(img.backingFormat).toBe('raw');
    expect(img.backingPath).toBe(tmp.path('base.raw'));
    expect(img.memoryBytes).toBe(0);
    expect(() => img.write(0, new Uint8Array(1))).toThrow(/read-only/);
    expect(() => img.discard(0, 65536)).toThrow(/read-only/);
    img.close();
    expect(() => img.read(0, 1)).toThrow(/closed/);
  });

  it('copies the backing into a partially written cluster via setBackingRead', () => {
    const path = tmp.path('cow.qcow2');
    createQcow2(path, { size: 1 << 20, clusterSize: 4096 });
    const img = openQcow2(path, { readOnly: false });
    img.setBackingRead((o, l) => new Uint8Array(l).fill(o === 4096 ? 0xbb : 0xcc));
    img.write(4096 + 10, new Uint8Array([1, 2]));
    const got = img.read(4096, 4096);
    expect([got[9], got[10], got[11], got[12], got[4095]]).toEqual([0xbb, 1, 2, 0xbb, 0xbb]);
    img.close();
  });

  it('reads and writes a large sparse image without touching unallocated L2 ranges', () => {
    const path = tmp.path('big.qcow2');
    const size = 2 ** 40;
    createQcow2(path, { size });
    const img = openQcow2(path, { readOnly: false });
    img.write(size - 5, new Uint8Array([9, 9, 9, 9, 9]));
    img.writeZeroes(2 ** 39, 65536);
    const st = img.blockStatus(0, size);
    expect(st).toEqual([
      { offset: 0, length: 2 ** 39, status: 'unallocated' },
      { offset: 2 ** 39, length: 65536, status: 'zero' },
      { offset: 2 ** 39 + 65536, length: size - 65536 - 2 ** 39 - 65536, status: 'unallocated' },
      { offset: size - 65536, length: 65536, status: 'data' },
    ]);
    img.discard(0, size);
    expect(img.blockStatus(0, size)).toEqual([{ offset: 0, length: size, status: 'unallocated' }]);
    img.close();
    if (hasQemu) expect(qemuCheck(path).code).toBe(0);
  });
});

/** Sets one bit of the big-endian 64-bit incompatible_features field (header offset 72). */
function setIncompatibleBit(path: string, bit: number): void {
  const fd = openSync(path, 'r+');
  const b = new Uint8Array(1);
  const pos = 72 + 7 - Math.floor(bit / 8);
  readSync(fd, b, 0, 1, pos);
  b[0] = (b[0] ?? 0) | (1 << (bit % 8));
  writeSync(fd, b, 0, 1, pos);
  closeSync(fd);
}

describe('qcow2 feature checks at open', () => {
  it('refuses unknown incompatible feature bits, naming them', () => {
    const path = tmp.path('unknown-bit.qcow2');
    createQcow2(path, { size: 1 << 20 });
    setIncompatibleBit(path, 40);
    expect(() => openQcow2(path, { readOnly: true })).toThrow(
      /unsupported incompatible qcow2 features: bit 40/,
    );
  });

  it('refuses extended L2 entries', () => {
    const path = tmp.path('extl2.qcow2');
    createQcow2(path, { size: 1 << 20 });
    setIncompatibleBit(path, 4);
    expect(() => openQcow2(path, { readOnly: true })).toThrow(/extended L2/);
  });

  for (const [bit, what] of [
    [0, /marked dirty/],
    [1, /marked corrupt/],
  ] as const) {
    it(`opens a ${bit === 0 ? 'dirty' : 'corrupt'} image read-only but refuses read-write`, () => {
      const path = tmp.path(`flag-${bit}.qcow2`);
      createQcow2(path, { size: 1 << 20 });
      setIncompatibleBit(path, bit);
      expect(() => openQcow2(path, { readOnly: false })).toThrow(what);
      const img = openQcow2(path, { readOnly: true });
      expect(img.read(0, 3)).toEqual(new Uint8Array(3));
      img.close();
    });
  }

  it('rejects files that are not qcow2', () => {
    const path = tmp.path('not.qcow2');
    const fd = openSync(path, 'w');
    writeSync(fd, new Uint8Array(4096).fill(7));
    closeSync(fd);
    expect(() => openQcow2(path, { readOnly: true })).toThrow(/not a qcow2 image/);
  });
});
