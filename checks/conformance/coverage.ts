import { JOB_STATES, JOB_TRANSITIONS, type JobStatus } from '../../contract/job-fsm.ts';
import { Introspection, type ObjectEntry } from '../../contract/qapi/introspection.ts';
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import type { Profile } from '../../contract/versions.ts';

/**
 * What the conformance suite covers, per QEMU version, read from transcripts and the introspected schema —
 * never written by hand: the QMP commands × outcomes (accepted, each error class) exercised on real QEMU
 * (the recordings), on the simulator only (the suite run on the simulator), or never; the arguments of the
 * fleecing commands; and the job state machine's transitions (JOB_STATUS_CHANGE events) per job type.
 */
export interface CoverageTranscript {
  steps: { request: unknown; reply?: unknown }[];
  events: { event: string; data?: unknown }[];
}

/** where an item was exercised: on real QEMU (a recording), or on the simulator only */
export type Where = 'real' | 'sim';

export interface CommandRow {
  command: string;
  /** outcomes: 'accepted' or QEMU's error class */
  real: string[];
  simOnly: string[];
}

export interface ArgumentRow {
  /** the command, or blockdev-add's driver / transaction's actions as `blockdev-add driver=X` */
  command: string;
  real: string[];
  simOnly: string[];
  never: string[];
}

export interface JobRow {
  type: string;
  /** JobSTT transitions as `from>to` */
  real: string[];
  simOnly: string[];
  uncovered: string[];
  total: number;
}

export interface VersionCoverage {
  version: string;
  /** commands of the version's schema (qemu-storage-daemon and qemu-system together) */
  schemaCommands: number;
  commands: { real: number; simOnly: number; never: number };
  outcomes: { real: number; simOnly: number };
  arguments: { real: number; simOnly: number; total: number };
  transitions: { real: number; simOnly: number; total: number };
  table: CommandRow[];
  never: string[];
  args: ArgumentRow[];
  jobs: JobRow[];
}

export interface CoverageReport {
  tool: 'fleece-lab';
  kind: 'coverage';
  versions: VersionCoverage[];
}

/** the fleecing commands whose arguments are followed one by one */
export const ARGUMENT_COMMANDS = [
  'blockdev-backup',
  'block-export-add',
  'transaction',
  'job-cancel',
  'job-pause',
  'job-resume',
  'job-complete',
  'job-finalize',
  'job-dismiss',
  'block-job-cancel',
  'block-job-pause',
  'block-job-resume',
  'block-job-complete',
  'block-job-finalize',
  'block-job-dismiss',
  'block-job-set-speed',
  'block-job-change',
];
/** blockdev-add's drivers that fleecing builds its graphs of */
export const FLEECING_DRIVERS = ['copy-before-write', 'snapshot-access', 'qcow2', 'raw', 'file'];

/** the commands that start a job, and the type of the job they start */
const JOB_TYPE: Record<string, string> = {
  'blockdev-backup': 'backup',
  'drive-backup': 'backup',
  'blockdev-mirror': 'mirror',
  'drive-mirror': 'mirror',
  'block-commit': 'commit',
  'block-stream': 'stream',
  'blockdev-create': 'create',
  'x-blockdev-amend': 'amend',
  'blockdev-amend': 'amend',
};

const ALL_TRANSITIONS = JOB_STATES.flatMap((from) => JOB_TRANSITIONS[from].map((to) => `${from}>${to}`));

interface Seen {
  outcomes: Map<string, Set<string>>;
  args: Map<string, Set<string>>;
  jobs: Map<string, Set<string>>;
}

function outcomeOf(reply: unknown): string | undefined {
  if (reply === null || typeof reply !== 'object') return undefined;
  const r = reply as { return?: unknown; error?: { class?: unknown } };
  if ('error' in r) return typeof r.error?.class === 'string' ? r.error.class : 'error';
  return 'return' in r ? 'accepted' : undefined;
}

function add(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k) ?? new Set<string>();
  s.add(v);
  m.set(k, s);
}

function objectArgs(a: unknown): Record<string, unknown> {
  return a !== null && typeof a === 'object' && !Array.isArray(a) ? (a as Record<string, unknown>) : {};
}

/** the argument names a request used, under the row they count for */
function argumentsOf(command: string, args: Record<string, unknown>, seen: Seen): void {
  if (command === 'blockdev-add') {
    const driver = String(args.driver ?? '');
    if (FLEECING_DRIVERS.includes(driver))
      for (const k of Object.keys(args)) add(seen.args, `blockdev-add driver=${driver}`, k);
    return;
  }
  if (!ARGUMENT_COMMANDS.includes(command)) return;
  for (const k of Object.keys(args)) add(seen.args, command, k);
  if (command === 'transaction' && Array.isArray(args.actions))
    for (const a of args.actions) add(seen.args, 'transaction action', String(objectArgs(a).type ?? ''));
}

function read(transcripts: Iterable<CoverageTranscript>): Seen {
  const seen: Seen = { outcomes: new Map(), args: new Map(), jobs: new Map() };
  for (const t of transcripts) {
    // which job each id is, from the command that started it (a job's id defaults to its device)
    const types = new Map<string, string>();
    for (const s of t.steps) {
      const req = objectArgs(s.request);
      const command = req.execute;
      if (typeof command !== 'string') continue;
      const args = objectArgs(req.arguments);
      const outcome = outcomeOf(s.reply);
      if (outcome) add(seen.outcomes, command, outcome);
      argumentsOf(command, args, seen);
      const starts: [string, Record<string, unknown>][] =
        command === 'transaction' && Array.isArray(args.actions)
          ? args.actions.map((a) => [String(objectArgs(a).type), objectArgs(objectArgs(a).data)])
          : [[command, args]];
      for (const [c, a] of starts) {
        const type = JOB_TYPE[c];
        const id = a['job-id'] ?? a.device;
        if (type && typeof id === 'string') types.set(id, type);
      }
    }
    const at = new Map<string, JobStatus>();
    for (const e of t.events) {
      if (e.event !== 'JOB_STATUS_CHANGE') continue;
      const d = objectArgs(e.data);
      const id = String(d.id);
      const to = d.status as JobStatus;
      const from = at.get(id) ?? 'undefined';
      add(seen.jobs, types.get(id) ?? 'unknown', `${from}>${to}`);
      at.set(id, to === 'null' ? 'undefined' : to);
    }
  }
  return seen;
}

/** the members a fleecing row may use: a command's arguments, a driver's options, transaction's actions */
function possibleArgs(row: string, schema: Introspection): string[] {
  const members = (o: ObjectEntry, tag?: string) => schema.objectMembers(o, tag).map((m) => m.name);
  if (row.startsWith('blockdev-add driver=')) {
    const cmd = schema.commands.get('blockdev-add');
    const t = cmd && schema.type(cmd['arg-type']);
    return t && t['meta-type'] === 'object' ? members(t, row.slice('blockdev-add driver='.length)) : [];
  }
  if (row === 'transaction action') {
    const cmd = schema.commands.get('transaction');
    const t = cmd && schema.type(cmd['arg-type']);
    if (!t || t['meta-type'] !== 'object') return [];
    let actions = schema.type(t.members.find((m) => m.name === 'actions')?.type ?? '');
    if (actions['meta-type'] === 'array') actions = schema.type(actions['element-type']);
    return actions['meta-type'] === 'object' ? (actions.variants ?? []).map((v) => v.case) : [];
  }
  const cmd = schema.commands.get(row);
  const t = cmd && schema.type(cmd['arg-type']);
  return t && t['meta-type'] === 'object' ? members(t) : [];
}

function split<T>(real: Set<T> | undefined, sim: Set<T> | undefined): { real: T[]; simOnly: T[] } {
  const r = [...(real ?? [])].sort();
  return { real: r, simOnly: [...(sim ?? [])].filter((x) => !real?.has(x)).sort() };
}

/** One version's coverage from its recordings (`real`) and the suite's transcripts on the simulator. */
export function coverageOf(
  version: Profile,
  real: Iterable<CoverageTranscript>,
  sim: Iterable<CoverageTranscript>,
): VersionCoverage {
  const r = read(real);
  const s = read(sim);
  const schemas = (['qsd', 'system'] as const).map((f) => new Introspection(loadSnapshot(version, f).schema));
  const commands = [...new Set(schemas.flatMap((x) => [...x.commands.keys()]))].sort();
  const table: CommandRow[] = [];
  const never: string[] = [];
  for (const c of commands) {
    const row = { command: c, ...split(r.outcomes.get(c), s.outcomes.get(c)) };
    if (row.real.length === 0 && row.simOnly.length === 0) never.push(c);
    else table.push(row);
  }
  // commands a transcript used that this version's schema lacks (a refusal: CommandNotFound) count too
  for (const c of new Set([...r.outcomes.keys(), ...s.outcomes.keys()]))
    if (!commands.includes(c)) table.push({ command: c, ...split(r.outcomes.get(c), s.outcomes.get(c)) });
  table.sort((a, b) => a.command.localeCompare(b.command));
  const rows = [
    ...ARGUMENT_COMMANDS.filter((c) => commands.includes(c)),
    ...FLEECING_DRIVERS.map((d) => `blockdev-add driver=${d}`),
    ...(commands.includes('transaction') ? ['transaction action'] : []),
  ];
  const args: ArgumentRow[] = [];
  for (const row of rows) {
    const possible = [...new Set(schemas.flatMap((x) => possibleArgs(row, x)))];
    if (possible.length === 0) continue;
    // an argument the schema does not have is a refusal being tested, not coverage of the argument
    const known = (m: Set<string> | undefined) => new Set([...(m ?? [])].filter((a) => possible.includes(a)));
    const got = split(known(r.args.get(row)), known(s.args.get(row)));
    const used = new Set([...got.real, ...got.simOnly]);
    args.push({ command: row, ...got, never: possible.filter((a) => !used.has(a)).sort() });
  }
  const types = [...new Set([...r.jobs.keys(), ...s.jobs.keys()])].sort();
  const jobs: JobRow[] = types.map((type) => {
    const got = split(r.jobs.get(type), s.jobs.get(type));
    const used = new Set([...got.real, ...got.simOnly]);
    return {
      type,
      ...got,
      uncovered: ALL_TRANSITIONS.filter((t) => !used.has(t)),
      total: ALL_TRANSITIONS.length,
    };
  });
  const sum = (xs: { real: unknown[]; simOnly: unknown[] }[], k: 'real' | 'simOnly') =>
    xs.reduce((n, x) => n + x[k].length, 0);
  return {
    version,
    schemaCommands: commands.length,
    commands: {
      real: table.filter((t) => t.real.length > 0).length,
      simOnly: table.filter((t) => t.real.length === 0).length,
      never: never.length,
    },
    outcomes: { real: sum(table, 'real'), simOnly: sum(table, 'simOnly') },
    arguments: {
      real: sum(args, 'real'),
      simOnly: sum(args, 'simOnly'),
      total: args.reduce((n, a) => n + a.real.length + a.simOnly.length + a.never.length, 0),
    },
    transitions: {
      real: sum(jobs, 'real'),
      simOnly: sum(jobs, 'simOnly'),
      total: jobs.length * ALL_TRANSITIONS.length,
    },
    table,
    never,
    args,
    jobs,
  };
}

/** Every covered item of a version with where it was covered: what a baseline is compared by. */
export function coveredItems(v: VersionCoverage): Map<string, Where> {
  const m = new Map<string, Where>();
  const put = (prefix: string, xs: { real: string[]; simOnly: string[] }) => {
    for (const x of xs.real) m.set(`${prefix}${x}`, 'real');
    for (const x of xs.simOnly) m.set(`${prefix}${x}`, 'sim');
  };
  for (const t of v.table) put(`${t.command}: `, t);
  for (const a of v.args) put(`${a.command} argument `, a);
  for (const j of v.jobs) put(`${j.type} job `, j);
  return m;
}

/**
 * What a coverage lost against a baseline: an item covered on real QEMU there and only on the simulator (or
 * nowhere) now, or covered on the simulator there and nowhere now. Versions the baseline lacks are new;
 * versions not measured now are not compared.
 */
export function coverageShrunk(now: CoverageReport, baseline: CoverageReport): string[] {
  const lost: string[] = [];
  for (const b of baseline.versions) {
    // a version not measured this time (--versions) is not compared
    const n = now.versions.find((x) => x.version === b.version);
    if (!n) continue;
    const had = coveredItems(b);
    const has = coveredItems(n);
    for (const [item, where] of had) {
      const w = has.get(item);
      if (w === undefined)
        lost.push(
          `${b.version}: ${item}: was covered on ${where === 'real' ? 'real QEMU' : 'the simulator'}, now never`,
        );
      else if (where === 'real' && w === 'sim')
        lost.push(`${b.version}: ${item}: was covered on real QEMU, now on the simulator only`);
    }
  }
  return lost;
}
