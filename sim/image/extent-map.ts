import type { AllocStatus, Extent } from './types.js';

/** Only allocated kinds are stored; a gap between extents means 'unallocated'. */
type StoredKind = Exclude<AllocStatus, 'unallocated'>;

/**
 * A run of sorted extents. Splitting the sorted list into bounded chunks keeps each
 * insert/delete a small memmove (O(CHUNK)) instead of O(total extents), which matters
 * once random writes have produced hundreds of thousands of extents.
 */
interface Chunk {
  starts: number[];
  ends: number[];
  kinds: StoredKind[];
}

const CHUNK_MAX = 512;
const CHUNK_MIN = CHUNK_MAX / 4;

interface Pos {
  c: number;
  i: number;
}

/**
 * Sorted, non-overlapping, coalesced map of byte ranges to 'data' | 'zero'.
 * Memory is proportional to the number of distinct runs, not to the covered size,
 * so a 1 TiB disk with a few writes costs a few extents.
 */
export class ExtentMap {
  private chunks: Chunk[] = [];
  private count = 0;

  /** number of stored (allocated) extents */
  get extentCount(): number {
    return this.count;
  }

  /** Marks [offset, offset+length) with status; 'unallocated' removes what was there. */
  set(offset: number, length: number, status: AllocStatus): void {
    if (length <= 0) return;
    const start = offset;
    const end = offset + length;
    // Extents that overlap or merely touch the range are rewritten, so equal neighbours coalesce.
    const first = this.firstEndingAtOrAfter(start);
    let k = 0;
    let lastPos: Pos | undefined;
    for (let p: Pos | undefined = this.valid(first); p !== undefined; p = this.next(p)) {
      const ch = this.chunk(p);
      if (ch.starts[p.i] > end) break;
      lastPos = p;
      k++;
    }
    const out: Array<[number, number, StoredKind]> = [];
    let newStart = start;
    let newEnd = end;
    let rightRemainder: [number, number, StoredKind] | undefined;
    if (k > 0 && lastPos !== undefined) {
      const a = this.chunk(first);
      const aStart = a.starts[first.i];
      const aKind = a.kinds[first.i];
      if (aStart < start) {
        if (aKind === status) newStart = aStart;
        else out.push([aStart, start, aKind]);
      }
      const b = this.chunk(lastPos);
      const bEnd = b.ends[lastPos.i];
      const bKind = b.kinds[lastPos.i];
      if (bEnd > end) {
        if (bKind === status) newEnd = bEnd;
        else rightRemainder = [end, bEnd, bKind];
      }
    }
    if (status !== 'unallocated') out.push([newStart, newEnd, status]);
    if (rightRemainder !== undefined) out.push(rightRemainder);
    this.replace(first, k, out);
  }

  /** Status of every byte of [offset, offset+length), gaps reported as 'unallocated'. */
  query(offset: number, length: number): Extent[] {
    const result: Extent[] = [];
    if (length <= 0) return result;
    const end = offset + length;
    let cursor = offset;
    for (let p: Pos | undefined = this.firstEndingAfter(offset); p !== undefined; p = this.next(p)) {
      const ch = this.chunk(p);
      const s = ch.starts[p.i];
      if (s >= end) break;
      const clippedStart = Math.max(s, offset);
      if (clippedStart > cursor) pushExtent(result, cursor, clippedStart, 'unallocated');
      const clippedEnd = Math.min(ch.ends[p.i], end);
      pushExtent(result, clippedStart, clippedEnd, ch.kinds[p.i]);
      cursor = clippedEnd;
    }
    if (cursor < end) pushExtent(result, cursor, end, 'unallocated');
    return result;
  }

  /** All stored extents in order (for tests and debugging). */
  *extents(): IterableIterator<Extent> {
    for (const ch of this.chunks) {
      for (let i = 0; i < ch.starts.length; i++) {
        yield { offset: ch.starts[i], length: ch.ends[i] - ch.starts[i], status: ch.kinds[i] };
      }
    }
  }

  /** Checks structural invariants; throws on violation. Used by tests. */
  assertValid(): void {
    let prevEnd = Number.NEGATIVE_INFINITY;
    let prevKind: StoredKind | undefined;
    let n = 0;
    for (const ch of this.chunks) {
      if (ch.starts.length === 0) throw new Error('empty chunk');
      if (ch.starts.length > CHUNK_MAX) throw new Error('oversized chunk');
      for (let i = 0; i < ch.starts.length; i++) {
        const s = ch.starts[i];
        if (s >= ch.ends[i]) throw new Error(`empty extent at ${s}`);
        if (s < prevEnd) throw new Error(`overlap at ${s}`);
        if (s === prevEnd && ch.kinds[i] === prevKind) throw new Error(`uncoalesced at ${s}`);
        prevEnd = ch.ends[i];
        prevKind = ch.kinds[i];
        n++;
      }
    }
    if (n !== this.count) throw new Error(`count ${this.count} != ${n}`);
  }

  private chunk(p: Pos): Chunk {
    return this.chunks[p.c];
  }

  private next(p: Pos): Pos | undefined {
    if (p.i + 1 < this.chunks[p.c].starts.length) return { c: p.c, i: p.i + 1 };
    return p.c + 1 < this.chunks.length ? { c: p.c + 1, i: 0 } : undefined;
  }

  /** First extent with end >= x (touching counts); past-the-end position if none. */
  private firstEndingAtOrAfter(x: number): Pos {
    return this.lowerBound((end) => end >= x);
  }

  private firstEndingAfter(x: number): Pos | undefined {
    return this.valid(this.lowerBound((end) => end > x));
  }

  /** lowerBound may return the append position, which names no extent. */
  private valid(p: Pos): Pos | undefined {
    return p.c < this.chunks.length && p.i < this.chunks[p.c].starts.length ? p : undefined;
  }

  /** Binary search over chunks then within the chunk; ends are increasing so pred is monotone. */
  private lowerBound(pred: (end: number) => boolean): Pos {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const ends = chunks[mid].ends;
      if (pred(ends[ends.length - 1])) hi = mid;
      else lo = mid + 1;
    }
    if (lo === chunks.length) {
      // After everything: append position in the last chunk.
      return chunks.length === 0 ? { c: 0, i: 0 } : { c: lo - 1, i: chunks[lo - 1].starts.length };
    }
    const ends = chunks[lo].ends;
    let a = 0;
    let b = ends.length - 1;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (pred(ends[mid])) b = mid;
      else a = mid + 1;
    }
    return { c: lo, i: a };
  }

  /** Removes k extents starting at pos and inserts items there, keeping chunks bounded. */
  private replace(pos: Pos, k: number, items: Array<[number, number, StoredKind]>): void {
    if (this.chunks.length === 0) this.chunks.push({ starts: [], ends: [], kinds: [] });
    const ch = this.chunks[pos.c];
    const inFirst = Math.min(k, ch.starts.length - pos.i);
    let rest = k - inFirst;
    const s = items.map((x) => x[0]);
    const e = items.map((x) => x[1]);
    const kd = items.map((x) => x[2]);
    ch.starts.splice(pos.i, inFirst, ...s);
    ch.ends.splice(pos.i, inFirst, ...e);
    ch.kinds.splice(pos.i, inFirst, ...kd);
    // A large range can swallow whole following chunks.
    const c = pos.c + 1;
    while (rest > 0) {
      const nxt = this.chunks[c];
      if (nxt.starts.length <= rest) {
        rest -= nxt.starts.length;
        this.chunks.splice(c, 1);
      } else {
        nxt.starts.splice(0, rest);
        nxt.ends.splice(0, rest);
        nxt.kinds.splice(0, rest);
        rest = 0;
      }
    }
    this.count += items.length - k;
    this.rebalance(pos.c);
  }

  private rebalance(c: number): void {
    const ch = this.chunks[c];
    if (ch.starts.length > CHUNK_MAX) {
      const half = ch.starts.length >>> 1;
      const tail: Chunk = {
        starts: ch.starts.splice(half),
        ends: ch.ends.splice(half),
        kinds: ch.kinds.splice(half),
      };
      this.chunks.splice(c + 1, 0, tail);
      return;
    }
    if (ch.starts.length === 0) {
      this.chunks.splice(c, 1);
      return;
    }
    // Merge small neighbours so the chunk count stays ~ count / CHUNK_MIN.
    const nxt = this.chunks[c + 1];
    if (
      ch.starts.length < CHUNK_MIN &&
      nxt !== undefined &&
      ch.starts.length + nxt.starts.length <= CHUNK_MAX
    ) {
      ch.starts.push(...nxt.starts);
      ch.ends.push(...nxt.ends);
      ch.kinds.push(...nxt.kinds);
      this.chunks.splice(c + 1, 1);
    }
  }
}

/** [s, e) of `status` at the end of `result`, joined to the last extent when it continues it */
function pushExtent(result: Extent[], s: number, e: number, status: AllocStatus): void {
  const last = result[result.length - 1];
  if (last !== undefined && last.status === status && last.offset + last.length === s) {
    last.length += e - s;
  } else {
    result.push({ offset: s, length: e - s, status });
  }
}
