import { BlockBackend, type BlockNode } from '../block/graph.ts';
import { addBlocker, type OpBlocker, removeBlocker } from '../block/op-blockers.ts';
import { PERM_ALL } from '../block/perm.ts';
import { Job } from './job.ts';

/**
 * A block job (blockjob.c): a job with a BlockBackend on its main node and references to the other nodes
 * it uses, each of which it marks busy with an op blocker.
 */
export abstract class BlockJob extends Job {
  blk: BlockBackend | undefined;
  readonly blockedNodes: BlockNode[] = [];
  readonly extraEdges: import('../block/graph.ts').BdrvChild[] = [];
  ioStatus: 'ok' | 'failed' | 'nospace' = 'ok';
  /** the job's nodes are drained from the end of its run until its exit (mirror): it counts as paused */
  drainedAfterRun = false;

  override get isBlockJob(): boolean {
    return true;
  }

  /** block_job_create's blocker: one Error for every node of the job, blocking every operation */
  private blockerOf: OpBlocker | undefined;
  get blocker(): OpBlocker {
    this.blockerOf ??= { reason: `block device is in use by block job: ${this.type}` };
    return this.blockerOf;
  }

  /** block_job_create's BlockBackend on the main node and its op blocker */
  attachMain(node: BlockNode, perm: number, shared: number): void {
    const blk = new BlockBackend(undefined, `${this.type} job '${this.id}'`, perm, shared);
    this.sim.graph.attach({ kind: 'blk', blk }, node, 'root', 'other', true);
    this.sim.addBlk(blk);
    this.blk = blk;
    this.block(node);
  }

  /** block_job_add_bdrv */
  addNode(name: string, node: BlockNode, perm = 0, shared = PERM_ALL): void {
    const c = this.sim.graph.attach(
      { kind: 'job', jobType: this.type, jobId: this.id },
      node,
      name,
      'other',
      true,
    );
    c.perm = perm;
    c.shared = shared;
    this.extraEdges.push(c);
    this.block(node);
  }

  private block(node: BlockNode): void {
    addBlocker(node, this.blocker);
    this.blockedNodes.push(node);
  }

  /** block_job_remove_all_bdrv: drop the references and blockers (job clean-up) */
  releaseNodes(): void {
    for (const n of this.blockedNodes) {
      removeBlocker(n, this.blocker);
    }
    this.blockedNodes.length = 0;
    for (const c of this.extraEdges) {
      this.sim.graph.detach(c);
      this.sim.graph.collect(c.bs);
    }
    this.extraEdges.length = 0;
    if (this.blk) {
      this.sim.removeBlk(this.blk);
      this.blk = undefined;
    }
    try {
      this.sim.refreshPerms();
    } catch {
      // dropping references only relaxes permissions
    }
  }

  /** block_job_user_resume: the job's I/O status is reset */
  override userResume(): void {
    super.userResume();
    this.ioStatus = 'ok';
  }

  protected override afterDismiss(): void {
    this.releaseNodes();
  }

  /** the driver has a .change (block-job-change) */
  get supportsChange(): boolean {
    return false;
  }

  /** members of the job type's branch of BlockJobInfo */
  protected extraInfo(): Record<string, unknown> {
    return {};
  }

  /** BlockJobInfo (query-block-jobs), in QAPI member order */
  info(): Record<string, unknown> {
    const out: Record<string, unknown> = {
      type: this.type,
      device: this.id,
      len: this.progressTotal,
      offset: this.progressCurrent,
      busy: false,
      paused: this.pauseCount > 0 || this.drainedAfterRun,
      speed: this.speed,
      'io-status': this.ioStatus,
      ready: this.status === 'ready' || this.status === 'standby',
      status: this.status,
      'auto-finalize': this.autoFinalize,
      'auto-dismiss': this.autoDismiss,
    };
    if (this.error !== undefined && (this.status === 'concluded' || this.status === 'aborting'))
      out.error = this.error;
    return { ...out, ...this.extraInfo() };
  }
}
