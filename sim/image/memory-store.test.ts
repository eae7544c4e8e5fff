import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from './memory-store.js';
import { SparsePages } from './sparse-pages.js';
import { firstDiff } from './test-support.js';
import type { AllocStatus, Extent } from './types.js';

type Op =
  | { kind: 'write'; offset: number; data: Uint8Array }
  | { kind: 'zero' | 'discard' | 'read' | 'status'; offset: number; length: number };

/** Random ops within [0, size): unaligned offsets, lengths crossing page boundaries, uniform and mixed data. */
function opArb(size: number): fc.Arbitrary<Op> {
  const range = fc
    .tuple(fc.nat(size - 1), fc.nat(3 * 1024))
    .map(([offset, len]) => ({ offset, length: Math.min(len, size - offset) }));
  const data = fc.oneof(
    fc.tuple(fc.nat(3 * 1024), fc.nat(255)).map(([n, b]) => new Uint8Array(n).fill(b)),
    fc.uint8Array({ maxLength: 3 * 1024 }),
  );
  return fc.oneof(
    fc
      .tuple(fc.nat(size - 1), data)
      .map(([offset, d]): Op => ({ kind: 'write', offset, data: d.subarray(0, size - offset) })),
    range.map((r): Op => ({ kind: 'zero', ...r })),
    range.map((r): Op => ({ kind: 'discard', ...r })),
    range.map((r): Op => ({ kind: 'read', ...r })),
    range.map((r): Op => ({ kind: 'status', ...r })),
  );
}

function modelStatus(status: AllocStatus[], offset: number, length: number): Extent[] {
  const out: Extent[] = [];
  for (let i = offset; i < offset + length; i++) {
    const last = out[out.length - 1];
    if (last !== undefined && last.status === status[i]) last.length++;
    else out.push({ offset: i, length: 1, status: status[i] });
  }
  return out;
}

describe('SparsePages', () => {
  it('stores uniform pages without slab memory and reads them back', () => {
    const p = new SparsePages(4096);
    p.write(8192, new Uint8Array(4096).fill(0xab));
    expect(p.memoryBytes).toBe(0);
    expect(p.pageCount).toBe(1);
    expect(p.read(8190, 4).toString()).toBe([0, 0, 0xab, 0xab].toString());
  });

  it('materialises a uniform page on a partial write and folds it back when uniform again', () => {
    const p = new SparsePages(4096);
    p.write(0, new Uint8Array(4096).fill(7));
    p.write(100, new Uint8Array([1, 2, 3]));
    expect(p.memoryBytes).toBe(1 << 20);
    expect([...p.read(99, 5)]).toEqual([7, 1, 2, 3, 7]);
    p.write(100, new Uint8Array([7, 7, 7]));
    p.zero(0, 4096);
    expect(p.pageCount).toBe(0);
  });

  it('drops whole pages of a huge zeroed range by walking the map', () => {
    const p = new SparsePages(4096);
    for (let i = 0; i < 10; i++) p.write(i * 2 ** 30 + 5, new Uint8Array([1, 2]));
    p.zero(3, 2 ** 40 - 3);
    expect(p.pageCount).toBe(0);
  });

  it('rejects bad page sizes', () => {
    expect(() => new SparsePages(1000)).toThrow(RangeError);
  });
});

describe('createMemoryStore', () => {
  it('reads zeroes and reports unallocated before any write', () => {
    const s = createMemoryStore(2 ** 40);
    expect(s.read(2 ** 40 - 10, 10)).toEqual(new Uint8Array(10));
    expect(s.blockStatus(0, 2 ** 40)).toEqual([{ offset: 0, length: 2 ** 40, status: 'unallocated' }]);
    expect(s.memoryBytes).toBe(0);
  });

  it('rejects out-of-range requests and use after close', () => {
    const s = createMemoryStore(1024);
    expect(() => s.read(1000, 100)).toThrow(RangeError);
    expect(() => s.write(-1, new Uint8Array(1))).toThrow(RangeError);
    s.close();
    expect(() => s.read(0, 1)).toThrow(/closed/);
    expect(s.memoryBytes).toBe(0);
  });

  for (const pageSize of [512, 4096, 65536]) {
    it(`behaves like a Uint8Array plus status array (page size ${pageSize})`, () => {
      const SIZE = 20000;
      fc.assert(
        fc.property(fc.array(opArb(SIZE), { maxLength: 60 }), (ops) => {
          const store = createMemoryStore(SIZE, { pageSize });
          const bytes = new Uint8Array(SIZE);
          const status = new Array<AllocStatus>(SIZE).fill('unallocated');
          for (const op of ops) {
            switch (op.kind) {
              case 'write':
                store.write(op.offset, op.data);
                bytes.set(op.data, op.offset);
                status.fill('data', op.offset, op.offset + op.data.length);
                break;
              case 'zero':
                store.writeZeroes(op.offset, op.length);
                bytes.fill(0, op.offset, op.offset + op.length);
                status.fill('zero', op.offset, op.offset + op.length);
                break;
              case 'discard':
                store.discard(op.offset, op.length);
                bytes.fill(0, op.offset, op.offset + op.length);
                status.fill('unallocated', op.offset, op.offset + op.length);
                break;
              case 'read':
                expect(
                  firstDiff(
                    store.read(op.offset, op.length),
                    bytes.subarray(op.offset, op.offset + op.length),
                  ),
                ).toBe(-1);
                break;
              case 'status':
                expect(store.blockStatus(op.offset, op.length)).toEqual(
                  modelStatus(status, op.offset, op.length),
                );
                break;
            }
          }
          expect(firstDiff(store.read(0, SIZE), bytes)).toBe(-1);
          expect(store.blockStatus(0, SIZE)).toEqual(modelStatus(status, 0, SIZE));
        }),
        { numRuns: 150 },
      );
    });
  }
});
