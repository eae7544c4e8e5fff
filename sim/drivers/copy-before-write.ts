import { type BlockCopyState, clusterBytes, InternalBitmap } from '../block/block-copy.ts';
import { concat, mergeExtents } from '../block/block-io.ts';
import type { BdrvChild, BlockNode, NodeDriver } from '../block/graph.ts';
import { PERM, PERM_ALL } from '../block/perm.ts';
import type { Extent } from '../image/types.ts';
import { ERRNO, IoError } from '../util/io-error.ts';
import { filterPerms } from './default-perms.ts';

export type OnCbwError = 'break-guest-write' | 'break-snapshot';

/** the filtered node: `file` for copy-before-write, `backing` for 5.2's backup-top */
function src(node: BlockNode): BlockNode {
  return (node.file ?? node.backing)!;
}

export interface CbwFlavour {
  /** the driver name: 'copy-before-write', or 'backup-top' (the backup job's filter before 6.2) */
  name: string;
  /** backup-top, once active, unshares write on its source whether or not it has parents yet */
  unshareWithoutParents: boolean;
}

/**
 * copy-before-write filter (block/copy-before-write.c): before a guest write reaches `file`, the old data
 * of the touched clusters is copied to `target`. It also serves the snapshot that snapshot-access (and the
 * backup job) read: clusters already copied come from the target, the others from the source.
 */
export class CbwDriver implements NodeDriver {
  readonly name: string;
  readonly isFilter = true;
  readonly isFormat = false;
  /** errno once the snapshot is broken (on-cbw-error=break-snapshot) */
  snapshotError: number | undefined;
  /** clusters the snapshot may read; undefined = all of them (no bitmap given) */
  readonly accessDenied = new Set<number>();
  /** clusters guest writes had copied first (s->done_bitmap) */
  readonly doneByWrites = new Set<number>();
  private internalBitmaps: InternalBitmap[] = [];

  /** hbitmap_status()'s first-dirty-bit bug (7.0 to 7.2), see snapshotRun */
  statusBug = false;

  constructor(
    readonly bcs: BlockCopyState,
    readonly onCbwError: OnCbwError,
    /** cbw-timeout in nanoseconds (0: none) */
    readonly cbwTimeoutNs: number,
    readonly accessInScope: (cluster: number) => boolean,
    readonly flavour: CbwFlavour = { name: 'copy-before-write', unshareWithoutParents: false },
  ) {
    this.name = flavour.name;
  }

  childPerm(node: BlockNode, c: BdrvChild, perm: number, shared: number): [number, number] {
    if (c.name === 'target') {
      // Share write to the target so guest writes to its backing chain are not blocked; no resize.
      return [PERM.WRITE, PERM_ALL & ~PERM.RESIZE];
    }
    let [p, s] = filterPerms(perm, shared);
    if (node.parents.length > 0 || this.flavour.unshareWithoutParents) {
      if (perm & PERM.WRITE) p |= PERM.CONSISTENT_READ;
      s &= ~(PERM.WRITE | PERM.RESIZE);
    }
    return [p, s];
  }
  size(node: BlockNode): number {
    return src(node).size;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    return src(node).read(offset, length);
  }
  private beforeWrite(offset: number, length: number): void {
    if (this.snapshotError !== undefined) return;
    try {
      this.bcs.copyRange(offset, length, this.cbwTimeoutNs);
    } catch (e) {
      if (!(e instanceof IoError)) throw e;
      if (this.onCbwError === 'break-guest-write') throw e;
      this.snapshotError = e.errno;
      return;
    }
    if (length <= 0) return;
    const cs = this.bcs.clusterSize;
    for (let c = Math.floor(offset / cs); c <= Math.floor((offset + length - 1) / cs); c++)
      this.doneByWrites.add(c);
  }

  /**
   * cbw_open's done and access bitmaps on the filter node (copy-before-write only; backup-top had none).
   * Called once the node exists; dropBitmaps when it goes.
   */
  attachBitmaps(node: BlockNode, copyBitmapOnFilter?: boolean): void {
    if (this.flavour.name !== 'copy-before-write' || this.internalBitmaps.length > 0) return;
    const cs = this.bcs.clusterSize;
    const size = () => src(node).size;
    // block_copy_state_new's copy bitmap: on the source, or (10.0+) on the filter before its own two
    const copy =
      copyBitmapOnFilter === undefined
        ? undefined
        : new InternalBitmap(copyBitmapOnFilter ? node : src(node), cs, () =>
            clusterBytes(size(), cs, (c) => this.bcs.needsCopy(c)),
          ).attach();
    const done = new InternalBitmap(node, cs, () =>
      clusterBytes(size(), cs, (c) => this.doneByWrites.has(c)),
    ).attach();
    const access = new InternalBitmap(node, cs, () =>
      clusterBytes(size(), cs, (c) => this.accessInScope(c) && !this.accessDenied.has(c)),
    ).attach();
    this.internalBitmaps = copy ? [copy, done, access] : [done, access];
  }

  dropBitmaps(): void {
    for (const b of this.internalBitmaps) b.detach();
    this.internalBitmaps = [];
  }
  write(node: BlockNode, offset: number, data: Uint8Array): void {
    this.beforeWrite(offset, data.length);
    src(node).write(offset, data);
  }
  writeZeroes(node: BlockNode, offset: number, length: number): void {
    this.beforeWrite(offset, length);
    src(node).writeZeroes(offset, length);
  }
  discard(node: BlockNode, offset: number, length: number): void {
    this.beforeWrite(offset, length);
    src(node).discard(offset, length);
  }
  flush(node: BlockNode): void {
    src(node).flush();
    const t = this.bcs.target();
    t.flush();
  }
  blockStatus(node: BlockNode, offset: number, length: number): Extent[] {
    return src(node).blockStatus(offset, length);
  }
  close(): void {
    this.dropBitmaps();
  }

  private checkSnapshotAccess(offset: number, length: number): void {
    if (this.snapshotError !== undefined) throw new IoError(ERRNO.EACCES);
    const cs = this.bcs.clusterSize;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + length - 1) / cs);
    for (let c = first; c <= last; c++) {
      if (!this.accessInScope(c) || this.accessDenied.has(c)) throw new IoError(ERRNO.EACCES);
    }
  }

  /**
   * cbw_snapshot_read_lock over [pos, end): where to read the next run of clusters from, and how far. A
   * run of copied clusters comes from the target, one of uncopied ones from the source — except on
   * versions whose hbitmap_status() said "not copied" for a copied run followed by an uncopied one in the
   * same request: there the copied run is read from the live source.
   */
  private snapshotRun(node: BlockNode, pos: number, end: number): { from: BlockNode; runEnd: number } {
    const cs = this.bcs.clusterSize;
    const done = this.bcs.done.has(Math.floor(pos / cs));
    let runEnd = Math.min(end, (Math.floor(pos / cs) + 1) * cs);
    while (runEnd < end && this.bcs.done.has(Math.floor(runEnd / cs)) === done)
      runEnd = Math.min(end, runEnd + cs);
    const buggy = done && runEnd < end && this.statusBug;
    return { from: done && !buggy ? this.bcs.target() : src(node), runEnd };
  }

  /** cbw_co_preadv_snapshot: the disk as it was when the filter was inserted */
  snapshotRead(node: BlockNode, offset: number, length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    this.checkSnapshotAccess(offset, length);
    const parts: Uint8Array[] = [];
    const end = offset + length;
    for (let pos = offset; pos < end; ) {
      const { from, runEnd } = this.snapshotRun(node, pos, end);
      parts.push(from.read(pos, runEnd - pos));
      pos = runEnd;
    }
    return concat(parts, length);
  }

  snapshotBlockStatus(node: BlockNode, offset: number, length: number): Extent[] {
    this.checkSnapshotAccess(offset, length);
    const out: Extent[] = [];
    const end = offset + length;
    // each run is one cbw_snapshot_read_lock: runs stay apart, as QEMU's callers see them one at a time
    for (let pos = offset; pos < end; ) {
      const { from, runEnd } = this.snapshotRun(node, pos, end);
      out.push(...mergeExtents(from.blockStatus(pos, runEnd - pos)));
      pos = runEnd;
    }
    return out;
  }

  /** cbw_co_pdiscard_snapshot: the reader no longer needs these clusters; stop protecting them */
  snapshotDiscard(offset: number, length: number): void {
    const cs = this.bcs.clusterSize;
    const first = Math.ceil(offset / cs);
    const last = Math.floor((offset + length) / cs);
    for (let c = first; c < last; c++) {
      this.accessDenied.add(c);
      this.bcs.skip(c);
    }
  }
}
