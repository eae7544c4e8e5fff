import { BlockCopyState } from '../block-copy.ts';
import type { Bitmap } from '../bitmaps.ts';
import type { SimCore } from '../core.ts';
import { CbwDriver } from '../drivers/copy-before-write.ts';
import { BlockNode } from '../graph.ts';
import { ERRNO, IoError, strerror } from '../io-error.ts';
import { PERM_ALL } from '../perm.ts';
import { BlockJob } from './block-job.ts';
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
  discardSource: boolean;
  /** a node created for this job (drive-backup): dropped with it */
  ownsTarget: boolean;
}

/** bytes a backup job copies per iteration (block-copy's chunk) */
const BACKUP_CHUNK = 1 << 20;

/**
 * The backup job (block/backup.c) with its copy-before-write filter inserted above the source
 * (bdrv_cbw_append): the filter protects the point in time, the job copies what its sync mode asks for.
 */
export class BackupJob extends BlockJob {
  readonly type = 'backup';
  filter!: BlockNode;
  bcs!: BlockCopyState;
  private cursor = 0;
  private undoReplace: (() => void) | undefined;

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
      () => filterNode!.file!,
      () => filterNode!.child('target')!.bs,
      clusterSize,
      bitmapScope ?? (() => true),
      () => {
        if (sim.rng.chance(sim.faults.jobTargetErrorRate)) throw new IoError(ERRNO.EIO);
      },
    );
    const cbw = new CbwDriver(bcs, 'break-guest-write', 0, () => true);
    const name = setup.filterNodeName ?? sim.autoNodeName();
    filterNode = new BlockNode(name, setup.filterNodeName === undefined, cbw, { readOnly: false, options: { driver: 'copy-before-write' } });
    sim.graph.attach({ kind: 'node', node: filterNode }, source, 'file', 'file');
    sim.graph.attach({ kind: 'node', node: filterNode }, target, 'target', 'target');
    sim.graph.add(filterNode);
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
      throw e;
    }
    const job = new BackupJob(sim, setup, txn);
    job.filter = filterNode;
    job.bcs = bcs;
    job.undoReplace = undoReplace;
    job.progressTotal = source.size;
    bcs.onCopied = (n) => {
      job.progressCurrent += n;
    };
    return job;
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
        if (e.status !== 'unallocated') continue;
        for (let c = Math.floor(e.offset / this.bcs.clusterSize); c * this.bcs.clusterSize < e.offset + e.length; c++) {
          if (c * this.bcs.clusterSize >= e.offset && (c + 1) * this.bcs.clusterSize <= e.offset + e.length) this.bcs.skip(c);
        }
      }
    }
    if (this.setup.sync === 'bitmap' || this.setup.sync === 'incremental') {
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
    const total = this.bcs.clusterCount;
    let copied = 0;
    const chunkClusters = Math.max(1, BACKUP_CHUNK / this.bcs.clusterSize);
    let visited = 0;
    while (this.cursor < total && visited < chunkClusters) {
      if (this.bcs.needsCopy(this.cursor)) {
        try {
          this.bcs.copyCluster(this.cursor);
        } catch (e) {
          if (!(e instanceof IoError)) throw e;
          this.sim.events.emit('BLOCK_JOB_ERROR', { device: this.id, operation: 'write', action: 'report' });
          this.ioStatus = 'failed';
          return { errno: e.errno, message: strerror(e.errno) };
        }
        copied += this.bcs.clusterSize;
      }
      this.cursor++;
      visited++;
    }
    if (this.cursor >= total) {
      this.progressCurrent = this.progressTotal;
      return 'done';
    }
    this.schedule(this.delayFor(copied));
    return 'continue';
  }

  protected override commit(): void {
    const bm = this.setup.bitmap;
    if (bm && this.setup.bitmapMode !== 'never') bm.clear();
  }

  protected override abort(): void {
    const bm = this.setup.bitmap;
    if (bm && this.setup.bitmapMode === 'always') bm.clear();
  }

  /** backup_clean: remove the filter, give the source its users back */
  protected override clean(): void {
    this.dropFilter();
    if (this.setup.bitmap) this.setup.bitmap.busy = false;
  }

  private dropFilter(): void {
    const f = this.filter;
    if (!f || !this.sim.graph.nodes.has(f.nodeName)) return;
    // bdrv_cbw_drop: everything above the filter goes back to the source
    // bdrv_drop_filter: users go to what the filter filters now (another filter may sit between)
    this.sim.graph.replaceNode(f, f.file ?? this.setup.source);
    f.extraRefs = 0;
    this.releaseNodes();
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
