/**
 * Reference model of the qcow2 store's semantics at cluster granularity, kept free of any
 * on-disk detail so tests can compare the real store (and qemu's view of the file) against it.
 */
import type { AllocStatus, Extent } from './types.js';

type Kind = 'u' | 'z' | 'd';

export class Qcow2Model {
  /** this layer's bytes: zeroes wherever the cluster is not 'data' */
  readonly bytes: Uint8Array;
  private readonly kinds: Kind[];

  constructor(
    readonly size: number,
    readonly clusterSize: number,
    private readonly backing: Uint8Array | undefined,
    private readonly zeroFlag = true,
  ) {
    this.bytes = new Uint8Array(size);
    this.kinds = new Array<Kind>(Math.ceil(size / clusterSize)).fill('u');
  }

  write(offset: number, data: Uint8Array): void {
    this.eachCluster(offset, data.length, (c, start, span, whole) => {
      if (this.kinds[c] === 'u' && !whole && this.backing !== undefined) {
        this.bytes.set(this.backing.subarray(start, start + span), start);
      }
      this.kinds[c] = 'd';
    });
    this.bytes.set(data, offset);
  }

  writeZeroes(offset: number, length: number): void {
    this.eachCluster(offset, length, (c, start, span, whole, from, to) => {
      if (whole && this.zeroFlag) {
        this.kinds[c] = 'z';
        this.bytes.fill(0, start, start + span);
      } else if (this.kinds[c] !== 'z') {
        this.write(from, new Uint8Array(to - from));
      }
    });
  }

  discard(offset: number, length: number): void {
    this.eachCluster(offset, length, (c, start, span, whole) => {
      if (!whole) return;
      this.kinds[c] = 'u';
      this.bytes.fill(0, start, start + span);
    });
  }

  /** What a reader of the whole chain sees: backing bytes where this layer is unallocated. */
  composed(): Uint8Array {
    const out = this.bytes.slice();
    if (this.backing === undefined) return out;
    this.kinds.forEach((k, c) => {
      if (k !== 'u') return;
      const start = c * this.clusterSize;
      const end = Math.min(this.size, start + this.clusterSize);
      out.set(this.backing?.subarray(start, end) ?? new Uint8Array(0), start);
    });
    return out;
  }

  status(offset: number, length: number): Extent[] {
    const out: Extent[] = [];
    const names: Record<Kind, AllocStatus> = { u: 'unallocated', z: 'zero', d: 'data' };
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const c = Math.floor(pos / this.clusterSize);
      const n = Math.min((c + 1) * this.clusterSize, end) - pos;
      const status = names[this.kinds[c]];
      const last = out[out.length - 1];
      if (last !== undefined && last.status === status) last.length += n;
      else out.push({ offset: pos, length: n, status });
      pos += n;
    }
    return out;
  }

  private eachCluster(
    offset: number,
    length: number,
    fn: (c: number, start: number, span: number, whole: boolean, from: number, to: number) => void,
  ): void {
    if (length === 0) return;
    const cs = this.clusterSize;
    const end = offset + length;
    for (let c = Math.floor(offset / cs); c * cs < end; c++) {
      const start = c * cs;
      const span = Math.min(cs, this.size - start);
      const from = Math.max(start, offset);
      const to = Math.min(start + span, end);
      fn(c, start, span, from === start && to === start + span, from, to);
    }
  }
}
