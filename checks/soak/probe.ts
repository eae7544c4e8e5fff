/**
 * Samples for the soak runs (open files, memory) and the arithmetic that says whether a series is flat,
 * plus the position-dependent data pattern the disks are filled with.
 */
import fs from 'node:fs';

/** open file descriptors of a process (Linux /proc) */
export function fdCount(pid: number | 'self' = 'self'): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** open sockets of a process: fds whose link reads socket:[inode] */
export function socketCount(pid: number | 'self' = 'self'): number {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

/** resident set size in KiB (VmRSS of /proc/PID/status) */
export function rssKiB(pid: number | 'self' = 'self'): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

const gc = (globalThis as { gc?: () => void }).gc;
export const haveGc = gc !== undefined;

/** heap used after a full collection (KiB); without --expose-gc, as it is */
export function heapUsedKiB(): number {
  gc?.();
  return Math.round(process.memoryUsage().heapUsed / 1024);
}

/** least-squares slope of y over x */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export interface SeriesSummary {
  unit: string;
  first: number;
  last: number;
  min: number;
  max: number;
  /** least-squares slope over the second half of the samples, per cycle */
  slopeSecondHalf: number;
  /**
   * growth of the floor, per cycle: min of the last quarter of the samples minus min of the second quarter,
   * over the cycles between them. A leak raises the floor; an allocator that grows and later gives back
   * memory in steps (node's RSS moves in ~10 MB steps with V8's heap sizing) does not.
   */
  floorPerCycle: number;
  /** the bound the judged statistic must stay under */
  bound: number;
  /** which statistic is judged against the bound */
  judged: 'slope' | 'floor';
  flat: boolean;
}

/** first/last/min/max and the slope over the second half (per cycle), judged against `bound` */
export function summarize(
  cycles: readonly number[],
  values: readonly number[],
  unit: string,
  bound: number,
  judged: 'slope' | 'floor' = 'slope',
): SeriesSummary {
  const n = values.length;
  const half = Math.floor(n / 2);
  const s = slope(cycles.slice(half), values.slice(half));
  const q = Math.max(1, Math.floor(n / 4));
  const second = values.slice(q, 2 * q);
  const lastQ = values.slice(n - q);
  const span = (cycles[n - 1] ?? 0) - (cycles[Math.min(2 * q, n) - 1] ?? 0);
  const floor =
    second.length && lastQ.length && span > 0 ? (Math.min(...lastQ) - Math.min(...second)) / span : 0;
  const stat = judged === 'slope' ? s : floor;
  return {
    unit,
    first: values[0],
    last: values[n - 1],
    min: Math.min(...values),
    max: Math.max(...values),
    slopeSecondHalf: Math.round(s * 1000) / 1000,
    floorPerCycle: Math.round(floor * 1000) / 1000,
    bound,
    judged,
    flat: stat <= bound,
  };
}

/**
 * The data pattern: every 8-byte word holds its own offset (u32 LE, /8) and a mix of offset and seed, so a
 * block read from the wrong place, an old/new mix-up or a shifted byte is always seen.
 */
export function fillPattern(buf: Buffer, offset: number, seed: number): Buffer {
  if (offset % 8 !== 0 || buf.length % 8 !== 0) throw new RangeError('pattern: 8-byte aligned only');
  for (let i = 0; i < buf.length; i += 8) {
    const w = (offset + i) / 8;
    buf.writeUInt32LE(w >>> 0, i);
    buf.writeUInt32LE((Math.imul(w, 0x9e3779b1) ^ Math.imul(seed + 1, 0x85ebca6b)) >>> 0, i + 4);
  }
  return buf;
}

export function pattern(offset: number, length: number, seed: number): Buffer {
  return fillPattern(Buffer.alloc(length), offset, seed);
}

/** where two buffers first differ, or -1 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** a deterministic generator (mulberry32) for offsets, sizes and orders */
export function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** cut [0, size) into pieces of 512 B .. maxPiece (multiples of 512), in random order */
export function randomPieces(size: number, maxPiece: number, rand: () => number): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off < size; ) {
    const len = Math.min(size - off, 512 * (1 + Math.floor(rand() * (maxPiece / 512))));
    out.push([off, len]);
    off += len;
  }
  return shuffle(out, rand);
}
