import { JobState, type JobStatus, type JobVerb } from '../../model/job-fsm.ts';
import { text } from '../../spec/versions.ts';
import type { Timer } from '../clock.ts';
import { generic } from '../qmp-error.ts';
import type { SimCore } from '../core.ts';

/**
 * A job as job.c runs it: the state machine comes from model/job-fsm.ts; this class adds what QEMU does on
 * each step (events, transactions, auto-finalize/auto-dismiss). The work itself (copying) is a subclass's
 * `work()`, run on the simulator's clock.
 */
export interface JobOptions {
  id: string;
  autoFinalize: boolean;
  autoDismiss: boolean;
  speed: number;
}

export class JobTxn {
  readonly jobs: Job[] = [];
  aborting = false;
}

export type JobRunResult = 'continue' | 'done' | { errno: number; message: string };

export abstract class Job {
  readonly state: JobState;
  readonly id: string;
  autoFinalize: boolean;
  autoDismiss: boolean;
  speed: number;
  progressCurrent = 0;
  progressTotal = 0;
  /** job->ret: 0, or a negative errno */
  ret = 0;
  error: string | undefined;
  cancelled = false;
  forceCancel = false;
  userPaused = false;
  pauseCount = 0;
  /** the job's coroutine has returned (job->deferred_to_main_loop) */
  finishedRun = false;
  started = false;
  txn: JobTxn;
  private timer: Timer | undefined;
  /** the run function is sleeping until this time (rate limit), or waiting for an event */
  sleeping = false;
  abstract readonly type: string;

  constructor(
    protected readonly sim: SimCore,
    opts: JobOptions,
    txn?: JobTxn,
  ) {
    this.id = opts.id;
    this.autoFinalize = opts.autoFinalize;
    this.autoDismiss = opts.autoDismiss;
    this.speed = opts.speed;
    this.state = JobState.initial(sim.version);
    this.txn = txn ?? new JobTxn();
    // job_txn_add_job uses QLIST_INSERT_HEAD: the newest job comes first
    this.txn.jobs.unshift(this);
  }

  get status(): JobStatus {
    return this.state.status;
  }

  /** job_state_transition: move, and tell the world when the state really changed */
  transition(to: JobStatus): void {
    const from = this.state.status;
    this.state.transition(to);
    if (from !== to) this.sim.events.emit('JOB_STATUS_CHANGE', { id: this.id, status: to });
  }

  /** job_create: registers the job and announces it */
  create(): void {
    this.sim.jobs.set(this.id, this);
    this.transition('created');
  }

  /** job_start */
  start(): void {
    this.started = true;
    this.transition('running');
    this.onStart();
    this.schedule(this.enterDelayNs);
  }

  protected onStart(): void {}

  /** One step of the job's coroutine; called on the clock. */
  protected abstract work(): JobRunResult;

  /** Bytes per second limit to nanoseconds of sleep after `bytes` of work (ratelimit_calculate_delay). */
  protected delayFor(bytes: number): number {
    if (this.speed <= 0 || bytes <= 0) return 0;
    return Math.ceil((bytes / this.speed) * 1e9);
  }

  schedule(delayNs: number): void {
    if (this.timer) this.sim.clock.cancel(this.timer);
    this.sleeping = delayNs > 0;
    this.timer = this.sim.clock.schedule(delayNs, () => {
      this.timer = undefined;
      this.sleeping = false;
      this.step();
    });
  }

  /** Park the coroutine: no timer until something enters the job again. */
  protected yieldForever(): void {
    if (this.timer) this.sim.clock.cancel(this.timer);
    this.timer = undefined;
    this.sleeping = true;
  }

  /** How long the job's coroutine takes to react when entered; a mirror answers after the command's reply. */
  protected get enterDelayNs(): number {
    return 0;
  }

  /** job_enter: wake the coroutine (cancel, resume, complete) */
  enter(): void {
    if (this.finishedRun) return;
    this.schedule(this.enterDelayNs);
  }

  private step(): void {
    if (this.finishedRun) return;
    if (this.pauseCount > 0) {
      // job_pause_point: the coroutine parks until resumed
      return;
    }
    if (this.isCancelled()) {
      this.finishRun();
      return;
    }
    let r: JobRunResult;
    try {
      r = this.work();
    } catch (e) {
      r = { errno: 5, message: e instanceof Error ? e.message : String(e) };
    }
    if (r === 'continue') return;
    if (r !== 'done') {
      this.ret = -r.errno;
      this.error = r.message;
    }
    this.finishRun();
  }

  /** job_is_cancelled: a soft cancel of a ready mirror is not a cancel */
  isCancelled(): boolean {
    return this.cancelled && this.forceCancel;
  }

  /** job_cancel_requested */
  cancelRequested(): boolean {
    return this.cancelled;
  }

  /** job_is_completed: past its run (waiting, pending, aborting, concluded, null) */
  completed(): boolean {
    return ['waiting', 'pending', 'aborting', 'concluded', 'null'].includes(this.status);
  }

  /** job_completed: the coroutine returned */
  protected finishRun(): void {
    if (this.timer) this.sim.clock.cancel(this.timer);
    this.timer = undefined;
    this.finishedRun = true;
    this.completedLocked();
  }

  /** job_update_rc */
  private updateRc(): number {
    if (this.ret === 0 && this.isCancelled()) this.ret = -125;
    if (this.ret !== 0) {
      if (!this.error) this.error = this.ret === -125 ? 'Operation canceled' : 'Input/output error';
      this.transition('aborting');
    }
    return this.ret;
  }

  private completedLocked(): void {
    const rc = this.updateRc();
    if (rc === 0) this.txnSuccess();
    else this.txnAbort();
  }

  private txnSuccess(): void {
    this.transition('waiting');
    for (const other of this.txn.jobs) {
      if (!other.completed()) return;
    }
    for (const j of [...this.txn.jobs]) j.transitionToPending();
    if (this.txn.jobs.every((j) => j.autoFinalize)) this.doFinalize();
  }

  private transitionToPending(): void {
    this.transition('pending');
    if (!this.autoFinalize) this.sim.events.emit('BLOCK_JOB_PENDING', { type: this.type, id: this.id });
  }

  /** job_do_finalize */
  doFinalize(): void {
    let failed = false;
    for (const j of [...this.txn.jobs]) {
      if (j.ret === 0) {
        const err = j.prepare();
        if (err) {
          j.ret = -5;
          j.error = err;
          failed = true;
          break;
        }
      }
    }
    if (failed) {
      this.txnAbort();
      return;
    }
    for (const j of [...this.txn.jobs]) j.finalizeSingle();
  }

  /** job_completed_txn_abort */
  private txnAbort(): void {
    const txn = this.txn;
    if (txn.aborting) return;
    txn.aborting = true;
    // One failure ends the whole transaction: the others are force-cancelled.
    for (const other of txn.jobs) if (other !== this) other.cancelAsync(true);
    let bound = txn.jobs.length + 1;
    while (txn.jobs.length > 0) {
      if (bound-- <= 0) throw new Error(`job transaction of ${this.id}: finalize loop did not end`);
      const other = txn.jobs[0];
      if (!other.completed()) {
        // job_finish_sync: its coroutine sees the cancel and returns
        if (other.timer) other.sim.clock.cancel(other.timer);
        other.timer = undefined;
        other.finishedRun = true;
        other.updateRc();
      }
      other.finalizeSingle();
    }
  }

  /** job_finalize_single: commit or abort, clean, events, conclude, maybe dismiss */
  private finalizeSingle(): void {
    this.updateRc();
    if (this.ret === 0) this.commit();
    else this.abort();
    this.clean();
    if (this.started) {
      const data = this.eventData();
      if (this.isCancelled()) this.sim.events.emit('BLOCK_JOB_CANCELLED', data);
      else {
        const ev: Record<string, unknown> = { ...data };
        if (this.ret !== 0) ev.error = this.error;
        this.sim.events.emit('BLOCK_JOB_COMPLETED', ev);
      }
    }
    const i = this.txn.jobs.indexOf(this);
    if (i >= 0) this.txn.jobs.splice(i, 1);
    this.transition('concluded');
    if (this.autoDismiss) this.dismiss();
  }

  eventData(): Record<string, unknown> {
    return { type: this.type, device: this.id, len: this.progressTotal, offset: this.progressCurrent, speed: this.speed };
  }

  /** job_do_dismiss */
  dismiss(): void {
    this.transition('null');
    this.sim.jobs.delete(this.id);
    this.afterDismiss();
  }

  protected prepare(): string | undefined {
    return undefined;
  }
  protected commit(): void {}
  protected abort(): void {}
  protected clean(): void {}
  protected afterDismiss(): void {}

  // ---- verbs (job.c job_user_* and friends) ----

  applyVerb(verb: JobVerb): void {
    if (!this.state.accepts(verb)) {
      throw generic(text(this.sim.version, 'job.verb', this.id, this.status, verb));
    }
  }

  userPause(): void {
    this.applyVerb('pause');
    if (this.userPaused) throw generic(text(this.sim.version, 'job.alreadyPaused'));
    this.userPaused = true;
    this.pause();
  }

  /** job_pause: a running job parks at its next pause point, which for us is now */
  pause(): void {
    this.pauseCount++;
    if (this.pauseCount === 1) this.enterPaused();
  }

  private enterPaused(): void {
    if (this.status === 'running') this.transition('paused');
    else if (this.status === 'ready') this.transition('standby');
  }

  userResume(): void {
    if (!this.userPaused || this.pauseCount <= 0) throw generic(text(this.sim.version, 'job.notPaused'));
    this.applyVerb('resume');
    this.userPaused = false;
    this.resume();
  }

  resume(): void {
    if (this.pauseCount <= 0) return;
    this.pauseCount--;
    if (this.pauseCount > 0) return;
    if (this.status === 'paused') this.transition('running');
    else if (this.status === 'standby') this.transition('ready');
    this.enter();
  }

  /** job_cancel (block-job-cancel force=false, job-cancel force=true) */
  userCancel(force: boolean): void {
    this.applyVerb('cancel');
    this.cancel(force);
  }

  cancel(force: boolean): void {
    if (this.status === 'concluded') {
      this.dismiss();
      return;
    }
    this.cancelAsync(force);
    if (!this.started) {
      this.finishRun();
    } else if (this.finishedRun) {
      // Done already (waiting/pending): only a forced cancel takes the transaction down.
      if (this.isCancelled()) this.txnAbort();
    } else {
      this.enter();
    }
  }

  /** job_cancel_async */
  cancelAsync(force: boolean): void {
    const f = this.driverCancel(force);
    if (this.userPaused) {
      this.userPaused = false;
      this.pauseCount = Math.max(0, this.pauseCount - 1);
      if (this.pauseCount === 0 && !this.finishedRun) {
        if (this.status === 'paused') this.transition('running');
        if (this.status === 'standby') this.transition('ready');
      }
    }
    // Soft cancel requests are ignored once the job is done.
    if (f || !this.finishedRun) {
      this.cancelled = true;
      this.forceCancel ||= f;
    }
  }

  /** BlockJobDriver.cancel: returns whether the cancel is forced (mirror: a ready job completes softly) */
  protected driverCancel(_force: boolean): boolean {
    // No .cancel(): the job behaves as if force-cancelled.
    return true;
  }

  userComplete(): void {
    this.applyVerb('complete');
    this.complete();
  }

  protected complete(): void {
    throw generic(`Job type ${this.type} does not support completion`);
  }

  userFinalize(): void {
    this.applyVerb('finalize');
    this.doFinalize();
  }

  userDismiss(): void {
    this.applyVerb('dismiss');
    this.dismiss();
  }

  setSpeed(speed: number): void {
    this.applyVerb('set-speed');
    if (speed < 0) throw generic(`Parameter 'speed' expects a non-negative value`);
    this.speed = speed;
    if (this.sleeping && this.timer) this.enter();
  }
}
