import { describe, expect, it } from 'vitest';
import { createSim } from '../../sim.ts';
import { allocationFlags, bitmapExtents, chainStatus, collect } from './extents.ts';

describe('NBD block-status extents', () => {
  it('merges like flags, caps at 2^32-1 with compact headers, and stops at maxCount', () => {
    const items = [
      { length: 10, flags: 0 },
      { length: 5, flags: 0 },
      { length: 7, flags: 3 },
      { length: 1, flags: 0 },
    ];
    expect(collect(items, { maxCount: 10, extended: false })).toEqual([
      { length: 15, flags: 0 },
      { length: 7, flags: 3 },
      { length: 1, flags: 0 },
    ]);
    expect(collect(items, { maxCount: 1, extended: false })).toEqual([{ length: 15, flags: 0 }]);
    const big = [
      { length: 0xffffffff, flags: 1 },
      { length: 2, flags: 1 },
    ];
    expect(collect(big, { maxCount: 10, extended: false })).toEqual([
      { length: 0xffffffff, flags: 1 },
      { length: 2, flags: 1 },
    ]);
    expect(collect(big, { maxCount: 10, extended: true })).toEqual([{ length: 0x100000001, flags: 1 }]);
  });

  it('clips dirty granules to the asked range', () => {
    const sim = createSim({ profile: '7.2', fs: 'memory', flavour: 'qsd' });
    sim.run('blockdev-add', { driver: 'null-co', 'node-name': 'n', size: 1 << 20 });
    sim.run('block-dirty-bitmap-add', { node: 'n', name: 'b', granularity: 65536 });
    const bm = sim.core.graph.find('n')!.bitmaps.get('b')!;
    bm.mark(70000, 10);
    bm.mark(300000, 1);
    expect([...bitmapExtents(bm, 1000, 400000)]).toEqual([
      { length: 65536 - 1000, flags: 0 },
      { length: 65536, flags: 1 },
      { length: 262144 - 131072, flags: 0 },
      { length: 65536, flags: 1 },
      { length: 401000 - 327680, flags: 0 },
    ]);
    expect([...bitmapExtents(undefined, 0, 512)]).toEqual([{ length: 512, flags: 0 }]);
  });

  it('walks a qcow2 chain for allocation and depth, and reads past the end as zeroes', () => {
    const sim = createSim({ profile: '7.2', fs: 'memory', flavour: 'qsd' });
    sim.core.fs.createQcow2('base.qcow2', { size: 1 << 20, clusterSize: 65536 });
    sim.core.fs.createQcow2('top.qcow2', {
      size: 1 << 20,
      clusterSize: 65536,
      backingFile: 'base.qcow2',
      backingFormat: 'qcow2',
    });
    sim.run('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'top',
      file: { driver: 'file', filename: 'top.qcow2' },
    });
    const top = sim.core.graph.find('top')!;
    top.backing!.write(0, new Uint8Array(65536).fill(1));
    top.write(65536, new Uint8Array(65536).fill(2));
    const ext = chainStatus(top, 0, (1 << 20) + 512).map((e) => [
      e.offset,
      e.length,
      allocationFlags(e),
      e.depth,
    ]);
    expect(ext).toEqual([
      [0, 65536, 0, 2],
      [65536, 65536, 0, 1],
      [131072, (1 << 20) - 131072, 3, 0],
      [1 << 20, 512, 3, 1],
    ]);
  });
});
