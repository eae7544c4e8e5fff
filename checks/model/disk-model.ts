/**
 * What each guest disk holds, as a history: an initial fill and a list of pattern writes. "Version v" is the
 * disk after the first v writes, so a point in time is a version, and a read can be matched against versions.
 */
export interface PatternWrite {
  disk: string;
  offset: number;
  length: number;
  pattern: number;
}

export class DiskHistory {
  readonly writes: PatternWrite[] = [];
  /** the expected bytes of consistentVersions, reused from call to call (reads are as large as a disk) */
  private scratch = Buffer.alloc(0);
  constructor(readonly initial: Record<string, number>) {}

  get version(): number {
    return this.writes.length;
  }

  record(w: PatternWrite): void {
    this.writes.push(w);
  }

  /** The expected bytes of [offset, offset+length) of `disk` at version `v`. */
  bytes(disk: string, v: number, offset: number, length: number): Uint8Array {
    return this.fill(new Uint8Array(length), disk, v, offset);
  }

  private fill<T extends Uint8Array>(out: T, disk: string, v: number, offset: number): T {
    const length = out.length;
    out.fill(this.initial[disk]);
    for (let i = 0; i < v; i++) {
      const w = this.writes[i];
      if (w.disk !== disk) continue;
      const s = Math.max(w.offset, offset);
      const e = Math.min(w.offset + w.length, offset + length);
      if (s < e) out.fill(w.pattern, s - offset, e - offset);
    }
    return out;
  }

  /**
   * Versions in [from, to] at which `disk` read `data` at `offset`. From one version to the next the expected
   * bytes change by one write at most, and only when it touches this range: the bytes are compared again
   * (natively) only then.
   */
  consistentVersions(disk: string, offset: number, data: Uint8Array, from: number, to: number): Set<number> {
    const out = new Set<number>();
    if (this.scratch.length < data.length) this.scratch = Buffer.allocUnsafe(data.length);
    const want = this.fill(this.scratch.subarray(0, data.length), disk, from, offset);
    const got = Buffer.from(data.buffer, data.byteOffset, data.length);
    let fits = want.equals(got);
    if (fits) out.add(from);
    for (let v = from + 1; v <= to; v++) {
      const w = this.writes[v - 1];
      if (w.disk === disk) {
        const s = Math.max(w.offset, offset) - offset;
        const e = Math.min(w.offset + w.length, offset + data.length) - offset;
        if (s < e) {
          want.fill(w.pattern, s, e);
          fits = want.equals(got);
        }
      }
      if (fits) out.add(v);
    }
    return out;
  }
}

/** First offset where two buffers differ, for messages. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  // the usual answer, "none", from one native compare
  if (a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)) return n;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
