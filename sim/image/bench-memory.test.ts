import { describe, expect, it } from 'vitest';
import { benchSparseWrites } from './bench-memory.js';

describe('benchSparseWrites', () => {
  it('stores pattern writes without page slabs and reports timings', () => {
    const r = benchSparseWrites({ disks: 2, size: 2 ** 40, writes: 2000, seed: 7 });
    expect(r.storeMemoryBytes).toBe(0);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.extentsPerDisk).toBeGreaterThan(1000);
  });

  it('holds random payloads in slabs sized to the data', () => {
    const r = benchSparseWrites({ disks: 2, size: 2 ** 30, writes: 1000, seed: 7, content: 'random' });
    // 1000 x 4 KiB pages, plus at most one partly used 1 MiB slab per disk.
    expect(r.storeMemoryBytes).toBeGreaterThanOrEqual(1000 * 4096);
    expect(r.storeMemoryBytes).toBeLessThanOrEqual(1000 * 4096 + 2 * 2 ** 20);
  });
});
