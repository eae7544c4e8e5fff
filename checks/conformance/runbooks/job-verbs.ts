import { JOB_VERBS, type JobStatus, type JobVerb, verbTable } from '../../../contract/job-fsm.ts';
import { type Feature, versionInfo } from '../../../contract/versions.ts';
import { defineRunbook, type ParsedRunbook, type Step } from './define.ts';
import {
  backup,
  GiB,
  GROUPED,
  type Json,
  MiB,
  mirror,
  nullNode,
  SLOW,
  transaction,
  waitEvent,
  waitJob,
} from './steps.ts';

/**
 * The job verb table, generated from model/job-fsm.ts: every verb of JOB_VERBS, through every QMP command
 * that carries it (block-job-* and job-*), applied to a backup and to a mirror job held in each state a
 * QMP client can hold it in (running, paused, waiting, ready, standby, pending, concluded, and gone).
 * Where a verb is accepted, the job is also tried with auto-finalize/auto-dismiss off, so the outcome
 * stops where those flags say. What QEMU answers is not written here: the recordings of each version are
 * the expectation, and the simulator must match them.
 *
 * States are made stable rather than waited out: "running" is a sync=full backup or mirror of a 10 GiB
 * null-co node at 32 KiB/s (one chunk copied, then a sleep of seconds: a mirror with a 64 KiB buffer
 * copies 64 KiB, a backup one cluster (5.2) or 1 MiB (block-copy)); small nodes complete at once.
 */
type Kind = 'backup' | 'mirror';
type Flags = { 'auto-finalize'?: boolean; 'auto-dismiss'?: boolean };

interface StateRecipe {
  state: JobStatus | 'gone';
  /** variants of the job's flags; the first is used for every command, the others where the verb is accepted */
  variants: { suffix: string; flags: Flags }[];
  /** steps that create the nodes and bring job `j` into the state; `others` are further jobs to clean up */
  setup(flags: Flags): Step[];
  others?: string[];
}

const BIG = [nullNode('bsrc', 10 * GiB), nullNode('btgt', 10 * GiB)];
const SMALL = [nullNode('ssrc', MiB), nullNode('stgt', MiB)];
const MID = [nullNode('msrc', 4 * MiB), nullNode('mtgt', 4 * MiB)];

const AUTO = { suffix: '', flags: {} };
const MANUAL = { suffix: '-manual', flags: { 'auto-finalize': false, 'auto-dismiss': false } };

const RECIPES: Record<Kind, StateRecipe[]> = {
  backup: [
    {
      state: 'running',
      variants: [AUTO, MANUAL],
      setup: (f) => [...BIG, backup('j', 'bsrc', 'btgt', 'full', { speed: SLOW, ...f }), { sleepMs: 100 }],
    },
    {
      state: 'paused',
      variants: [AUTO, MANUAL],
      // before 6.x a pause takes effect at the job's next pause point: wait for it
      setup: (f) => [
        ...BIG,
        backup('j', 'bsrc', 'btgt', 'full', { speed: SLOW, ...f }),
        { sleepMs: 100 },
        { qmp: 'job-pause', args: { id: 'j' } },
        waitJob('j', 'paused'),
      ],
    },
    {
      // a grouped transaction: j is done, its partner k still runs, so j waits
      state: 'waiting',
      variants: [AUTO, MANUAL],
      others: ['k'],
      setup: (f) => [
        ...SMALL,
        ...BIG,
        transaction(
          [
            backup('j', 'ssrc', 'stgt', 'full', f),
            backup('k', 'bsrc', 'btgt', 'full', { speed: SLOW, ...f }),
          ],
          GROUPED,
        ),
        waitJob('j', 'waiting'),
        { sleepMs: 100 },
      ],
    },
    {
      state: 'pending',
      variants: [
        { suffix: '', flags: { 'auto-finalize': false } },
        { suffix: '-manual', flags: { 'auto-finalize': false, 'auto-dismiss': false } },
      ],
      setup: (f) => [...SMALL, backup('j', 'ssrc', 'stgt', 'full', f), waitEvent('BLOCK_JOB_PENDING')],
    },
    {
      state: 'concluded',
      variants: [{ suffix: '', flags: { 'auto-dismiss': false } }],
      setup: (f) => [...SMALL, backup('j', 'ssrc', 'stgt', 'full', f), waitJob('j', 'concluded')],
    },
    {
      state: 'gone',
      variants: [AUTO],
      setup: (f) => [...SMALL, backup('j', 'ssrc', 'stgt', 'full', f), waitJob('j', 'null')],
    },
  ],
  mirror: [
    {
      state: 'running',
      variants: [AUTO, MANUAL],
      setup: (f) => [
        ...BIG,
        mirror('j', 'bsrc', 'btgt', 'full', { speed: SLOW, 'buf-size': 65536, ...f }),
        { sleepMs: 100 },
      ],
    },
    {
      state: 'paused',
      variants: [AUTO, MANUAL],
      setup: (f) => [
        ...BIG,
        mirror('j', 'bsrc', 'btgt', 'full', { speed: SLOW, 'buf-size': 65536, ...f }),
        { sleepMs: 100 },
        { qmp: 'job-pause', args: { id: 'j' } },
        waitJob('j', 'paused'),
      ],
    },
    {
      state: 'ready',
      variants: [AUTO, MANUAL],
      setup: (f) => [...MID, mirror('j', 'msrc', 'mtgt', 'full', f), waitEvent('BLOCK_JOB_READY')],
    },
    {
      state: 'standby',
      variants: [AUTO, MANUAL],
      setup: (f) => [
        ...MID,
        mirror('j', 'msrc', 'mtgt', 'full', f),
        waitEvent('BLOCK_JOB_READY'),
        { qmp: 'job-pause', args: { id: 'j' } },
        waitJob('j', 'standby'),
      ],
    },
    {
      state: 'pending',
      variants: [
        { suffix: '', flags: { 'auto-finalize': false } },
        { suffix: '-manual', flags: { 'auto-finalize': false, 'auto-dismiss': false } },
      ],
      setup: (f) => [
        ...MID,
        mirror('j', 'msrc', 'mtgt', 'full', f),
        waitEvent('BLOCK_JOB_READY'),
        { qmp: 'job-complete', args: { id: 'j' } },
        waitEvent('BLOCK_JOB_PENDING'),
      ],
    },
    {
      state: 'concluded',
      variants: [{ suffix: '', flags: { 'auto-dismiss': false } }],
      setup: (f) => [
        ...MID,
        mirror('j', 'msrc', 'mtgt', 'full', f),
        waitEvent('BLOCK_JOB_READY'),
        { qmp: 'job-complete', args: { id: 'j' } },
        waitJob('j', 'concluded'),
      ],
    },
    {
      state: 'gone',
      variants: [AUTO],
      setup: (f) => [
        ...MID,
        mirror('j', 'msrc', 'mtgt', 'full', f),
        waitEvent('BLOCK_JOB_READY'),
        { qmp: 'job-complete', args: { id: 'j' } },
        waitJob('j', 'null'),
      ],
    },
  ],
};

interface VerbCommand {
  name: string;
  command: string;
  args: Json;
  needs?: Feature[];
}

/** Every QMP command that applies `verb` to job j. */
function commandsFor(verb: JobVerb, kind: Kind): VerbCommand[] {
  const dev = { device: 'j' };
  const id = { id: 'j' };
  switch (verb) {
    case 'cancel':
      return [
        { name: 'block-job-cancel', command: 'block-job-cancel', args: dev },
        { name: 'block-job-cancel-force', command: 'block-job-cancel', args: { ...dev, force: true } },
        { name: 'job-cancel', command: 'job-cancel', args: id },
      ];
    case 'pause':
    case 'resume':
    case 'complete':
      return [
        { name: `block-job-${verb}`, command: `block-job-${verb}`, args: dev },
        { name: `job-${verb}`, command: `job-${verb}`, args: id },
      ];
    case 'finalize':
    case 'dismiss':
      return [
        { name: `block-job-${verb}`, command: `block-job-${verb}`, args: id },
        { name: `job-${verb}`, command: `job-${verb}`, args: id },
      ];
    case 'set-speed':
      return [
        { name: 'block-job-set-speed', command: 'block-job-set-speed', args: { ...dev, speed: 2 * SLOW } },
      ];
    case 'change':
      return [
        {
          name: 'block-job-change',
          command: 'block-job-change',
          args:
            kind === 'mirror'
              ? { id: 'j', type: 'mirror', 'copy-mode': 'write-blocking' }
              : { id: 'j', type: 'backup' },
          needs: ['block-job-change'],
        },
      ];
  }
}

/** Verbs whose outcome depends on auto-finalize/auto-dismiss: they move a job towards its end. */
const ENDING: readonly JobVerb[] = ['cancel', 'complete', 'finalize', 'dismiss'];

/** A verb counts as accepted in a state if any version's table accepts it there. */
const TABLES = (['5.2', '7.2', '10.0', '11.1'] as const).map((p) => verbTable(versionInfo(p)));
function acceptedSomewhere(verb: JobVerb, state: JobStatus | 'gone'): boolean {
  return state !== 'gone' && TABLES.some((t) => t[verb].includes(state));
}

function cleanup(ids: string[]): Step[] {
  return [
    ...ids.map((id): Step => ({ qmp: 'job-cancel', args: { id } })),
    { sleepMs: 200 },
    ...ids.map((id): Step => ({ qmp: 'job-dismiss', args: { id } })),
    { qmp: 'query-jobs' },
  ];
}

function generate(): ParsedRunbook[] {
  const out: ParsedRunbook[] = [];
  for (const kind of ['backup', 'mirror'] as const) {
    for (const recipe of RECIPES[kind]) {
      for (const verb of JOB_VERBS) {
        for (const cmd of commandsFor(verb, kind)) {
          const variants =
            ENDING.includes(verb) && acceptedSomewhere(verb, recipe.state)
              ? recipe.variants
              : recipe.variants.slice(0, 1);
          for (const v of variants) {
            const flagsText = Object.entries(v.flags)
              .map(([k, x]) => `${k}=${String(x)}`)
              .join(', ');
            out.push(
              defineRunbook({
                id: `job-verbs/${kind}/${recipe.state}${v.suffix}/${cmd.name}`,
                title: `${cmd.command} ${JSON.stringify(cmd.args)} on a ${kind} job in state ${recipe.state}${flagsText ? ` (${flagsText})` : ''}`,
                needs: cmd.needs ?? [],
                steps: [
                  ...recipe.setup(v.flags),
                  { qmp: 'query-jobs' },
                  { qmp: 'query-block-jobs' },
                  { qmp: cmd.command, args: cmd.args },
                  { sleepMs: 200 },
                  { qmp: 'query-jobs' },
                  ...cleanup(['j', ...(recipe.others ?? [])]),
                ],
              }),
            );
          }
        }
      }
    }
  }
  return out;
}

export const JOB_VERB_RUNBOOKS: ParsedRunbook[] = generate();
