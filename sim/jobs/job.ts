import { JobState, type JobStatus, type JobVerb } from '../../contract/job-fsm.ts';
import { hasFeature, text } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import type { Timer } from '../util/clock.ts';
import { strerror } from '../util/io-error.ts';
import { generic } from '../util/qmp-error.ts';
import { RateLimit } from './ratelimit.ts';

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

/**
 * aio_bh_schedule_oneshot on the main loop: bottom halves scheduled in one turn of the loop run together
 * at its next turn, newest first (util/async.c takes them off the head of a list it pushes onto).
 */
const bhQueues = new WeakMap<SimCore, (() => void)[]>();
function scheduleBh(sim: SimCore, fn: () => void): void {
  let q = bhQueues.get(sim);
  if (!q) {
    q = [];
    bhQueues.set(sim, q);
  }
  q.push(fn);
  if (q.length > 1) return;
  const queue = q;
  sim.clock.schedule(0, () => {
    for (const f of queue.splice(0).reverse()) f();
  });
}

/** QEMU's job list (job.c `jobs`), in creation order, one per simulated QEMU: the jobs module owns it. */
const jobLists = new WeakMap<SimCore, Map<string, Job>>();

export function jobsOf(core: SimCore): Map<string, Job> {
  let m = jobLists.get(core);
  if (!m) {
    m = new Map();
    jobLists.set(core, m);
  }
  return m;
}

export abstract class Job {
  readonly state: JobState;
  readonly id: string;
  autoFinalize: boolean;
  autoDismiss: boolean;
  private speedValue = 0;
  /** job->limit (blockjob.c): the rate limit of jobs that sleep in job_sleep_ns */
  protected readonly limit = new RateLimit();
  progressCurrent = 0;
  progressTotal = 0;
  /** job->ret: 0, or a negative errno */
  ret = 0;
  error: string | undefined;
  cancelled = false;
  forceCancel = false;
  userPaused = false;
  pauseCount = 0;
  /** the coroutine sits at its pause point (status paused or standby) */
  atPausePoint = false;
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

  get speed(): number {
    return this.speedValue;
  }

  /** block_job_set_speed's effect: the limit changes at once (the verb checks are in setSpeed) */
  set speed(v: number) {
    this.speedValue = v;
    this.limit.setSpeed(v);
  }

  /** the job sleeps on its timer (job_sleep_ns), as opposed to running or parked in job_yield */
  get timerPending(): boolean {
    return this.timer !== undefined && this.sleeping;
  }

  /** job_state_transition: move, and tell the world when the state really changed */
  transition(to: JobStatus): void {
    const from = this.state.status;
    this.state.transition(to);
    if (from !== to) this.sim.events.emit('JOB_STATUS_CHANGE', { id: this.id, status: to });
  }

  /** job_create: registers the job and announces it */
  create(): void {
    jobsOf(this.sim).set(this.id, this);
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

  /** How long a job parked while idle really sleeps between checks (a ready mirror: BLOCK_JOB_SLICE_TIME). */
  protected get idleSliceNs(): number | undefined {
    return undefined;
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
    if (this.pauseCount > 0 && !this.isCancelled()) {
      // job_pause_point: the coroutine parks until resumed
      this.parkAtPausePoint();
      return;
    }
    if (this.isCancelled()) {
      this.finishRun(true);
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
    this.finishRun(true);
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

  /**
   * The coroutine returned (deferred_to_main_loop); job_completed runs now, or, when the coroutine itself
   * ended (`deferred`), in a bottom half of the main loop (job_exit).
   */
  protected finishRun(deferred = false): void {
    if (this.timer) this.sim.clock.cancel(this.timer);
    this.timer = undefined;
    this.finishedRun = true;
    if (!deferred) {
      this.completedLocked();
      return;
    }
    scheduleBh(this.sim, () => {
      // a transaction abort may have finished the job meanwhile
      if (!this.completed() && jobsOf(this.sim).get(this.id) === this) this.completedLocked();
    });
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
    if (!this.autoFinalize && this.isBlockJob)
      this.sim.events.emit('BLOCK_JOB_PENDING', { type: this.type, id: this.id });
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
    // job_finish_sync: the coroutine sees the cancel and returns
    const finishSync = (other: Job) => {
      if (other.timer) other.sim.clock.cancel(other.timer);
      other.timer = undefined;
      other.finishedRun = true;
      other.updateRc();
    };
    if (hasFeature(this.sim.version, 'job-txn-abort-finish-all')) {
      for (const other of [...txn.jobs]) if (!other.completed()) finishSync(other);
    }
    let bound = txn.jobs.length + 1;
    while (txn.jobs.length > 0) {
      if (bound-- <= 0) throw new Error(`job transaction of ${this.id}: finalize loop did not end`);
      const other = txn.jobs[0];
      if (!other.completed()) finishSync(other);
      other.finalizeSingle();
    }
  }

  /** job_finalize_single: commit or abort, clean, events, conclude, maybe dismiss */
  private finalizeSingle(): void {
    this.updateRc();
    if (this.ret === 0) this.commit();
    else this.abort();
    this.clean();
    if (this.started && this.isBlockJob) {
      const data = this.eventData();
      if (this.isCancelled()) this.sim.events.emit('BLOCK_JOB_CANCELLED', data);
      else {
        const ev: Record<string, unknown> = { ...data };
        if (this.ret !== 0)
          ev.error = hasFeature(this.sim.version, 'job-event-error-message')
            ? this.error
            : strerror(-this.ret);
        this.sim.events.emit('BLOCK_JOB_COMPLETED', ev);
      }
    }
    const i = this.txn.jobs.indexOf(this);
    if (i >= 0) this.txn.jobs.splice(i, 1);
    this.transition('concluded');
    if (this.autoDismiss) this.dismiss();
  }

  /** BLOCK_JOB_* events come from blockjob.c's notifiers: only block jobs send them */
  get isBlockJob(): boolean {
    return false;
  }

  eventData(): Record<string, unknown> {
    return {
      type: this.type,
      device: this.id,
      len: this.progressTotal,
      offset: this.progressCurrent,
      speed: this.speed,
    };
  }

  /** job_do_dismiss */
  dismiss(): void {
    this.transition('null');
    jobsOf(this.sim).delete(this.id);
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

  /**
   * job_pause: the job parks at its next pause point. Since 6.x job_pause enters a sleeping job, so that is
   * now; before, a job sleeping on its timer pauses only when the timer fires, and one parked in
   * job_yield only when something enters it.
   */
  pause(): void {
    this.pauseCount++;
    if (this.pauseCount !== 1 || this.finishedRun || !this.started || this.atPausePoint) return;
    if (hasFeature(this.sim.version, 'job-pause-enters')) {
      this.parkAtPausePoint();
    } else if (!this.timer) {
      const slice = this.idleSliceNs;
      if (slice !== undefined) this.schedule(slice);
    }
  }

  private parkAtPausePoint(): void {
    if (this.timer) this.sim.clock.cancel(this.timer);
    this.timer = undefined;
    this.sleeping = false;
    this.atPausePoint = true;
    if (this.status === 'running') this.transition('paused');
    else if (this.status === 'ready') this.transition('standby');
  }

  /** the coroutine leaves its pause point (job_pause_point after the yield) */
  private leavePausePoint(): void {
    this.atPausePoint = false;
    if (this.status === 'paused') this.transition('running');
    else if (this.status === 'standby') this.transition('ready');
  }

  userResume(): void {
    if (!this.userPaused || this.pauseCount <= 0) throw generic(text(this.sim.version, 'job.notPaused'));
    this.applyVerb('resume');
    this.userPaused = false;
    this.resume();
  }

  /** job_resume: kick the job only if no timer is pending */
  resume(): void {
    if (this.pauseCount <= 0) return;
    this.pauseCount--;
    if (this.pauseCount > 0) return;
    if (this.atPausePoint) {
      this.leavePausePoint();
      this.enter();
    } else if (!this.timerPending) {
      this.enter();
    }
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
      // no job_enter here: the caller enters the job, which then leaves its pause point
      this.userPaused = false;
      this.pauseCount = Math.max(0, this.pauseCount - 1);
      if (this.pauseCount === 0 && this.atPausePoint && !this.finishedRun) this.leavePausePoint();
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
    // before complete-in-standby (6.0) a paused job could not be completed at all
    const paused = !hasFeature(this.sim.version, 'complete-in-standby') && this.pauseCount > 0;
    if (paused || this.cancelRequested() || !this.completable)
      throw generic(`The active block job '${this.id}' cannot be completed`);
    this.complete();
  }

  /** the driver has a .complete */
  protected get completable(): boolean {
    return false;
  }

  protected complete(): void {}

  userFinalize(): void {
    this.applyVerb('finalize');
    this.doFinalize();
  }

  userDismiss(): void {
    this.applyVerb('dismiss');
    this.dismiss();
  }

  /** block_job_set_speed */
  setSpeed(speed: number): void {
    this.applyVerb('set-speed');
    if (speed < 0) throw generic(`Parameter 'speed' expects a non-negative value`);
    const old = this.speed;
    this.speed = speed;
    if (speed && speed <= old) return;
    // kick only if a timer is pending
    if (this.timerPending) this.enter();
  }
}
