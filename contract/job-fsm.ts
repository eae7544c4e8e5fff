import { type AnyStateMachine, createMachine, getNextSnapshot, type MachineSnapshot } from 'xstate';
import { hasFeature, type VersionInfo } from './versions.ts';

/**
 * QEMU's job state machine (job.c: JobSTT and JobVerbTable), the single copy that both the simulator's jobs
 * and the generated conformance checks use. States and verbs are QEMU's names.
 */
export const JOB_STATES = [
  'undefined',
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
] as const;
export type JobStatus = (typeof JOB_STATES)[number];

export const JOB_VERBS = [
  'cancel',
  'pause',
  'resume',
  'set-speed',
  'complete',
  'finalize',
  'dismiss',
  'change',
] as const;
export type JobVerb = (typeof JOB_VERBS)[number];

/** JobSTT: from -> allowed targets. */
export const JOB_TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  undefined: ['created'],
  created: ['running', 'aborting', 'null'],
  running: ['paused', 'ready', 'waiting', 'aborting'],
  paused: ['running'],
  ready: ['standby', 'waiting', 'aborting'],
  standby: ['ready'],
  waiting: ['pending', 'aborting'],
  pending: ['aborting', 'concluded'],
  aborting: ['aborting', 'concluded'],
  concluded: ['null'],
  null: [],
};

const ACTIVE: readonly JobStatus[] = ['created', 'running', 'paused', 'ready', 'standby'];

/** JobVerbTable as it stands in a given version. */
export function verbTable(v: VersionInfo): Record<JobVerb, readonly JobStatus[]> {
  return {
    cancel: ['created', 'running', 'paused', 'ready', 'standby', 'waiting', 'pending'],
    pause: ACTIVE,
    resume: ACTIVE,
    'set-speed': ACTIVE,
    complete: hasFeature(v, 'complete-in-standby') ? ['ready', 'standby'] : ['ready'],
    finalize: ['pending'],
    dismiss: ['concluded'],
    change: hasFeature(v, 'block-job-change') ? ACTIVE : [],
  };
}

export type JobEvent = { type: `to.${JobStatus}` } | { type: `verb.${JobVerb}` };

/** The machine: `to.X` events are the internal transitions, `verb.X` events are accepted where the table allows. */
export function createJobMachine(v: VersionInfo) {
  const verbs = verbTable(v);
  const states: Record<string, { on: Record<string, { target?: string }>; type?: 'final' }> = {};
  for (const s of JOB_STATES) {
    const on: Record<string, { target?: string }> = {};
    for (const t of JOB_TRANSITIONS[s]) on[`to.${t}`] = { target: t };
    for (const verb of Object.keys(verbs) as JobVerb[]) {
      // A verb leaves the state where it is; the target makes xstate count it as enabled.
      if (verbs[verb].includes(s)) on[`verb.${verb}`] = { target: s };
    }
    states[s] = { on };
  }
  return createMachine({
    id: `qemu-job-${v.profile}`,
    types: {} as { events: JobEvent },
    initial: 'undefined',
    states,
  });
}

type JobMachine = ReturnType<typeof createJobMachine>;
export type JobSnapshot = MachineSnapshot<
  Record<string, never>,
  JobEvent,
  Record<string, never>,
  string,
  string,
  unknown,
  Record<string, never>,
  never
>;

const machines = new Map<string, JobMachine>();
export function jobMachineFor(v: VersionInfo): JobMachine {
  let m = machines.get(v.profile);
  if (!m) {
    m = createJobMachine(v);
    machines.set(v.profile, m);
  }
  return m;
}

/**
 * A job's state as the simulator holds it: a pure value, advanced by pure functions.
 */
export class JobState {
  private constructor(
    private readonly machine: AnyStateMachine,
    private snap: ReturnType<AnyStateMachine['resolveState']>,
  ) {}

  static initial(v: VersionInfo): JobState {
    const m = jobMachineFor(v) as unknown as AnyStateMachine;
    return new JobState(m, m.resolveState({ value: 'undefined', context: {} }));
  }

  get status(): JobStatus {
    return this.snap.value as JobStatus;
  }

  canTransition(to: JobStatus): boolean {
    return this.snap.can({ type: `to.${to}` });
  }

  /** Internal transition; an illegal one is a simulator bug, so it throws. */
  transition(to: JobStatus): void {
    if (!this.canTransition(to))
      throw new Error(`job state machine: illegal transition ${this.status} -> ${to}`);
    this.snap = getNextSnapshot(this.machine, this.snap, { type: `to.${to}` });
  }

  accepts(verb: JobVerb): boolean {
    return this.snap.can({ type: `verb.${verb}` });
  }
}
