import { hasFeature } from '../../contract/versions.ts';
import { Bitmap } from '../block/bitmaps.ts';
import { BlockCopyState, CopyError, clusterBytes, InternalBitmap } from '../block/block-copy.ts';
import { BlockNode } from '../block/graph.ts';
import { PERM_ALL } from '../block/perm.ts';
import type { SimCore } from '../core/core.ts';
import { CbwDriver, type OnCbwError } from '../drivers/copy-before-write.ts';
import { nullUnallocated } from '../drivers/null.ts';
import { checkNewNodeName } from '../drivers/open-node.ts';
import { ERRNO, IoError, strerror } from '../util/io-error.ts';
import { generic, QmpError } from '../util/qmp-error.ts';
import { BlockJob } from './block-job.ts';
import { drainAllBlockJobs } from './drain.ts';
import type { JobOptions, JobRunResult, JobTxn } from './job.ts';

export type SyncMode = 'top' | 'full' | 'none' | 'incremental' | 'bitmap';
export type BitmapMode = 'on-success' | 'never' | 'always';

export interface BackupSetup extends JobOptions {
  source: BlockNode;
  target: BlockNode;
  sync: SyncMode;
  bitmap?: Bitmap;
  bitmapMode: BitmapMode;
  filterNodeName?: string;
  onTargetError: string;
  onSourceError: string;
  /** the filter's on-cbw-error (backup's own option where QEMU has it): break-snapshot lets guest writes go on */
  onCbwError?: OnCbwError;
  discardSource: boolean;
  /** a node created for this job (drive-backup): dropped with it */
  ownsTarget: boolean;
}

/** bytes a backup job copies per iteration (block-copy's chunk) */
const BACKUP_CHUNK = 1 << 20;
/** block-copy's parallel tasks per call (BLOCK_COPY_MAX_WORKERS) */
const BLOCK_COPY_MAX_WORKERS = 64;

/**
 * The backup job (block/backup.c) with its copy-before-write filter inserted above the source
 * (bdrv_cbw_append): the filter protects the point in time, the job copies what its sync mode asks for.
 */
export class BackupJob extends BlockJob {
  readonly type = 'backup';
  filter!: BlockNode;
  bcs!: BlockCopyState;
  private cursor = 0;

  constructor(
    sim: SimCore,
    readonly setup: BackupSetup,
    txn?: JobTxn,
  ) {
    super(sim, setup, txn);
  }

  /**
   * backup_job_create after the argument checks: insert the filter (may fail with a permission conflict),
   * then create the job. Throws QmpError; leaves nothing behind on failure.
   */
  static create(sim: SimCore, setup: BackupSetup, txn?: JobTxn): BackupJob {
    const { source, target } = setup;
    const clusterSize = 65536;
    // The job's own block-copy state: what to copy, shared with its filter.
    let bitmapScope: ((c: number) => boolean) | undefined;
    if (setup.bitmap && (setup.sync === 'bitmap' || setup.sync === 'incremental')) {
      const frozen = new Set<number>();
      const bm = setup.bitmap;
      for (const g of bm.dirty) {
        const first = Math.floor((g * bm.granularity) / clusterSize);
        const last = Math.floor(((g + 1) * bm.granularity - 1) / clusterSize);
        for (let c = first; c <= last; c++) frozen.add(c);
      }
      bitmapScope = (c) => frozen.has(c);
    }
    let filterNode: BlockNode | undefined;
    const bcs = new BlockCopyState(
      () => (filterNode!.file ?? filterNode!.backing)!,
      () => filterNode!.child('target')!.bs,
      clusterSize,
      bitmapScope ?? (() => true),
      () => {
        if (sim.rng.chance(sim.faults.jobTargetErrorRate)) throw new IoError(ERRNO.EIO);
        return 0;
      },
    );
    // before 6.2 the filter was backup-top, with the source as its backing child
    const backupTop = !hasFeature(sim.version, 'copy-before-write');
    const flavour = backupTop
      ? { name: 'backup-top', unshareWithoutParents: true }
      : { name: 'copy-before-write', unshareWithoutParents: false };
    const cbw = new CbwDriver(bcs, setup.onCbwError ?? 'break-guest-write', 0, () => true, flavour);
    // bdrv_insert_node (cbw): what fails while the filter opens is "Could not create node: ", what fails
    // putting it above the source "Could not replace node: "
    const prefixed = (prefix: string, e: unknown) =>
      !backupTop && e instanceof QmpError ? new QmpError(e.errorClass, `${prefix}${e.desc}`) : e;
    try {
      checkNewNodeName(sim, setup.filterNodeName);
    } catch (e) {
      throw prefixed('Could not create node: ', e);
    }
    const name = setup.filterNodeName ?? sim.autoNodeName();
    filterNode = new BlockNode(name, setup.filterNodeName === undefined, cbw, {
      readOnly: false,
      options: { driver: flavour.name },
    });
    // 5.2's bdrv_backup_top_append attaches the target, then bdrv_append puts the source under the filter as
    // its 'backing' child (filtered, not a COW backing file); cbw opens with both children
    if (!backupTop) sim.graph.attach({ kind: 'node', node: filterNode }, source, 'file', 'file');
    sim.graph.attach({ kind: 'node', node: filterNode }, target, 'target', 'target');
    sim.graph.add(filterNode);
    try {
      sim.refreshPerms();
    } catch (e) {
      for (const c of [...filterNode.children]) sim.graph.detach(c);
      sim.graph.remove(filterNode);
      try {
        sim.refreshPerms();
      } catch {
        // back to the graph that was valid before
      }
      throw prefixed('Could not create node: ', e);
    }
    if (backupTop) sim.graph.attach({ kind: 'node', node: filterNode }, source, 'backing', 'filtered-file');
    const undoReplace = sim.graph.replaceNode(source, filterNode);
    const dropFilter = () => {
      undoReplace();
      for (const c of [...filterNode!.children]) sim.graph.detach(c);
      sim.graph.remove(filterNode!);
      try {
        sim.refreshPerms();
      } catch {
        // back to the graph that was valid before
      }
    };
    try {
      sim.refreshPerms();
    } catch (e) {
      dropFilter();
      if (backupTop && e instanceof QmpError)
        throw generic(`Cannot set permissions for backup-top filter: ${e.desc}`);
      throw prefixed('Could not replace node: ', e);
    }
    const job = new BackupJob(sim, setup, txn);
    job.filter = filterNode;
    job.bcs = bcs;
    job.createBitmaps(cbw);
    job.progressTotal = source.size;
    bcs.onCopied = (n) => {
      job.progressCurrent += n;
    };
    return job;
  }

  /** the sync bitmap's successor: it records guest writes while the backup holds the bitmap */
  private successor: Bitmap | undefined;
  /** block-copy's copy bitmap: what is still to be copied */
  private copyBitmap: InternalBitmap | undefined;
  private cbw: CbwDriver | undefined;

  /**
   * The bitmaps backup_job_create makes: the successor of the sync bitmap (which freezes it), block-copy's
   * copy bitmap (on the source; on the filter since 10.0, before the filter's own two) and the filter's.
   */
  private createBitmaps(cbw: CbwDriver): void {
    const { source, bitmap } = this.setup;
    if (bitmap) {
      this.successor = new Bitmap(undefined, source, bitmap.granularity, false, false);
      source.anonymousBitmaps.push(this.successor);
      bitmap.frozen = true;
    }
    const onFilter = hasFeature(this.sim.version, 'block-copy-bitmap-on-filter');
    const cs = this.bcs.clusterSize;
    this.copyBitmap = new InternalBitmap(onFilter ? this.filter : source, cs, () =>
      clusterBytes(source.size, cs, (c) => this.bcs.needsCopy(c)),
    ).attach();
    cbw.attachBitmaps(this.filter);
    this.cbw = cbw;
  }

  /**
   * backup_cleanup_sync_bitmap: on success (or with bitmap-mode=always) the successor replaces the sync
   * bitmap; otherwise it is merged back. A failed bitmap-mode=always backup adds what it did not copy.
   */
  private settleSyncBitmap(ret: number): void {
    const bm = this.setup.bitmap;
    const succ = this.successor;
    if (!bm || !succ) return;
    const mode = this.setup.bitmapMode;
    if ((ret === 0 || mode === 'always') && mode !== 'never') bm.clear();
    bm.mergeFrom(succ);
    if (ret < 0 && mode === 'always') {
      const cs = this.bcs.clusterSize;
      for (let c = 0; c < this.bcs.clusterCount; c++) if (this.bcs.needsCopy(c)) bm.mark(c * cs, cs);
    }
    const list = this.setup.source.anonymousBitmaps;
    const i = list.indexOf(succ);
    if (i >= 0) list.splice(i, 1);
    succ.release();
    this.successor = undefined;
    bm.frozen = false;
  }

  /** block_job_create's BlockBackend and the target reference, once the job id was accepted */
  attach(): void {
    this.attachMain(this.filter, 0, PERM_ALL);
    this.addNode('target', this.setup.target);
    this.filter.extraRefs++;
  }

  /** the job failed before it started (job_early_fail / transaction abort): undo the filter */
  earlyFail(): void {
    this.dropFilter();
  }

  protected override onStart(): void {
    if (this.setup.sync === 'top') {
      // sync=top skips what the source's top layer does not allocate
      for (const e of this.setup.source.blockStatus(0, this.setup.source.size)) {
        if (e.status !== 'unallocated' && !nullUnallocated(this.setup.source)) continue;
        for (
          let c = Math.floor(e.offset / this.bcs.clusterSize);
          c * this.bcs.clusterSize < e.offset + e.length;
          c++
        ) {
          if (c * this.bcs.clusterSize >= e.offset && (c + 1) * this.bcs.clusterSize <= e.offset + e.length)
            this.bcs.skip(c);
        }
      }
    }
    // block_copy_reset_unallocated (top) and the sync bitmap (bitmap) set the remaining work: progress_set_remaining
    if (this.setup.sync === 'top' || this.setup.sync === 'bitmap' || this.setup.sync === 'incremental') {
      let n = 0;
      for (let c = 0; c < this.bcs.clusterCount; c++) if (this.bcs.needsCopy(c)) n += this.bcs.clusterSize;
      this.progressTotal = Math.min(n, this.setup.source.size);
    }
  }

  protected work(): JobRunResult {
    if (this.setup.sync === 'none') {
      // backup_run: nothing to copy; the filter does the work until the job is cancelled
      this.yieldForever();
      return 'continue';
    }
    const now = this.sim.clock.now;
    const blockCopy = hasFeature(this.sim.version, 'backup-block-copy-ratelimit');
    if (blockCopy && this.speed > 0) {
      // block_copy_dirty_clusters: over the limit, sleep; woken early (kick, resume) it checks again
      const ns = this.limit.calculateDelay(now, 0);
      if (ns > 0) {
        this.schedule(ns);
        return 'continue';
      }
    }
    // block-copy copies 1 MiB tasks; the old backup_loop copied one cluster per turn when rate-limited
    const chunk = blockCopy || this.speed === 0 ? BACKUP_CHUNK : this.bcs.clusterSize;
    const r = this.copyChunk(chunk);
    if (r === 'continue' || !('copied' in r)) return r;
    if (this.cursor >= this.bcs.clusterCount) {
      this.progressCurrent = this.progressTotal;
      return 'done';
    }
    if (blockCopy) {
      this.limit.calculateDelay(now, r.copied);
      this.schedule(0);
    } else {
      // yield_and_check: sleep for what was just copied; entered early, the next cluster is copied at once
      this.schedule(this.limit.calculateDelay(now, r.copied));
    }
    return 'continue';
  }

  /**
   * The failure of the current block-copy call (7.2+): the task that failed is given up, the tasks already
   * in flight (up to BLOCK_COPY_MAX_WORKERS of them) still finish, then backup_loop acts on the error.
   */
  private callError: { errno: number; isRead: boolean; endCluster: number } | undefined;

  /** copy the clusters of the next `bytes` that still need it */
  private copyChunk(bytes: number): { copied: number } | { errno: number; message: string } | 'continue' {
    const total = this.bcs.clusterCount;
    const chunkClusters = Math.max(1, bytes / this.bcs.clusterSize);
    const blockCopy = hasFeature(this.sim.version, 'backup-block-copy-ratelimit');
    let copied = 0;
    let visited = 0;
    let failedTask = false;
    while (this.cursor < total && visited < chunkClusters) {
      if (this.callError && this.cursor >= this.callError.endCluster) break;
      if (this.bcs.needsCopy(this.cursor) && !failedTask) {
        try {
          this.bcs.copyCluster(this.cursor);
          copied += this.bcs.clusterSize;
        } catch (e) {
          if (!(e instanceof IoError)) throw e;
          const isRead = e instanceof CopyError && e.isRead;
          if (!blockCopy) {
            // 5.2's backup_loop: backup_do_cow on this cluster, then the error action, retried in place
            return this.onCopyError(e.errno, isRead);
          }
          // block-copy: the whole task (chunk) fails; no new tasks start, those in flight finish
          failedTask = true;
          if (!this.callError) {
            const first = Math.floor(this.cursor / chunkClusters) * chunkClusters;
            this.callError = {
              errno: e.errno,
              isRead,
              endCluster: first + BLOCK_COPY_MAX_WORKERS * chunkClusters,
            };
          }
        }
      }
      this.cursor++;
      visited++;
    }
    const err = this.callError;
    if (err && (this.cursor >= total || this.cursor >= err.endCluster)) {
      this.callError = undefined;
      // the next block-copy call starts over, copying what is still dirty
      this.cursor = 0;
      return this.onCopyError(err.errno, err.isRead);
    }
    return { copied };
  }

  /** backup_error_action with block_job_error_action: report ends the job, ignore retries, stop pauses */
  private onCopyError(errno: number, isRead: boolean): { errno: number; message: string } | 'continue' {
    const onErr = isRead ? this.setup.onSourceError : this.setup.onTargetError;
    const action =
      onErr === 'stop' || onErr === 'ignore' || onErr === 'report'
        ? onErr
        : errno === ERRNO.ENOSPC
          ? 'stop'
          : 'report';
    if (!this.isCancelled())
      this.sim.events.emit('BLOCK_JOB_ERROR', {
        device: this.id,
        operation: isRead ? 'read' : 'write',
        action,
      });
    if (action === 'report') return { errno, message: strerror(errno) };
    if (action === 'stop') {
      if (!this.userPaused) {
        this.pause();
        this.userPaused = true;
      }
      // block_job_iostatus_set_err
      if (this.ioStatus === 'ok') this.ioStatus = errno === ERRNO.ENOSPC ? 'nospace' : 'failed';
    }
    // the job's pause point comes before the retry
    if (!this.atPausePoint) this.schedule(0);
    return 'continue';
  }

  protected override commit(): void {
    this.settleSyncBitmap(0);
  }

  protected override abort(): void {
    this.settleSyncBitmap(this.ret < 0 ? this.ret : -125);
  }

  /** backup_clean: remove the filter, give the source its users back */
  protected override clean(): void {
    this.dropFilter();
    if (this.setup.bitmap) this.setup.bitmap.busy = false;
  }

  private dropFilter(): void {
    const f = this.filter;
    if (!f || !this.sim.graph.nodes.has(f.nodeName)) return;
    // 10.0+: the filter leaves the graph in three changes, each with every node drained
    if (hasFeature(this.sim.version, 'graph-change-drains-all'))
      for (let i = 0; i < 3; i++) drainAllBlockJobs(this.sim, this);
    // a job that never got to commit or abort gives its bitmap back untouched
    this.settleSyncBitmap(-125);
    this.copyBitmap?.detach();
    this.copyBitmap = undefined;
    this.cbw?.dropBitmaps();
    // bdrv_cbw_drop: everything above the filter goes back to the source
    // bdrv_drop_filter: users go to what the filter filters now (another filter may sit between)
    this.sim.graph.replaceNode(f, f.file ?? f.backing ?? this.setup.source);
    f.extraRefs = 0;
    // 5.2's backup_clean only dropped the filter: the job kept its nodes (and their blockers) until freed
    if (hasFeature(this.sim.version, 'copy-before-write') || this.status === 'created') this.releaseNodes();
    for (const c of [...f.children]) {
      this.sim.graph.detach(c);
    }
    this.sim.graph.remove(f);
    if (this.setup.ownsTarget) this.sim.graph.collect(this.setup.target);
    try {
      this.sim.refreshPerms();
    } catch {
      // removing a filter cannot add a conflict
    }
  }
}
