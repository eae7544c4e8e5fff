import { hasFeature } from '../../spec/versions.ts';
import type { SimCore } from '../core.ts';
import { MirrorTopDriver } from '../drivers/mirror-top.ts';
import { BlockBackend, BlockNode } from '../graph.ts';
import { IoError, strerror } from '../io-error.ts';
import { PERM } from '../perm.ts';
import { generic } from '../qmp-error.ts';
import { BlockJob } from './block-job.ts';
import type { JobOptions, JobRunResult } from './job.ts';
import { BLOCK_JOB_SLICE_TIME_NS } from './ratelimit.ts';

export interface MirrorSetup extends JobOptions {
  source: BlockNode;
  target: BlockNode;
  sync: 'top' | 'full' | 'none';
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

  attach(): void {
    this.attachMain(this.top, PERM.CONSISTENT_READ, PERM.CONSISTENT_READ | PERM.WRITE_UNCHANGED | PERM.WRITE);
    const blk = new BlockBackend(
      undefined,
      `mirror job '${this.id}' target`,
      PERM.WRITE | PERM.RESIZE,
      PERM.WRITE_UNCHANGED,
    );
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
        for (const e of src.blockStatus(0, src.size)) {
          if (this.setup.sync === 'top' && e.status === 'unallocated') continue;
          this.markDirty(e.offset, e.length);
        }
        // nothing allocated still needs its zeroes mirrored for full sync of a fresh target
        if (this.dirty.size === 0 && this.setup.sync === 'full') this.markDirty(0, src.size);
      }
      this.progressTotal = this.dirtyBytes();
    }
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
        if (len > 0) tgt.write(off, src.read(off, len));
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
      // mirror_iteration accounts what it copied; before 8.0 the delay it returned was slept once, and a
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
  change(copyMode: 'background' | 'write-blocking'): void {
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
