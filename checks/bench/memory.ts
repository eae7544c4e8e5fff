import { createSim } from '../../sim/sim.ts';
import { Rng } from '../../sim/util/rng.ts';

/**
 * Heap held by the simulator for 16 virtual disks of 1 TiB after `writes` random 4 KiB guest writes
 * (pattern-filled, as qemu-io -P writes them), through the block graph.
 */
export function benchSparseDisks(writes: number, seed = 1): { heapBytes: number; ms: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const sim = createSim({ profile: '7.2', flavour: 'system', fs: 'memory', seed });
  const TiB = 2 ** 40;
  const nodes = [];
  for (let d = 0; d < 16; d++) {
    sim.core.fs.createRaw(`disk${d}.raw`, TiB);
    sim.run('blockdev-add', {
      driver: 'raw',
      'node-name': `d${d}`,
      file: { driver: 'file', filename: `disk${d}.raw` },
    });
    nodes.push(sim.core.graph.find(`d${d}`)!);
  }
  const rng = new Rng(seed);
  const t0 = performance.now();
  const buf = new Uint8Array(4096);
  for (let i = 0; i < writes; i++) {
    const node = nodes[rng.int(16)];
    buf.fill(rng.int(256));
    node.write(rng.int(TiB / 4096) * 4096, buf);
  }
  const ms = performance.now() - t0;
  gc?.();
  const after = process.memoryUsage();
  const heapBytes = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  // keep the simulator alive until measured
  if (nodes.length !== 16) throw new Error('unreachable');
  return { heapBytes, ms };
}
