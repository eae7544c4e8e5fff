import { ERRNO, IoError } from '../util/io-error.ts';
import { Bitmap } from './bitmaps.ts';
import { chainStatus } from './block-status.ts';
import type { BlockNode } from './graph.ts';

/** a failed copy: block_copy's ret and error_is_read (the read from the source failed, not the write) */
export class CopyError extends IoError {
  constructor(
    errno: number,
    readonly isRead: boolean,
  ) {
    super(errno);
  }
}

/**
 * block/block-copy.c as far as fleecing sees it: which clusters of the source still have to be copied to
 * the target before the guest may overwrite them, and which ones are already there.
 * Sets hold cluster indexes that were touched, so a 1 TiB disk costs memory only for what was written.
 */
export class BlockCopyState {
  /** clusters already copied to the target (or found not to need copying) */
  readonly done = new Set<number>();
  /** clusters removed from the copy set (discarded from the snapshot, or skipped as unallocated) */
  readonly skipped = new Set<number>();
  /** bytes copied so far, for job progress */
  bytesCopied = 0;
  /** the owning job's progress meter (block_copy_set_progress_meter): guest-triggered copies count too */
  onCopied: ((bytes: number) => void) | undefined;

  constructor(
    readonly source: () => BlockNode,
    readonly target: () => BlockNode,
    readonly clusterSize: number,
    /** clusters to copy at all: all of them, or those of a dirty bitmap (sync=bitmap, cbw bitmap) */
    readonly inScope: (cluster: number) => boolean,
    /**
     * fault hook: throws an IoError when a copy into the target should fail; may return extra latency (ns)
     * the target write takes
     */
    readonly beforeTargetWrite: (offset: number, length: number) => number | undefined = () => 0,
  ) {}

  get size(): number {
    return this.source().size;
  }

  get clusterCount(): number {
    return Math.ceil(this.size / this.clusterSize);
  }

  needsCopy(cluster: number): boolean {
    return this.inScope(cluster) && !this.done.has(cluster) && !this.skipped.has(cluster);
  }

  /** Copy one cluster now (block_copy_do_copy). Throws IoError on failure, leaving it to be copied later. */
  copyCluster(cluster: number): void {
    if (!this.needsCopy(cluster)) return;
    const offset = cluster * this.clusterSize;
    const length = Math.min(this.clusterSize, this.size - offset);
    if (length <= 0) return;
    const src = this.source();
    let data: Uint8Array | undefined;
    try {
      // block_copy_block_status: a cluster the source reads as zeroes in one answer is written as zeroes
      // (the target gets a zero cluster, not data); anything shorter is copied as data
      const st = chainStatus(src, offset, length);
      if (!(st.length === 1 && st[0]!.zero && st[0]!.length >= length)) data = src.read(offset, length);
    } catch (e) {
      throw e instanceof IoError ? new CopyError(e.errno, true) : e;
    }
    try {
      const latency = this.beforeTargetWrite(offset, length) ?? 0;
      const tgt = this.target();
      if (offset + length > tgt.size) throw new IoError(ERRNO.EIO);
      // how long the write waits before it starts (a throttle filter on the way) and then takes
      this.callDurationNs = Math.max(this.callDurationNs, writeDelayNs(tgt) + latency);
      if (data) tgt.write(offset, data);
      else tgt.writeZeroes(offset, length);
    } catch (e) {
      throw e instanceof IoError ? new CopyError(e.errno, false) : e;
    }
    this.done.add(cluster);
    this.bytesCopied += length;
    this.onCopied?.(length);
  }

  /** the longest wait of one copy of the current block_copy call (its tasks run in parallel), in ns */
  private callDurationNs = 0;

  /**
   * Copy every cluster of [offset, offset+length) that still needs it (block_copy). With a timeout
   * (copy-before-write's cbw-timeout) a call that takes longer fails with ETIMEDOUT; its copies still finish
   * in the background (qemu_co_timeout leaves the call running).
   */
  copyRange(offset: number, length: number, timeoutNs = 0): void {
    this.callDurationNs = 0;
    this.copyRangeNow(offset, length);
    if (timeoutNs > 0 && this.callDurationNs > timeoutNs) throw new IoError(ERRNO.ETIMEDOUT);
  }

  private copyRangeNow(offset: number, length: number): void {
    if (length <= 0) return;
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    for (let c = first; c <= last; c++) this.copyCluster(c);
  }

  skip(cluster: number): void {
    this.skipped.add(cluster);
  }
}

/** the wait before a write to `node` may start: throttle filters on its way down to the data */
function writeDelayNs(node: BlockNode): number {
  let ns = 0;
  for (let n: BlockNode | undefined = node; n; n = n.driver.isFilter ? n.file : undefined) {
    const d = n.driver as { writeDelayNs?: () => number };
    if (d.writeDelayNs) ns = Math.max(ns, d.writeDelayNs());
  }
  return ns;
}

/**
 * An anonymous, disabled bitmap that QEMU keeps for its own bookkeeping (block-copy's copy bitmap,
 * copy-before-write's done and access bitmaps): query-named-block-nodes lists it, its count comes from the
 * state it stands for.
 */
export class InternalBitmap extends Bitmap {
  constructor(
    node: BlockNode,
    granularity: number,
    private readonly counter: () => number,
    disabled = true,
  ) {
    super(undefined, node, granularity, false, disabled);
  }

  override count(): number {
    return this.counter();
  }

  /** bdrv_create_dirty_bitmap: the node lists it (newest last here, newest first in queries) */
  attach(): this {
    this.node.anonymousBitmaps.push(this);
    return this;
  }

  /** bdrv_release_dirty_bitmap */
  detach(): void {
    const list = this.node.anonymousBitmaps;
    const i = list.indexOf(this);
    if (i >= 0) list.splice(i, 1);
    this.release();
  }
}

/** bytes of the clusters in `clusters` (or all of them), clipped to `size` */
export function clusterBytes(size: number, clusterSize: number, pick: (cluster: number) => boolean): number {
  let n = 0;
  const count = Math.ceil(size / clusterSize);
  for (let c = 0; c < count; c++) if (pick(c)) n += Math.min(clusterSize, size - c * clusterSize);
  return n;
}
