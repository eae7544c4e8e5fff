/**
 * Memory/time micro-benchmark for sparse in-memory disks.
 *
 * Run with `node --expose-gc bin/fleece-lab.js bench-memory [pageSize] [pattern|random] [writes]`.
 * Without --expose-gc the heap numbers include garbage not yet collected and are only indicative.
 */
import { createMemoryStore } from './memory-store.js';
import { randInt, xorshift } from './prng.js';
import type { ImageStore } from './types.js';

export interface BenchOptions {
  disks?: number;
  size?: number;
  writes?: number;
  seed?: number;
  /** bytes per write, written at multiples of itself */
  writeSize?: number;
  pageSize?: number;
  /** 'pattern': each write is one repeated byte (qemu-io -P style); 'random': incompressible bytes */
  content?: 'pattern' | 'random';
}

export interface BenchResult {
  /** heapUsed growth from before creating the disks to after the writes (after gc when exposed) */
  heapUsedBytes: number;
  /** ArrayBuffer backing stores (off-heap page slabs) growth over the same span */
  arrayBuffersBytes: number;
  /** what the stores themselves report as held for data */
  storeMemoryBytes: number;
  /** time spent inside store.write calls only */
  ms: number;
  gcExposed: boolean;
  extentsPerDisk: number;
}

export function benchSparseWrites(options: BenchOptions = {}): BenchResult {
  const {
    disks = 16,
    size = 2 ** 40,
    writes = 100_000,
    seed = 1,
    writeSize = 4096,
    pageSize = 4096,
  } = options;
  const content = options.content ?? 'pattern';
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const stores: ImageStore[] = [];
  for (let i = 0; i < disks; i++) stores.push(createMemoryStore(size, { pageSize }));
  const rand = xorshift(seed);
  const buf = new Uint8Array(writeSize);
  const words = new Uint32Array(buf.buffer, 0, Math.floor(writeSize / 4));
  const slots = Math.floor(size / writeSize);
  let ms = 0;
  for (let w = 0; w < writes; w++) {
    const disk = stores[randInt(rand, 0, disks)];
    const offset = randInt(rand, 0, slots) * writeSize;
    if (content === 'pattern') buf.fill(randInt(rand, 1, 256));
    else for (let i = 0; i < words.length; i++) words[i] = rand() * 2 ** 32;
    // Time only the store: generating random payloads costs more than storing them.
    const t0 = performance.now();
    disk?.write(offset, buf);
    ms += performance.now() - t0;
  }
  gc?.();
  const after = process.memoryUsage();
  return {
    heapUsedBytes: after.heapUsed - before.heapUsed,
    arrayBuffersBytes: after.arrayBuffers - before.arrayBuffers,
    storeMemoryBytes: stores.reduce((sum, s) => sum + s.memoryBytes, 0),
    ms,
    gcExposed: gc !== undefined,
    // Keeps the stores reachable until after the measurement.
    extentsPerDisk: stores.reduce((sum, s) => sum + s.blockStatus(0, size).length, 0) / disks,
  };
}
