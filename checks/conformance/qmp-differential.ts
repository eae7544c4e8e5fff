/**
 * A randomized differential: fast-check generates plausible QMP command sequences (the qemu-storage-daemon
 * commands fleecing uses: nodes of every driver it needs, bitmaps, the NBD server and exports, backup and
 * mirror jobs, job verbs, transactions, queries), and each sequence runs on the simulator in process and on a
 * real qemu-storage-daemon of the same version. Replies are compared step by step, events as a multiset per
 * step. Real QEMU is asynchronous: after each command both sides settle (the simulator by simulated time, the
 * real one by polling query-jobs until no job moves). A divergence is shrunk to a minimal sequence.
 *
 *   fleece-lab qmp-differential --version 7.2 --runs 300 --seed 42   (bin/dev/qmp-differential.ts)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { type At, SchemaArbitraries } from '../../contract/qapi/arbitrary.ts';
import { Introspection } from '../../contract/qapi/introspection.ts';
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import type { Profile } from '../../contract/versions.ts';
import { type QemuVersion, type ResolvedQemu, resolveQemu } from '../../harness/qemu/install.ts';
import { type QemuProcess, startQsd } from '../../harness/targets/qemu-process.ts';
import { createSim } from '../../sim/sim.ts';
import { dropDrainPairs, normalizeValue, type RecordedEvent } from './normalize.ts';

export interface Cmd {
  execute: string;
  arguments?: Record<string, unknown>;
}

const MiB = 1 << 20;

// ------------------------------------------------------------------------------------------ files

/** The scratch files every sequence starts with, made once per run by the version's own qemu-img/qemu-io. */
const FILES: { name: string; create: string[]; writes?: string[]; format: 'raw' | 'qcow2' }[] = [
  { name: 'a.raw', format: 'raw', create: ['-f', 'raw', 'a.raw', '4M'], writes: ['write -P 0x11 0 64k'] },
  {
    name: 'b.qcow2',
    format: 'qcow2',
    create: ['-f', 'qcow2', 'b.qcow2', '4M'],
    writes: ['write -P 0x22 1M 128k'],
  },
  { name: 'c.qcow2', format: 'qcow2', create: ['-f', 'qcow2', '-b', 'a.raw', '-F', 'raw', 'c.qcow2', '4M'] },
  { name: 't.qcow2', format: 'qcow2', create: ['-f', 'qcow2', 't.qcow2', '4M'] },
  { name: 't.raw', format: 'raw', create: ['-f', 'raw', 't.raw', '4M'] },
  { name: 's.raw', format: 'raw', create: ['-f', 'raw', 's.raw', '1M'] },
];
const FILE_NAMES = [...FILES.map((f) => f.name), 'missing.raw'];

function makeTemplate(q: ResolvedQemu, dir: string): void {
  const env = { ...process.env, ...q.env };
  const run = (argv: string[]) => {
    const r = spawnSync(argv[0], argv.slice(1), { cwd: dir, env, stdio: 'pipe', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${String(r.stderr)}`);
  };
  for (const f of FILES) {
    run([...q.img, 'create', '-q', ...f.create]);
    for (const w of f.writes ?? []) run([...q.io, '-f', f.format, '-c', w, f.name]);
  }
}

function copyTemplate(from: string, to: string): void {
  for (const f of FILES) fs.copyFileSync(path.join(from, f.name), path.join(to, f.name));
}

// ------------------------------------------------------------------------------------------ generators

const NODES = ['fa', 'fb', 'fc', 'ft', 'qb', 'qc', 'qt', 'r0', 'n0', 'n1', 'cbw', 'snap', 'dbg', 'thr'];
/** nodes the setup makes (when it runs): most commands name one of these */
const MADE = ['fa', 'qb', 'qt', 'qc', 'n0', 'n1', 'r0'];
const JOBS = ['j0', 'j1'];
const BITMAPS = ['b0', 'b1'];
const EXPORTS = ['e0', 'e1'];

const node = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...MADE) },
  { weight: 1, arbitrary: fc.constantFrom(...NODES) },
);
const file = fc.constantFrom(...FILE_NAMES);

const inlineFile = fc.record({ driver: fc.constant('file'), filename: file.map((f) => `@${f}`) });
const fileRef = fc.oneof({ weight: 3, arbitrary: node }, { weight: 1, arbitrary: inlineFile });
const nodeFor = (prefix: string) =>
  fc.oneof({ weight: 4, arbitrary: node.filter((n) => n.startsWith(prefix)) }, node);
const bitmapName = fc.constantFrom(...BITMAPS);
const bitmapRef = fc.record({ node: node, name: bitmapName });
const jobRef = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...JOBS) }, fc.constantFrom('fa', ''));
const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

/** The drivers the sequences use, each with the prefix of the node names it usually gets. */
const DRIVERS: Record<string, string> = {
  file: 'f',
  raw: 'r',
  qcow2: 'q',
  'null-co': 'n',
  'copy-before-write': 'cbw',
  'snapshot-access': 'snap',
  blkdebug: 'dbg',
  throttle: 'thr',
};

/**
 * How a member is sent: `p` how often (default: a required member always, an optional one never) and `v`
 * its vocabulary (default: any value of its type). The schema of the version under test says which members
 * and values exist; these plans keep the sequences on the few names the setup makes, and send some values
 * QEMU refuses on purpose (discard 'bogus', granularity 1000, speed -1, a job named 'fa').
 */
interface Plan {
  p?: number;
  v?: fc.Arbitrary<unknown> | ((at: At, schema: () => fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>);
}
const rarely = 0.2;
const half = 0.5;
const often = 2 / 3;

const JOB_COMMON: Record<string, Plan> = {
  'job-id': { p: 0.9, v: fc.constantFrom(...JOBS) },
  'auto-finalize': { p: rarely },
  'auto-dismiss': { p: rarely },
  speed: { p: rarely, v: fc.constantFrom(0, 1 << 30, -1) },
};
const BITMAP_REF: Record<string, Plan> = { node: { v: node }, name: { v: bitmapName } };
/** sync, bitmap and bitmap-mode go together: mostly a plain sync, or a bitmap sync with its bitmap */
const backupSync = fc.oneof(
  { weight: 4, arbitrary: fc.record({ sync: fc.constantFrom('none', 'full', 'top') }) },
  {
    weight: 3,
    arbitrary: fc.record({
      sync: fc.constantFrom('bitmap', 'incremental'),
      bitmap: bitmapName,
      'bitmap-mode': fc.constantFrom('on-success', 'always', 'never', undefined),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        sync: fc.constantFrom('none', 'full', 'top', 'bitmap', 'incremental'),
        bitmap: bitmapName,
        'bitmap-mode': fc.constantFrom('on-success', 'always', 'never'),
      },
      { requiredKeys: [] },
    ),
  },
);
const jobVerbPlan: Record<string, Plan> = { id: { v: jobRef }, device: { v: jobRef }, force: { p: often } };
const JOB_VERBS = ['job-pause', 'job-resume', 'job-cancel', 'job-complete', 'job-dismiss', 'job-finalize'];
const BLOCK_JOB_VERBS = [
  'block-job-cancel',
  'block-job-pause',
  'block-job-resume',
  'block-job-complete',
  'block-job-dismiss',
  'block-job-finalize',
];

/** Per command (or transaction action), by member path ('x-perf.max-workers'; 'CASE:path' for one union case). */
const PLANS: Record<string, Record<string, Plan>> = {
  'blockdev-add': {
    driver: {
      v: (at) =>
        fc.constantFrom(
          ...Object.keys(DRIVERS).filter(
            (d) => at.type['meta-type'] === 'enum' && at.type.values.includes(d),
          ),
        ),
    },
    'node-name': { p: 1, v: (at) => nodeFor(DRIVERS[at.cases.driver] ?? '') },
    'read-only': { p: 0.25 },
    'auto-read-only': { p: 0.25 },
    discard: { p: 0.25, v: fc.constantFrom('unmap', 'ignore', 'off', 'bogus') },
    'detect-zeroes': { p: 0.25 },
    cache: { p: 0.25 },
    'cache.no-flush': { p: half },
    'cache.direct': { p: half, v: fc.constant(false) },
    'file:filename': { v: file.map((f) => `@${f}`) },
    'raw:file': { v: fileRef },
    'qcow2:file': { v: fileRef },
    'qcow2:backing': { p: half, v: fc.oneof(fc.constant(null), node) },
    'null-co:size': { p: 1, v: fc.constantFrom(4 * MiB, 4 * MiB, MiB, 0) },
    'null-co:read-zeroes': { p: half },
    'copy-before-write:file': { v: node },
    // target is required: left out now and then on purpose
    'copy-before-write:target': { p: half, v: node },
    'copy-before-write:bitmap': { p: half },
    'bitmap.node': { v: node },
    'bitmap.name': { v: bitmapName },
    'snapshot-access:file': { v: node },
    'blkdebug:image': { v: node },
    'throttle:file': { v: node },
    'throttle:throttle-group': { v: fc.constantFrom('tg0', 'tg1') },
  },
  'object-add': {
    'qom-type': { v: fc.constant('throttle-group') },
    id: { v: fc.constantFrom('tg0', 'tg1') },
    limits: { p: 1, v: fc.constantFrom({ 'bps-total': 1 << 30 }, { 'iops-total': 100000 }, {}) },
  },
  'object-del': { id: { v: fc.constantFrom('tg0', 'tg1') } },
  'blockdev-del': { 'node-name': { v: node } },
  'block-dirty-bitmap-add': {
    ...BITMAP_REF,
    persistent: { p: half },
    disabled: { p: half },
    granularity: { p: half, v: fc.constantFrom(65536, 512, 4096, MiB, 1000, 256, 1 << 31) },
  },
  'block-dirty-bitmap-remove': BITMAP_REF,
  'block-dirty-bitmap-clear': BITMAP_REF,
  'block-dirty-bitmap-enable': BITMAP_REF,
  'block-dirty-bitmap-disable': BITMAP_REF,
  'block-dirty-bitmap-merge': {
    node: { v: node },
    target: { v: bitmapName },
    'bitmaps.[]': { v: fc.oneof(bitmapName, bitmapRef) },
  },
  'block-export-add': {
    type: { v: fc.constant('nbd') },
    id: { v: fc.constantFrom(...EXPORTS) },
    'node-name': { v: node },
    name: { p: half, v: fc.constantFrom('x', 'y') },
    writable: { p: half },
    bitmaps: { p: half },
    'bitmaps.[]': { v: bitmapName },
    'allocation-depth': { p: half },
  },
  'block-export-del': { id: { v: fc.constantFrom(...EXPORTS, 'x') }, mode: { p: often } },
  'blockdev-backup': {
    '': {
      v: (_, schema) => fc.tuple(schema(), backupSync).map(([a, s]) => defined({ ...(a as object), ...s })),
    },
    device: { v: node },
    target: { v: node },
    sync: { p: 0 },
    'filter-node-name': { p: rarely, v: fc.constantFrom('flt', 'fa') },
    'x-perf': { p: rarely },
    'x-perf.use-copy-range': { p: half },
    'x-perf.max-workers': { p: half, v: fc.constantFrom(1, 8, 0) },
    'x-perf.max-chunk': { p: half, v: fc.constantFrom(0, 65536, 1000) },
    ...JOB_COMMON,
  },
  'blockdev-mirror': {
    device: { v: node },
    target: { v: node },
    sync: { v: fc.constantFrom('full', 'top', 'none') },
    'filter-node-name': { p: rarely, v: fc.constantFrom('mflt', 'fa') },
    granularity: { p: rarely, v: fc.constantFrom(65536, 512, 1000) },
    ...JOB_COMMON,
  },
  'block-job-set-speed': { device: { v: jobRef }, speed: { v: fc.constantFrom(0, -5, 1 << 30) } },
  ...Object.fromEntries([...JOB_VERBS, ...BLOCK_JOB_VERBS].map((c) => [c, jobVerbPlan])),
  transaction: {
    'actions.[].type': {
      v: fc.oneof(
        { weight: 2, arbitrary: fc.constant('blockdev-backup') },
        { weight: 1, arbitrary: fc.constant('block-dirty-bitmap-add') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'block-dirty-bitmap-remove',
            'block-dirty-bitmap-clear',
            'block-dirty-bitmap-enable',
            'block-dirty-bitmap-disable',
          ),
        },
        { weight: 1, arbitrary: fc.constant('block-dirty-bitmap-merge') },
      ),
    },
    properties: { p: half },
    'properties.completion-mode': { p: 1 },
  },
};

/** a transaction action's data is planned as the command of the same name */
function planOf(at: At): Plan | undefined {
  let command = at.command;
  let path = at.path;
  if (command === 'transaction' && path[0] === 'actions' && path[2] === 'data') {
    command = at.cases.type;
    path = path.slice(3);
  }
  const plans = PLANS[command] ?? {};
  const rel = path.join('.');
  for (const c of Object.values(at.cases)) if (plans[`${c}:${rel}`]) return plans[`${c}:${rel}`];
  return plans[rel];
}

/** The commands of one version's qemu-storage-daemon schema, with the plans above. */
export function commandFor(profile: Profile): fc.Arbitrary<Cmd> {
  const arbs = new SchemaArbitraries(new Introspection(loadSnapshot(profile, 'qsd').schema), {
    optional: 0,
    maxDepth: 2,
    value: (at, schema) => {
      const v = planOf(at)?.v;
      return typeof v === 'function' ? v(at, schema) : v;
    },
    presence: (at) => planOf(at)?.p,
    length: (at) =>
      at.command === 'transaction' && at.path.join('.') === 'actions' ? { min: 1, max: 3 } : undefined,
  });
  const run = (c: string): fc.Arbitrary<Cmd> => arbs.command(c).map((a) => ({ execute: c, arguments: a }));
  const oneOf = (cs: string[]) => fc.constantFrom(...cs).chain(run);
  return fc.oneof(
    { weight: 8, arbitrary: run('blockdev-add') },
    { weight: 1, arbitrary: fc.oneof(run('object-add'), run('object-del')) },
    { weight: 2, arbitrary: run('blockdev-del') },
    {
      weight: 4,
      arbitrary: fc.oneof(
        run('block-dirty-bitmap-add'),
        oneOf([
          'block-dirty-bitmap-remove',
          'block-dirty-bitmap-clear',
          'block-dirty-bitmap-enable',
          'block-dirty-bitmap-disable',
        ]),
        run('block-dirty-bitmap-merge'),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.constant({
          execute: 'nbd-server-start',
          arguments: { addr: { type: 'unix', data: { path: '@nbd.sock' } } },
        }),
        fc.constant({ execute: 'nbd-server-stop' }),
        run('block-export-add'),
        run('block-export-del'),
      ),
    },
    { weight: 4, arbitrary: run('blockdev-backup') },
    { weight: 2, arbitrary: run('blockdev-mirror') },
    { weight: 4, arbitrary: fc.oneof(oneOf(JOB_VERBS), oneOf(BLOCK_JOB_VERBS), run('block-job-set-speed')) },
    { weight: 2, arbitrary: run('transaction') },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.constant({ execute: 'query-jobs' }),
        fc.constant({ execute: 'query-block-jobs' }),
        fc.constant({ execute: 'query-named-block-nodes', arguments: { flat: true } }),
        fc.constant({ execute: 'query-block-exports' }),
        fc.constant({ execute: 'query-block' }),
      ),
    },
  );
}

/** A sequence starts with some of these (in this order), so that most commands get past name lookups. */
const add_ = (a: Record<string, unknown>): Cmd => ({ execute: 'blockdev-add', arguments: a });
const SETUP: Cmd[] = [
  {
    execute: 'object-add',
    arguments: { 'qom-type': 'throttle-group', id: 'tg0', limits: { 'iops-total': 100000 } },
  },
  add_({ driver: 'file', 'node-name': 'fa', filename: '@a.raw' }),
  add_({ driver: 'qcow2', 'node-name': 'qb', file: { driver: 'file', filename: '@b.qcow2' } }),
  add_({ driver: 'qcow2', 'node-name': 'qt', file: { driver: 'file', filename: '@t.qcow2' } }),
  add_({ driver: 'qcow2', 'node-name': 'qc', file: { driver: 'file', filename: '@c.qcow2' }, backing: null }),
  add_({ driver: 'null-co', 'node-name': 'n0', size: 4 * MiB }),
  add_({ driver: 'null-co', 'node-name': 'n1', size: 4 * MiB }),
  add_({ driver: 'raw', 'node-name': 'r0', file: { driver: 'file', filename: '@t.raw' } }),
  { execute: 'nbd-server-start', arguments: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
  { execute: 'block-dirty-bitmap-add', arguments: { node: 'qb', name: 'b0', persistent: true } },
  { execute: 'block-dirty-bitmap-add', arguments: { node: 'fa', name: 'b1' } },
];
export function sequenceFor(profile: Profile): fc.Arbitrary<Cmd[]> {
  return fc
    .tuple(
      // each setup step runs with probability 9/10 (shrinking drops it)
      fc.tuple(...SETUP.map(() => fc.noBias(fc.integer({ min: 0, max: 9 })))),
      fc.array(commandFor(profile), { minLength: 1, maxLength: 12 }),
    )
    .map(([keep, cmds]) => [...SETUP.filter((_, i) => keep[i] > 0), ...cmds]);
}

// ------------------------------------------------------------------------------------------ running

export interface StepRecord {
  request: Cmd;
  reply: unknown;
  events: string[];
}

function substitute(v: unknown, dir: string): unknown {
  if (typeof v === 'string') return v.replace(/^@([A-Za-z0-9._-]+)$/, (_, n: string) => path.join(dir, n));
  if (Array.isArray(v)) return v.map((x) => substitute(x, dir));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, dir)]));
  return v;
}

function eventKeys(evs: RecordedEvent[], dir: string): string[] {
  return dropDrainPairs(evs)
    .map((e) => JSON.stringify({ event: e.event, data: normalizeValue(e.data, dir) }))
    .sort();
}

/** How long the simulator lets pass after each command: every job of these sizes is done or parked by then. */
const SIM_SETTLE_MS = 2_000;

export function runOnSim(profile: Profile, seq: Cmd[], template: string): StepRecord[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-diff-sim-'));
  try {
    copyTemplate(template, dir);
    const sim = createSim({ profile, flavour: 'qsd', fs: 'real', cwd: dir });
    const evs: RecordedEvent[] = [];
    let step = 0;
    sim.onEvent((e) => evs.push({ event: e.event, data: e.data as Record<string, unknown>, step }));
    const out: StepRecord[] = [];
    try {
      for (const [i, c] of seq.entries()) {
        step = i;
        const r = sim.execute(c.execute, substitute(c.arguments, dir) as Record<string, unknown> | undefined);
        sim.advance(SIM_SETTLE_MS);
        out.push({
          request: c,
          reply: normalizeValue(r, dir),
          events: eventKeys(
            evs.filter((e) => e.step === i),
            dir,
          ),
        });
      }
    } finally {
      for (const n of sim.core.graph.nodes.values()) n.driver.close(n);
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** a job that stays where it is until told otherwise (pending and concluded only without auto-finalize/-dismiss) */
function parked(j: Record<string, unknown>): boolean {
  if (j.status === 'pending') return j['auto-finalize'] === false;
  if (j.status === 'concluded') return j['auto-dismiss'] === false;
  return ['paused', 'ready', 'standby'].includes(String(j.status));
}

/**
 * Poll query-jobs until no job moves: parked states, or running with the same progress three times over.
 * `pausing`: a job just asked to pause, which a job sleeping in 5.2 reaches only when it wakes up.
 */
async function settle(q: QemuProcess, pausing?: string): Promise<void> {
  const until = Date.now() + 5_000;
  let last = '';
  let same = 0;
  // a coroutine entered by the command (resume, cancel) runs in a later turn of QEMU's main loop
  await sleep(2);
  while (Date.now() < until) {
    const r = (await q.qmp.executeRaw('query-jobs')) as { return?: Record<string, unknown>[] };
    const jobs = r.return ?? [];
    const paused = jobs.every((j) => j.id !== pausing || !['running', 'ready'].includes(String(j.status)));
    const snap = JSON.stringify(jobs.map((j) => [j.id, j.status, j['current-progress']]));
    if (paused && jobs.every(parked)) return;
    same = snap === last ? same + 1 : 0;
    last = snap;
    if (paused && same >= 3 && jobs.every((j) => parked(j) || j.status === 'running')) return;
    await sleep(10);
  }
}

/** The real QEMU died during a sequence (a QEMU bug: nothing for the simulator to copy). */
export class QemuCrashed extends Error {
  constructor(
    readonly step: number,
    detail: string,
  ) {
    super(detail);
  }
}

export async function runOnQemu(q: ResolvedQemu, seq: Cmd[], template: string): Promise<StepRecord[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-diff-qemu-'));
  let p: QemuProcess | undefined;
  try {
    copyTemplate(template, dir);
    p = await startQsd({ argvPrefix: q.qsd, env: { ...process.env, ...q.env } });
    const listener = p.qmp.events.listen();
    const out: StepRecord[] = [];
    let jobsMayExist = false;
    for (const c of seq) {
      if (p.exitStatus() !== undefined || p.qmp.closed) throw new QemuCrashed(out.length, p.describe());
      const raw = (await p.qmp.executeRaw(
        c.execute,
        substitute(c.arguments, dir) as Record<string, unknown> | undefined,
      )) as Record<string, unknown>;
      const { id: _id, ...reply } = raw;
      const pauseVerb = /^(job-pause|block-job-pause)$/.test(c.execute) && 'return' in reply;
      const jobId = c.arguments?.id ?? c.arguments?.device;
      // no job was ever started: nothing can move after the reply
      if (/backup|mirror|transaction/.test(c.execute) && 'return' in reply) jobsMayExist = true;
      if (jobsMayExist) await settle(p, pauseVerb ? String(jobId) : undefined);
      const evs = listener
        .drain()
        .map((e) => ({ event: e.event, data: e.data as Record<string, unknown>, step: 0 }));
      out.push({ request: c, reply: normalizeValue(reply, dir), events: eventKeys(evs, dir) });
    }
    listener.close();
    return out;
  } catch (e) {
    if (p && !(e instanceof QemuCrashed) && (p.exitStatus() !== undefined || p.qmp.closed)) {
      await p.exited;
      throw new QemuCrashed(-1, p.describe());
    }
    throw e;
  } finally {
    await p?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface Divergence {
  step: number;
  request: Cmd;
  real: { reply: unknown; events: string[] };
  sim: { reply: unknown; events: string[] };
}

export function compare(real: StepRecord[], sim: StepRecord[]): Divergence | undefined {
  for (let i = 0; i < real.length; i++) {
    const a = real[i];
    const b = sim[i];
    if (
      JSON.stringify(a.reply) !== JSON.stringify(b.reply) ||
      JSON.stringify(a.events) !== JSON.stringify(b.events)
    )
      return {
        step: i,
        request: a.request,
        real: { reply: a.reply, events: a.events },
        sim: { reply: b.reply, events: b.events },
      };
  }
  return undefined;
}

export interface DiffResult {
  version: QemuVersion;
  runs: number;
  seed: number;
  /** sequences that crashed the real QEMU (skipped) */
  crashes: { sequence: Cmd[]; detail: string }[];
  failure?: { sequence: Cmd[]; divergence: Divergence; shrinks: number };
}

/** Runs `runs` sequences on `version` (real and simulated); a divergence is shrunk and returned. */
export async function runDifferential(opts: {
  version: QemuVersion;
  runs: number;
  seed: number;
  onRun?: (n: number) => void;
}): Promise<DiffResult> {
  const q = resolveQemu(opts.version);
  const template = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-diff-tpl-'));
  let n = 0;
  const crashes: { sequence: Cmd[]; detail: string }[] = [];
  try {
    makeTemplate(q, template);
    let found: Divergence | undefined;
    const res = await fc.check(
      fc.asyncProperty(sequenceFor(opts.version), async (seq) => {
        opts.onRun?.(++n);
        let real: StepRecord[];
        try {
          real = await runOnQemu(q, seq, template);
        } catch (e) {
          if (!(e instanceof QemuCrashed)) throw e;
          crashes.push({ sequence: seq, detail: e.message });
          fc.pre(false);
          return true;
        }
        const sim = runOnSim(opts.version, seq, template);
        const d = compare(real, sim);
        if (d) found = d;
        return d === undefined;
      }),
      { numRuns: opts.runs, seed: opts.seed, endOnFailure: false },
    );
    const out: DiffResult = { version: opts.version, runs: res.numRuns, seed: opts.seed, crashes };
    if (res.failed && res.counterexample) {
      const seq = res.counterexample[0];
      // the last failing run is the shrunk one; re-run it for its divergence
      const real = await runOnQemu(q, seq, template);
      const sim = runOnSim(opts.version, seq, template);
      found = compare(real, sim) ?? found;
      out.failure = { sequence: seq, divergence: found!, shrinks: res.numShrinks };
    }
    return out;
  } finally {
    fs.rmSync(template, { recursive: true, force: true });
  }
}

export function formatCrashes(r: DiffResult): string {
  return r.crashes
    .map((c) =>
      [
        `${r.version}: real QEMU crashed: ${c.detail}`,
        ...c.sequence.map((x) => `    ${x.execute} ${x.arguments ? JSON.stringify(x.arguments) : ''}`),
      ].join('\n'),
    )
    .join('\n');
}

export function formatFailure(r: DiffResult): string {
  if (!r.failure) return `${r.version}: ${r.runs} sequences, no divergence (seed ${r.seed})`;
  const { sequence: seq, divergence: d, shrinks } = r.failure;
  const lines = [`${r.version}: divergence (seed ${r.seed}, ${shrinks} shrinks) at step ${d.step}:`];
  for (const [i, c] of seq.entries())
    lines.push(
      `  ${i === d.step ? '>' : ' '} ${c.execute} ${c.arguments ? JSON.stringify(c.arguments) : ''}`,
    );
  for (const x of jsonDiff(d.real.reply, d.sim.reply)) lines.push(`  differs: ${x}`);
  lines.push(`  real: ${JSON.stringify(d.real.reply)}`);
  for (const e of d.real.events) lines.push(`        ${e}`);
  lines.push(`  sim:  ${JSON.stringify(d.sim.reply)}`);
  for (const e of d.sim.events) lines.push(`        ${e}`);
  return lines.join('\n');
}

/** Where two JSON values differ: "path: real X, sim Y" lines (a list's members are matched by position). */
export function jsonDiff(a: unknown, b: unknown, at = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      jsonDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}/${k}`),
    );
  }
  return [`${at || '/'}: real ${JSON.stringify(a)}, sim ${JSON.stringify(b)}`];
}

/** Greedy one-at-a-time removal: the shortest sequence (found that way) that still crashes the real QEMU. */
export async function minimizeCrash(version: QemuVersion, seq: Cmd[]): Promise<Cmd[]> {
  const q = resolveQemu(version);
  const template = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-diff-tpl-'));
  const crashes = async (s: Cmd[]) => {
    try {
      await runOnQemu(q, s, template);
      return false;
    } catch (e) {
      if (e instanceof QemuCrashed) return true;
      throw e;
    }
  };
  try {
    makeTemplate(q, template);
    let cur = seq;
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = cur.length - 1; i >= 0; i--) {
        const shorter = [...cur.slice(0, i), ...cur.slice(i + 1)];
        if (await crashes(shorter)) {
          cur = shorter;
          changed = true;
        }
      }
    }
    return cur;
  } finally {
    fs.rmSync(template, { recursive: true, force: true });
  }
}

/** One given sequence on both sides (the CLI's --replay): every step's real and simulated outcome. */
export async function replaySequence(version: QemuVersion, seq: Cmd[]): Promise<string> {
  const q = resolveQemu(version);
  const template = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-diff-tpl-'));
  try {
    makeTemplate(q, template);
    const real = await runOnQemu(q, seq, template);
    const sim = runOnSim(version, seq, template);
    const lines: string[] = [];
    for (const [i, c] of seq.entries()) {
      const same = JSON.stringify(real[i]) === JSON.stringify(sim[i]);
      lines.push(`${same ? ' ' : '>'} ${c.execute} ${c.arguments ? JSON.stringify(c.arguments) : ''}`);
      lines.push(`    real: ${JSON.stringify(real[i].reply)}`);
      for (const e of real[i].events) lines.push(`          ${e}`);
      if (!same) {
        for (const d of jsonDiff(real[i].reply, sim[i].reply)) lines.push(`    differs: ${d}`);
        lines.push(`    sim:  ${JSON.stringify(sim[i].reply)}`);
        for (const e of sim[i].events) lines.push(`          ${e}`);
      }
    }
    return lines.join('\n');
  } finally {
    fs.rmSync(template, { recursive: true, force: true });
  }
}
