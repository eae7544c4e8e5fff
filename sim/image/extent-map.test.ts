import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExtentMap } from './extent-map.js';
import type { AllocStatus, Extent } from './types.js';

/** Per-byte reference: the obvious model the extent map must agree with. */
function modelQuery(model: AllocStatus[], offset: number, length: number): Extent[] {
  const out: Extent[] = [];
  for (let i = offset; i < offset + length; i++) {
    const last = out[out.length - 1];
    if (last !== undefined && last.status === model[i]) last.length++;
    else out.push({ offset: i, length: 1, status: model[i] });
  }
  return out;
}

describe('ExtentMap', () => {
  it('reports an empty map as one unallocated extent', () => {
    const m = new ExtentMap();
    expect(m.query(10, 100)).toEqual([{ offset: 10, length: 100, status: 'unallocated' }]);
    expect(m.query(0, 0)).toEqual([]);
  });

  it('coalesces adjacent ranges of the same status', () => {
    const m = new ExtentMap();
    m.set(0, 10, 'data');
    m.set(10, 10, 'data');
    m.set(30, 10, 'data');
    m.set(20, 10, 'data');
    expect([...m.extents()]).toEqual([{ offset: 0, length: 40, status: 'data' }]);
  });

  it('splits an extent when a different status lands in its middle', () => {
    const m = new ExtentMap();
    m.set(0, 100, 'data');
    m.set(40, 20, 'zero');
    expect([...m.extents()]).toEqual([
      { offset: 0, length: 40, status: 'data' },
      { offset: 40, length: 20, status: 'zero' },
      { offset: 60, length: 40, status: 'data' },
    ]);
    m.set(50, 5, 'unallocated');
    expect(m.query(0, 100).map((e) => e.status)).toEqual(['data', 'zero', 'unallocated', 'zero', 'data']);
    m.assertValid();
  });

  it('clips query results to the requested range', () => {
    const m = new ExtentMap();
    m.set(100, 100, 'zero');
    expect(m.query(150, 100)).toEqual([
      { offset: 150, length: 50, status: 'zero' },
      { offset: 200, length: 50, status: 'unallocated' },
    ]);
  });

  it('handles offsets of a 1 TiB disk', () => {
    const m = new ExtentMap();
    const tib = 2 ** 40;
    m.set(tib - 4096, 4096, 'data');
    m.set(2 ** 39 + 1, 3, 'zero');
    expect(m.query(0, tib)).toEqual([
      { offset: 0, length: 2 ** 39 + 1, status: 'unallocated' },
      { offset: 2 ** 39 + 1, length: 3, status: 'zero' },
      { offset: 2 ** 39 + 4, length: tib - 4096 - (2 ** 39 + 4), status: 'unallocated' },
      { offset: tib - 4096, length: 4096, status: 'data' },
    ]);
  });

  it('stays valid across chunk splits and a range that swallows many chunks', () => {
    const m = new ExtentMap();
    for (let i = 0; i < 5000; i++) m.set(i * 10, 5, i % 2 === 0 ? 'data' : 'zero');
    m.assertValid();
    expect(m.extentCount).toBe(5000);
    m.set(1003, 30000, 'unallocated');
    m.assertValid();
    expect(m.query(1000, 10).map((e) => e.status)).toEqual(['data', 'unallocated']);
    expect(m.query(31000, 20).map((e) => e.status)).toEqual([
      'unallocated',
      'data',
      'unallocated',
      'zero',
      'unallocated',
    ]);
    m.set(0, 60000, 'data');
    m.assertValid();
    expect(m.extentCount).toBe(1);
  });

  it('agrees with a per-byte model under random operations', () => {
    const SIZE = 300;
    const op = fc.record({
      offset: fc.integer({ min: 0, max: SIZE - 1 }),
      length: fc.integer({ min: 0, max: 80 }),
      status: fc.constantFrom<AllocStatus>('data', 'zero', 'unallocated'),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.nat(SIZE - 1), (ops, q) => {
        const m = new ExtentMap();
        const model = new Array<AllocStatus>(SIZE).fill('unallocated');
        for (const { offset, length: len, status } of ops) {
          const length = Math.min(len, SIZE - offset);
          m.set(offset, length, status);
          model.fill(status, offset, offset + length);
        }
        m.assertValid();
        expect(m.query(0, SIZE)).toEqual(modelQuery(model, 0, SIZE));
        expect(m.query(q, SIZE - q)).toEqual(modelQuery(model, q, SIZE - q));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the model when many small extents force chunking', () => {
    const SIZE = 20000;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(SIZE - 1), fc.integer({ min: 1, max: 40 }), fc.nat(2)), {
          minLength: 1500,
          maxLength: 3000,
        }),
        (ops) => {
          const m = new ExtentMap();
          const model = new Array<AllocStatus>(SIZE).fill('unallocated');
          const statuses: AllocStatus[] = ['data', 'zero', 'unallocated'];
          for (const [offset, len, s] of ops) {
            const length = Math.min(len, SIZE - offset);
            m.set(offset, length, statuses[s]);
            model.fill(statuses[s], offset, offset + length);
          }
          m.assertValid();
          expect(m.query(0, SIZE)).toEqual(modelQuery(model, 0, SIZE));
        },
      ),
      { numRuns: 10 },
    );
  });
});
