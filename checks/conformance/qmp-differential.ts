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
const bool = fc.boolean();

/** optional members: each key present or not */
function opt<T extends Record<string, fc.Arbitrary<unknown>>>(rec: T) {
  return fc.record(rec, { requiredKeys: [] });
}

const inlineFile = fc.record({ driver: fc.constant('file'), filename: file.map((f) => `@${f}`) });
const fileRef = fc.oneof({ weight: 3, arbitrary: node }, { weight: 1, arbitrary: inlineFile });

const common = opt({
  'read-only': bool,
  'auto-read-only': bool,
  discard: fc.constantFrom('unmap', 'ignore', 'off', 'bogus'),
  'detect-zeroes': fc.constantFrom('on', 'off', 'unmap'),
  cache: opt({ 'no-flush': bool, direct: fc.constant(false) }),
});
const withCommon = (a: fc.Arbitrary<Record<string, unknown>>) =>
  fc.tuple(a, fc.option(common, { freq: 2 })).map(([x, c]) => ({ ...x, ...(c ?? {}) }));

const add = (args: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Cmd> =>
  withCommon(args).map((a) => ({ execute: 'blockdev-add', arguments: a }));

const nodeFor = (prefix: string) =>
  fc.oneof({ weight: 4, arbitrary: node.filter((n) => n.startsWith(prefix)) }, node);

const blockdevAdd = fc.oneof(
  add(
    fc.record({
      driver: fc.constant('file'),
      'node-name': nodeFor('f'),
      filename: file.map((f) => `@${f}`),
    }),
  ),
  add(fc.record({ driver: fc.constant('raw'), 'node-name': nodeFor('r'), file: fileRef })),
  add(
    fc
      .tuple(
        fc.record({ driver: fc.constant('qcow2'), 'node-name': nodeFor('q'), file: fileRef }),
        fc.option(fc.oneof(fc.constant(null), node), { freq: 2 }),
      )
      .map(([a, b]) => (b === null ? a : { ...a, backing: b })),
  ),
  add(
    fc
      .tuple(
        fc.record({
          driver: fc.constant('null-co'),
          'node-name': nodeFor('n'),
          size: fc.constantFrom(4 * MiB, 4 * MiB, MiB, 0),
        }),
        opt({ 'read-zeroes': bool }),
      )
      .map(([a, b]) => ({ ...a, ...b })),
  ),
  add(
    fc
      .tuple(
        fc.record({ driver: fc.constant('copy-before-write'), 'node-name': nodeFor('cbw'), file: node }),
        opt({
          target: node,
          bitmap: fc.record({ node: node, name: fc.constantFrom(...BITMAPS) }),
        }),
      )
      .map(([a, b]) => ({ ...a, ...b })),
  ),
  add(fc.record({ driver: fc.constant('snapshot-access'), 'node-name': nodeFor('snap'), file: node })),
  add(fc.record({ driver: fc.constant('blkdebug'), 'node-name': nodeFor('dbg'), image: node })),
  add(
    fc.record({
      driver: fc.constant('throttle'),
      'node-name': nodeFor('thr'),
      file: node,
      'throttle-group': fc.constantFrom('tg0', 'tg1'),
    }),
  ),
);

const objectAdd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    execute: fc.constant('object-add'),
    arguments: fc.record({
      'qom-type': fc.constant('throttle-group'),
      id: fc.constantFrom('tg0', 'tg1'),
      limits: fc.constantFrom({ 'bps-total': 1 << 30 }, { 'iops-total': 100000 }, {}),
    }),
  }),
  fc.record({
    execute: fc.constant('object-del'),
    arguments: fc.record({ id: fc.constantFrom('tg0', 'tg1') }),
  }),
);

const bitmapName = fc.constantFrom(...BITMAPS);
const bitmapAddArgs = fc
  .tuple(
    fc.record({ node: node, name: bitmapName }),
    opt({
      persistent: bool,
      disabled: bool,
      granularity: fc.constantFrom(65536, 512, 4096, MiB, 1000, 256, 1 << 31),
    }),
  )
  .map(([a, b]) => ({ ...a, ...b }));
const bitmapRef = fc.record({ node: node, name: bitmapName });
const mergeArgs = fc.record({
  node: node,
  target: bitmapName,
  bitmaps: fc.array(fc.oneof(bitmapName, bitmapRef), { minLength: 0, maxLength: 2 }),
});

const bitmapAction = fc.oneof(
  fc.record({ type: fc.constant('block-dirty-bitmap-add'), data: bitmapAddArgs }),
  fc.record({
    type: fc.constantFrom(
      'block-dirty-bitmap-remove',
      'block-dirty-bitmap-clear',
      'block-dirty-bitmap-enable',
      'block-dirty-bitmap-disable',
    ),
    data: bitmapRef,
  }),
  fc.record({ type: fc.constant('block-dirty-bitmap-merge'), data: mergeArgs }),
);

const bitmapCmd: fc.Arbitrary<Cmd> = bitmapAction.map((a) => ({
  execute: a.type,
  arguments: a.data as Record<string, unknown>,
}));

/** a job's optional members, each rarely present, so that most jobs are valid */
const rarely = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: a });
const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

const jobCommon = fc
  .record({
    'job-id': fc.option(fc.constantFrom(...JOBS), { freq: 10 }),
    'auto-finalize': rarely(bool),
    'auto-dismiss': rarely(bool),
    speed: rarely(fc.constantFrom(0, 1 << 30, -1)),
  })
  .map(defined);

const backupArgs = fc
  .tuple(
    fc.record({ device: node, target: node }),
    fc.oneof(
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
        arbitrary: opt({
          sync: fc.constantFrom('none', 'full', 'top', 'bitmap', 'incremental'),
          bitmap: bitmapName,
          'bitmap-mode': fc.constantFrom('on-success', 'always', 'never'),
        }),
      },
    ),
    fc.record({
      'filter-node-name': rarely(fc.constantFrom('flt', 'fa')),
      'x-perf': rarely(
        opt({
          'use-copy-range': bool,
          'max-workers': fc.constantFrom(1, 8, 0),
          'max-chunk': fc.constantFrom(0, 65536, 1000),
        }),
      ),
    }),
    jobCommon,
  )
  .map(([a, b, c, d]) => defined({ ...a, ...b, ...c, ...d }));

const backup: fc.Arbitrary<Cmd> = backupArgs.map((a) => ({ execute: 'blockdev-backup', arguments: a }));

const mirror: fc.Arbitrary<Cmd> = fc
  .tuple(
    fc.record({ device: node, target: node, sync: fc.constantFrom('full', 'top', 'none') }),
    fc.record({
      'filter-node-name': rarely(fc.constantFrom('mflt', 'fa')),
      granularity: rarely(fc.constantFrom(65536, 512, 1000)),
    }),
    jobCommon,
  )
  .map(([a, b, c]) => ({ execute: 'blockdev-mirror', arguments: defined({ ...a, ...b, ...c }) }));

const jobRef = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...JOBS) }, fc.constantFrom('fa', ''));
const jobVerb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    execute: fc.constantFrom(
      'job-pause',
      'job-resume',
      'job-cancel',
      'job-complete',
      'job-dismiss',
      'job-finalize',
    ),
    arguments: fc.record({ id: jobRef }),
  }),
  fc
    .tuple(
      fc.constantFrom(
        'block-job-cancel',
        'block-job-pause',
        'block-job-resume',
        'block-job-complete',
        'block-job-dismiss',
        'block-job-finalize',
      ),
      jobRef,
      fc.option(bool, { freq: 3 }),
    )
    .map(([c, id, force]) => ({
      execute: c,
      arguments:
        c === 'block-job-dismiss' || c === 'block-job-finalize'
          ? { id }
          : c === 'block-job-cancel' && force !== null
            ? { device: id, force }
            : { device: id },
    })),
  fc.record({
    execute: fc.constant('block-job-set-speed'),
    arguments: fc.record({ device: jobRef, speed: fc.constantFrom(0, -5, 1 << 30) }),
  }),
);

const nbd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.constant({
    execute: 'nbd-server-start',
    arguments: { addr: { type: 'unix', data: { path: '@nbd.sock' } } },
  }),
  fc.constant({ execute: 'nbd-server-stop' }),
  fc
    .tuple(
      fc.record({ type: fc.constant('nbd'), id: fc.constantFrom(...EXPORTS), 'node-name': node }),
      opt({
        name: fc.constantFrom('x', 'y'),
        writable: bool,
        bitmaps: fc.array(bitmapName, { maxLength: 2 }),
        'allocation-depth': bool,
      }),
    )
    .map(([a, b]) => ({ execute: 'block-export-add', arguments: { ...a, ...b } })),
  fc
    .tuple(fc.constantFrom(...EXPORTS, 'x'), fc.option(fc.constantFrom('safe', 'hard'), { freq: 3 }))
    .map(([id, mode]) => ({ execute: 'block-export-del', arguments: mode ? { id, mode } : { id } })),
);

const del: fc.Arbitrary<Cmd> = node.map((n) => ({ execute: 'blockdev-del', arguments: { 'node-name': n } }));

const query: fc.Arbitrary<Cmd> = fc.oneof(
  fc.constant({ execute: 'query-jobs' }),
  fc.constant({ execute: 'query-block-jobs' }),
  fc.constant({ execute: 'query-named-block-nodes', arguments: { flat: true } }),
  fc.constant({ execute: 'query-block-exports' }),
  fc.constant({ execute: 'query-block' }),
);

const transaction: fc.Arbitrary<Cmd> = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 2, arbitrary: backupArgs.map((d) => ({ type: 'blockdev-backup', data: d })) },
        { weight: 3, arbitrary: bitmapAction },
      ),
      { minLength: 1, maxLength: 3 },
    ),
    fc.option(fc.constantFrom('individual', 'grouped'), { freq: 2 }),
  )
  .map(([actions, mode]) => ({
    execute: 'transaction',
    arguments: mode ? { actions, properties: { 'completion-mode': mode } } : { actions },
  }));

export const command: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 8, arbitrary: blockdevAdd },
  { weight: 1, arbitrary: objectAdd },
  { weight: 2, arbitrary: del },
  { weight: 4, arbitrary: bitmapCmd },
  { weight: 3, arbitrary: nbd },
  { weight: 4, arbitrary: backup },
  { weight: 2, arbitrary: mirror },
  { weight: 4, arbitrary: jobVerb },
  { weight: 2, arbitrary: transaction },
  { weight: 3, arbitrary: query },
);

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
export const sequence: fc.Arbitrary<Cmd[]> = fc
  .tuple(
    // each setup step runs with probability 9/10 (shrinking drops it)
    fc.tuple(...SETUP.map(() => fc.noBias(fc.integer({ min: 0, max: 9 })))),
    fc.array(command, { minLength: 1, maxLength: 12 }),
  )
  .map(([keep, cmds]) => [...SETUP.filter((_, i) => keep[i] > 0), ...cmds]);

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
      fc.asyncProperty(sequence, async (seq) => {
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
