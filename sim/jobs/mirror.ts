import { hasFeature } from '../../contract/versions.ts';
import { InternalBitmap } from '../block/block-copy.ts';
import { chainStatus } from '../block/block-status.ts';
import { BlockBackend, BlockNode } from '../block/graph.ts';
import { PERM } from '../block/perm.ts';
import type { SimCore } from '../core/core.ts';
import { MirrorTopDriver } from '../drivers/mirror-top.ts';
import { nullUnallocated } from '../drivers/null.ts';
import { checkNewNodeName } from '../drivers/open-node.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
import { RawDriver } from '../drivers/raw.ts';
import { IoError, strerror } from '../util/io-error.ts';
import { generic } from '../util/qmp-error.ts';
import { BlockJob } from './block-job.ts';
import type { JobOptions, JobRunResult } from './job.ts';
import { BLOCK_JOB_SLICE_TIME_NS } from './ratelimit.ts';

export interface MirrorSetup extends JobOptions {
  source: BlockNode;
  target: BlockNode;
  sync: 'top' | 'full' | 'none';
  /**
   * qmp_blockdev_mirror's zero_target: the user asked for sync=full (a sync=top without a backing file runs
   * as full, but without zeroing: only what is allocated gets copied)
   */
  zeroTarget?: boolean;
  granularity: number;
  bufSize: number;
  filterNodeName?: string;
  ownsTarget: boolean;
  copyMode?: 'background' | 'write-blocking';
}

/**
 * The mirror job (block/mirror.c): copies the source to the target, becomes ready once in sync, keeps
 * copying guest writes, and on complete switches every user of the source to the target.
 */
export class MirrorJob extends BlockJob {
  readonly type = 'mirror';
  top!: BlockNode;
  targetBlk!: BlockBackend;
  /** granules still to copy */
  readonly dirty = new Set<number>();
  shouldComplete = false;
  private initialised = false;
  copyMode: 'background' | 'write-blocking' = 'background';
  /** the target is in sync and guest writes go to it synchronously (write-blocking mode) */
  activelySynced = false;

  constructor(
    sim: SimCore,
    readonly setup: MirrorSetup,
  ) {
    super(sim, setup);
    this.copyMode = setup.copyMode ?? 'background';
  }

  static create(sim: SimCore, setup: MirrorSetup): MirrorJob {
    let job: MirrorJob | undefined;
    const driver = new MirrorTopDriver((off, len) => job?.markDirty(off, len));
    checkNewNodeName(sim, setup.filterNodeName);
    const name = setup.filterNodeName ?? sim.autoNodeName();
    const top = new BlockNode(name, setup.filterNodeName === undefined, driver, {
      readOnly: false,
      options: { driver: 'mirror_top' },
    });
    sim.graph.attach({ kind: 'node', node: top }, setup.source, 'backing', 'backing');
    sim.graph.add(top);
    const undo = sim.graph.replaceNode(setup.source, top);
    try {
      sim.refreshPerms();
    } catch (e) {
      undo();
      for (const c of [...top.children]) sim.graph.detach(c);
      sim.graph.remove(top);
      throw e;
    }
    job = new MirrorJob(sim, setup);
    job.top = top;
    return job;
  }

  /** mirror_start_job's dirty bitmap, as queries show it */
  private bitmap: InternalBitmap | undefined;

  attach(): void {
    const onFilter = hasFeature(this.sim.version, 'mirror-bitmap-on-filter');
    this.bitmap = new InternalBitmap(
      onFilter ? this.top : this.setup.source,
      this.setup.granularity,
      () => this.dirtyBytes(),
      onFilter || this.copyMode === 'write-blocking',
    ).attach();
    // block_job_add_bdrv(..., "source", bs, 0, WRITE_UNCHANGED | WRITE | CONSISTENT_READ): the source is
    // blocked for other jobs too
    this.addNode('source', this.setup.source, 0, PERM.WRITE_UNCHANGED | PERM.WRITE | PERM.CONSISTENT_READ);
    this.attachMain(this.top, PERM.CONSISTENT_READ, PERM.CONSISTENT_READ | PERM.WRITE_UNCHANGED | PERM.WRITE);
    // mirror_start_job's target BlockBackend (blk_new: unnamed) takes WRITE, and RESIZE only for a target that
    // is the source's backing and smaller (5.1+; real 5.2 names only 'write' in a conflict with a backup-top)
    const blk = new BlockBackend(undefined, 'an unnamed block device', PERM.WRITE, PERM.WRITE_UNCHANGED);
    this.sim.graph.attach({ kind: 'blk', blk }, this.setup.target, 'root', 'other', true);
    this.sim.addBlk(blk);
    this.targetBlk = blk;
    this.addNode('target', this.setup.target);
    this.top.extraRefs++;
  }

  earlyFail(): void {
    this.removeFilter();
  }

  markDirty(offset: number, length: number): void {
    if (length <= 0) return;
    const g = this.setup.granularity;
    for (let i = Math.floor(offset / g); i <= Math.floor((offset + length - 1) / g); i++) this.dirty.add(i);
  }

  /** A mirror's coroutine yields after starting, so what it does comes after the command's reply. */
  protected override get enterDelayNs(): number {
    return 1000;
  }

  protected work(): JobRunResult {
    const src = this.setup.source;
    const tgt = this.setup.target;
    if (!this.initialised) {
      this.initialised = true;
      if (tgt.size < src.size) return { errno: 22, message: 'Source and target image have different sizes' };
      this.progressTotal = src.size;
      if (this.setup.sync !== 'none') {
        // mirror_dirty_init (10.1+): a target that already reads as zeroes (bdrv_co_is_all_zeroes) is not
        // pre-zeroed, so only what the source allocates is copied
        const zeroTarget =
          this.setup.zeroTarget !== false &&
          !(hasFeature(this.sim.version, 'mirror-skip-zeroed-target') && readsAllZeroes(tgt));
        for (const e of src.blockStatus(0, src.size)) {
          const unallocated = e.status === 'unallocated' || nullUnallocated(src);
          if ((this.setup.sync === 'top' || !zeroTarget) && unallocated) continue;
          this.markDirty(e.offset, e.length);
        }
        // nothing allocated still needs its zeroes mirrored for full sync of a fresh target
        if (this.dirty.size === 0 && this.setup.sync === 'full' && zeroTarget) this.markDirty(0, src.size);
      }
    }
    // mirror_run's loop: job_progress_set_remaining(bytes in flight + dirty) at every turn, so guest writes
    // after the first pass grow the job's length
    this.progressTotal = this.progressCurrent + this.dirtyBytes();
    if (this.isCancelled()) return 'done';
    const now = this.sim.clock.now;
    if (this.speed > 0 && this.dirty.size > 0 && hasFeature(this.sim.version, 'job-ratelimit-sleep')) {
      // block_job_ratelimit_sleep: woken early, the job sleeps out the rest of its delay
      const ns = this.limit.calculateDelay(now, 0);
      if (ns > 0) {
        this.schedule(ns);
        return 'continue';
      }
    }
    let budget = this.setup.bufSize;
    let copied = 0;
    const sorted = [...this.dirty].sort((a, b) => a - b);
    for (const g of sorted) {
      if (budget <= 0) break;
      const off = g * this.setup.granularity;
      const len = Math.min(this.setup.granularity, src.size - off);
      try {
        if (len > 0) this.copyGranule(off, len);
      } catch (e) {
        if (e instanceof IoError) {
          this.sim.events.emit('BLOCK_JOB_ERROR', { device: this.id, operation: 'write', action: 'report' });
          return { errno: e.errno, message: strerror(e.errno) };
        }
        throw e;
      }
      this.dirty.delete(g);
      budget -= len;
      copied += len;
      this.progressCurrent += len;
    }
    if (this.dirty.size > 0) {
      // mirror_iteration accounts what it copied; before 8.1 the delay it returned was slept once, and a
      // job entered early (resume, set-speed) went on with its next iteration
      const delay = this.limit.calculateDelay(now, copied);
      this.schedule(Math.max(1000, delay));
      return 'continue';
    }
    if (this.copyMode === 'write-blocking') this.activelySynced = true;
    if (this.status === 'running') {
      this.transition('ready');
      this.sim.events.emit('BLOCK_JOB_READY', this.eventData());
    }
    if (this.shouldComplete || this.cancelRequested()) return 'done';
    this.yieldForever();
    return 'continue';
  }

  /**
   * mirror_iteration: what block status says decides the method. Data is copied; a range that reads as zeroes
   * becomes a write-zeroes (MAY_UNMAP), one that is neither data nor zero a discard, when the range covers
   * whole clusters of the target (bdrv_round_to_clusters); else it is copied too.
   */
  private copyGranule(off: number, len: number): void {
    const src = this.setup.source;
    const tgt = this.setup.target;
    const cluster = targetClusterSize(tgt);
    const aligned = cluster === 0 || (off % cluster === 0 && (len % cluster === 0 || off + len >= tgt.size));
    const ext = nullUnallocated(src)
      ? [{ data: false, zero: false }]
      : chainStatus(src, off, len).map((e) => ({ data: e.data, zero: e.zero }));
    if (aligned && ext.every((e) => !e.data)) {
      if (ext.every((e) => e.zero)) tgt.writeZeroes(off, len);
      else tgt.discard(off, len);
      return;
    }
    tgt.write(off, src.read(off, len));
  }

  private dirtyBytes(): number {
    let n = 0;
    for (const g of this.dirty)
      n += Math.min(this.setup.granularity, this.setup.source.size - g * this.setup.granularity);
    return n;
  }

  /** a ready mirror with nothing to copy sleeps in BLOCK_JOB_SLICE_TIME steps */
  protected override get idleSliceNs(): number | undefined {
    return this.dirty.size === 0 ? BLOCK_JOB_SLICE_TIME_NS : undefined;
  }

  protected override get completable(): boolean {
    return true;
  }

  /** mirror_change: only background -> write-blocking is implemented */
  change(copyMode: 'background' | 'write-blocking' | undefined): void {
    if (this.copyMode === copyMode) return;
    if (copyMode !== 'write-blocking') throw generic(`Change to copy mode '${copyMode}' is not implemented`);
    this.copyMode = copyMode;
    // the next turn of mirror_run (at most a slice later) sees the target in sync
    if (this.dirty.size === 0 && (this.status === 'ready' || this.status === 'standby'))
      this.activelySynced = true;
  }

  override get supportsChange(): boolean {
    return true;
  }

  protected override extraInfo(): Record<string, unknown> {
    return hasFeature(this.sim.version, 'mirror-actively-synced')
      ? { 'actively-synced': this.activelySynced }
      : {};
  }

  /** mirror_cancel: before it is ready every cancel is a forced one */
  protected override driverCancel(force: boolean): boolean {
    return force || !(this.status === 'ready' || this.status === 'standby');
  }

  protected override complete(): void {
    this.shouldComplete = true;
    if (this.pauseCount === 0) this.enter();
  }

  protected override prepare(): string | undefined {
    return undefined;
  }

  /** mirror_exit_common on success: pivot when asked to complete */
  protected override commit(): void {
    if (this.shouldComplete && !this.cancelRequested()) {
      this.sim.graph.replaceNode(this.setup.source, this.setup.target);
    }
  }

  /** mirror_run leaves its source drained (s->in_drain) until mirror_exit_common */
  protected override finishRun(deferred = false): void {
    this.drainedAfterRun = true;
    super.finishRun(deferred);
  }

  protected override clean(): void {
    this.drainedAfterRun = false;
    this.removeFilter();
  }

  private removeFilter(): void {
    const top = this.top;
    if (!top || !this.sim.graph.nodes.has(top.nodeName)) return;
    (top.driver as MirrorTopDriver).stop = true;
    this.bitmap?.detach();
    this.bitmap = undefined;
    top.extraRefs = 0;
    this.releaseNodes();
    if (this.targetBlk) {
      this.sim.removeBlk(this.targetBlk);
    }
    const below = top.backing!;
    this.sim.graph.replaceNode(top, below);
    for (const c of [...top.children]) this.sim.graph.detach(c);
    this.sim.graph.remove(top);
    if (this.setup.ownsTarget) this.sim.graph.collect(this.setup.target);
    try {
      this.sim.refreshPerms();
    } catch {
      // taking the filter out relaxes permissions
    }
  }
}

/** bdrv_get_info's cluster size of a mirror target: a qcow2 below any raw or filter nodes, else 0 */
function targetClusterSize(node: BlockNode): number {
  for (let n: BlockNode | undefined = node, i = 0; n && i < 64; i++) {
    if (n.driver instanceof Qcow2Driver) return n.driver.layer.clusterSize;
    if (!(n.driver instanceof RawDriver) && !n.driver.isFilter) return 0;
    n = n.file ?? n.backing;
  }
  return 0;
}

/** bdrv_co_is_all_zeroes: block status says zero for the whole node */
function readsAllZeroes(node: BlockNode): boolean {
  if (nullUnallocated(node)) return false;
  return chainStatus(node, 0, node.size).every((e) => e.zero && !e.data);
}
