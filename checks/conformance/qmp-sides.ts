import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dropDrainPairs, normalizeValue, type RecordedEvent } from '../../contract/noise.ts';
import type { Profile } from '../../contract/versions.ts';
import type { ResolvedQemu } from '../../harness/qemu/install.ts';
import { registerCleanup } from '../../harness/targets/cleanup-registry.ts';
import { type QemuProcess, startQsd } from '../../harness/targets/qemu-process.ts';
import { createSim } from '../../sim/sim.ts';
import { type Cmd, FILES } from './qmp-sequences.ts';

/**
 * The two sides of the randomized QMP differential: a command sequence on the simulator in process, and on a
 * real qemu-storage-daemon of the same version, each in a scratch folder copied from one template (made by
 * that version's own qemu-img and qemu-io). Real QEMU is asynchronous: after each command both sides let
 * their jobs come to rest (the simulator by simulated time, the real one by polling query-jobs until no job
 * moves) before the step's events are taken.
 */
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

/** `fn` with a template folder of the scratch files made by this QEMU's tools, removed afterwards. */
export async function withTemplate<T>(q: ResolvedQemu, fn: (template: string) => Promise<T>): Promise<T> {
  const template = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-diff-tpl-'));
  // a run abandoned mid-way (a test's time bound, Ctrl-C) still leaves no folder behind
  const unregister = registerCleanup({ pids: () => [], scratch: template });
  try {
    makeTemplate(q, template);
    return await fn(template);
  } finally {
    fs.rmSync(template, { recursive: true, force: true });
    unregister();
  }
}

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
const SIM_REST_MS = 2_000;

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
        sim.advance(SIM_REST_MS);
        out.push({
          request: c,
          // as a client gets it over the wire (a member left undefined is not sent)
          reply: normalizeValue(JSON.parse(JSON.stringify(r)), dir),
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
async function untilJobsRest(q: QemuProcess, pausing?: string): Promise<void> {
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
  // the process is registered by startQsd; its folder here
  const unregister = registerCleanup({ pids: () => [], scratch: dir });
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
      if (jobsMayExist) await untilJobsRest(p, pauseVerb ? String(jobId) : undefined);
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
    unregister();
  }
}
