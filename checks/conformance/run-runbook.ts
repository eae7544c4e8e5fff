import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dropDrainPairs, normalizeStdout, normalizeValue, type RecordedEvent } from '../../contract/noise.ts';
import type { Profile } from '../../contract/versions.ts';
import { type HeldConnection, holdConnections, releaseConnections } from '../../harness/clients/nbd-hold.ts';
import { QmpClient, QmpConnectionClosedError } from '../../harness/clients/qmp-client.ts';
import { QmpTimeoutError } from '../../harness/clients/qmp-errors.ts';
import {
  AttachRefused,
  checkNoGuests,
  cleanUp,
  snapshotEndpoint,
  unsafeStep,
} from '../../harness/targets/attach.ts';
import { registerCleanup } from '../../harness/targets/cleanup-registry.ts';
import { hmpQemuIo, type IoTarget } from '../../harness/targets/hmp-qemu-io.ts';
import { type QemuProcess, startQsd, startSystem } from '../../harness/targets/qemu-process.ts';
import {
  describeStep,
  explainAttach,
  explainQemu,
  qmpBoundMs,
  sleepUnless,
  stopNote,
  TargetFailure,
} from '../../harness/targets/target-failure.ts';
import type { TargetSpec } from '../../harness/targets/target-spec.ts';
import { RealFs } from '../../sim/host/fs.ts';
import { createQcow2 } from '../../sim/image/qcow2.ts';
import { attachNbdServer } from '../../sim/serve/nbd/server.ts';
import { createSim, type Sim } from '../../sim/sim.ts';
import { eventProblem } from './event-check.ts';
import { imageBitmaps } from './image-step.ts';
import { runNbdStep } from './nbd-step.ts';
import type { ParsedRunbook, Step } from './runbooks/define.ts';

/**
 * Runs a runbook on one target and returns its normalised transcript. A target is the simulator in
 * process or a real QEMU; both get the same files, made by the real qemu-img/qemu-io, in scratch folders
 * of their own that are removed afterwards.
 */
export interface Transcript {
  runbook: string;
  target: string;
  steps: { step: number; request: unknown; reply?: unknown; stdout?: string[]; nbd?: unknown }[];
  events: { event: string; data?: unknown }[];
}

interface Driver {
  /** `timeoutMs`: a shorter bound than the target's own (a step's stuckAfterMs); past it QmpTimeoutError */
  qmp(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<unknown>;
  /** HMP qemu-io on a node, or with -d on a qdev path */
  io(target: IoTarget, cmd: string): Promise<string>;
  /** let `ms` of time pass */
  pass(ms: number): Promise<void>;
  /** events since the last call */
  takeEvents(): { event: string; data?: Record<string, unknown> }[];
  /** QEMU quits (or is killed) and starts again, paused, on the same files */
  restart?(how: 'quit' | 'kill'): Promise<void>;
  stop(): Promise<void>;
  /** the target stopped answering and the run ended there (a recorded stuck step): stop without asking it */
  stuck?(): void;
  /** real targets, called often while the runner waits: a bounded QMP round-trip at most once per QMP bound */
  heartbeat?(): Promise<void>;
  /** real targets: the error `e` (thrown while `doing`) as a one-line TargetFailure when the target failed */
  explain?(e: unknown, doing: string): Promise<Error>;
}

const WAIT_BOUND_MS = 20_000;

/**
 * The simulator's copy of a runbook's files is made in process: a raw file is a truncate plus pattern writes
 * (what qemu-img create and qemu-io write -P do), a qcow2 image comes from our createQcow2, which writes what
 * qemu-img create writes byte for byte (sim/image tests check that). Real targets use the real tools.
 */
function makeFilesInProcess(rb: ParsedRunbook, dir: string, img: string[], io: string[]): void {
  for (const f of rb.files) {
    const file = path.join(dir, f.name);
    if (f.format === 'raw') {
      // what qemu-img create -f raw leaves (the simulator's own file creation: first block allocated)
      new RealFs(dir).createRaw(f.name, f.size);
      const fd = fs.openSync(file, 'r+');
      try {
        for (const w of f.writes)
          fs.writeSync(fd, new Uint8Array(w.length).fill(w.pattern), 0, w.length, w.offset);
      } finally {
        fs.closeSync(fd);
      }
    } else if (f.writes.length === 0) {
      createQcow2(file, {
        size: f.size,
        backingFile: f.backing ? path.join(dir, f.backing) : undefined,
        backingFormat: f.backing ? (f.backingFormat ?? 'raw') : undefined,
      });
    } else {
      makeFiles({ ...rb, files: [f] }, dir, img, io);
    }
  }
}

/** qemu-img and qemu-io making a runbook's files: seconds at most; a hung one is killed and named */
const TOOL_BOUND_MS = 30_000;

function runTool(argv: string[]): void {
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: 'pipe',
    timeout: TOOL_BOUND_MS,
    killSignal: 'SIGKILL',
  });
  const what = `${path.basename(argv.find((a) => /qemu-(img|io)$/.test(a)) ?? argv[0])} ${argv.at(-1)}`;
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT')
    throw new Error(`${what}: no exit within ${TOOL_BOUND_MS} ms (killed)`);
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(
      `${what}: ${r.signal ? `killed by ${r.signal}` : `exit ${r.status}`}: ${String(r.stderr).trim()}`,
    );
}

function makeFiles(rb: ParsedRunbook, dir: string, img: string[], io: string[]): void {
  for (const f of rb.files) {
    const file = path.join(dir, f.name);
    const args = ['create', '-q', '-f', f.format];
    if (f.backing) args.push('-b', path.join(dir, f.backing), '-F', f.backingFormat ?? 'raw');
    args.push(file, String(f.size));
    runTool([...img, ...args]);
    for (const w of f.writes)
      runTool([...io, '-f', f.format, '-c', `write -P ${w.pattern} ${w.offset} ${w.length}`, file]);
  }
}

/** "@name" in any string argument becomes the file's path in this target's scratch folder */
function substitute(v: unknown, dir: string): unknown {
  if (typeof v === 'string') return v.replace(/@([A-Za-z0-9._-]+)/g, (_, n: string) => path.join(dir, n));
  if (Array.isArray(v)) return v.map((x) => substitute(x, dir));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, dir)]));
  return v;
}

async function simDriver(
  rb: ParsedRunbook,
  spec: Extract<TargetSpec, { kind: 'sim' }>,
  dir: string,
): Promise<Driver> {
  const boot = (): Sim =>
    createSim({
      profile: spec.profile,
      seed: spec.seed ?? 1,
      switched: spec.switched ?? [],
      flavour: rb.flavour,
      fs: 'real',
      cwd: dir,
      // as startSystem: a q35 machine (one with devices) starts with -S
      paused: rb.flavour === 'system' && rb.devices.length > 0,
      devices: rb.devices.map((d) => ({
        id: d.id,
        blockdev: substitute(d.blockdev, dir) as Record<string, unknown>,
      })),
    });
  let sim = boot();
  const events: { event: string; data?: Record<string, unknown> }[] = [];
  sim.onEvent((e) => events.push({ event: e.event, data: e.data }));
  // nbd-server-start listens for real, so a runbook's NBD reader talks to the simulator over a socket
  let nbd = attachNbdServer(sim.core);
  return {
    async restart(how) {
      await nbd.close();
      if (how === 'quit') sim.quit();
      else sim.crash();
      events.length = 0;
      sim = boot();
      sim.onEvent((e) => events.push({ event: e.event, data: e.data }));
      nbd = attachNbdServer(sim.core);
    },
    async qmp(command, args) {
      if (sim.core.stuck) throw new QmpTimeoutError(`no reply to '${command}': ${sim.core.stuck}`);
      const r = sim.execute(command, args);
      // a command that hangs QEMU's monitor on this version gets no reply, as from the real one
      if (sim.core.stuck) throw new QmpTimeoutError(`no reply to '${command}': ${sim.core.stuck}`);
      return r;
    },
    async io(target, cmd) {
      const before = sim.core.stdout.length;
      const name = 'node' in target ? target.node : `-d ${target.qdev}`;
      const r = sim.execute('human-monitor-command', { 'command-line': `qemu-io ${name} "${cmd}"` });
      const hmp = 'return' in r ? String(r.return) : '';
      return hmp + sim.core.stdout.slice(before).join('');
    },
    async pass(ms) {
      // sockets (the NBD server's clients) get their turn before simulated time moves on
      await new Promise((r) => setImmediate(r));
      sim.advance(ms);
    },
    takeEvents() {
      return events.splice(0);
    },
    async stop() {
      await nbd.close();
      for (const n of sim.core.graph.nodes.values()) n.driver.close(n);
    },
  };
}

async function qemuDriver(
  rb: ParsedRunbook,
  spec: Extract<TargetSpec, { kind: 'qemu' }>,
  dir: string,
): Promise<Driver> {
  const devArgs = rb.devices.flatMap((d) => [
    '-blockdev',
    JSON.stringify(substitute(d.blockdev, dir)),
    '-device',
    `virtio-blk-pci,drive=${String(d.blockdev['node-name'])},id=${d.id}`,
  ]);
  const common = { argvPrefix: spec.argvPrefix, env: spec.env, extraArgs: devArgs };
  const start = (): Promise<QemuProcess> =>
    rb.flavour === 'qsd'
      ? startQsd(common)
      : startSystem({ ...common, machine: rb.devices.length > 0 ? 'q35' : 'none' });
  let q = await start();
  let listener = q.qmp.events.listen();
  const bound = qmpBoundMs(spec.qmpTimeoutMs);
  let lastReply = Date.now();
  let failure: TargetFailure | undefined;
  let stuck = false;
  const gone = () => q.exitStatus() !== undefined || q.qmp.closed;
  return {
    async qmp(command, args, timeoutMs) {
      const r = await q.qmp.executeRaw(command, args, { timeoutMs: Math.min(bound, timeoutMs ?? bound) });
      lastReply = Date.now();
      return r;
    },
    stuck() {
      stuck = true;
    },
    async restart(how) {
      listener.close();
      if (how === 'kill') await q.crash();
      else await q.stop();
      q = await start();
      listener = q.qmp.events.listen();
    },
    async io(target, cmd) {
      const r = await hmpQemuIo(q, target, cmd);
      return r.hmp + r.stdout;
    },
    async pass(ms) {
      // a death while time passes is noticed at once, not at the next command
      await sleepUnless(ms, q.exited);
      if (gone()) throw new QmpConnectionClosedError(`QMP connection lost while waiting ${ms} ms`);
    },
    async heartbeat() {
      if (Date.now() - lastReply < bound) return;
      await q.qmp.executeRaw('query-version', undefined, { timeoutMs: bound });
      lastReply = Date.now();
    },
    async explain(e, doing) {
      const r = await explainQemu(q, e, doing, bound);
      if (r instanceof TargetFailure) failure ??= r;
      return r;
    },
    takeEvents() {
      return listener
        .drain()
        .map((e) => ({ event: e.event, data: e.data as Record<string, unknown> | undefined }));
    },
    async stop() {
      listener.close();
      // a stuck QEMU would only wait out quit's bound: SIGTERM, a grace, then SIGKILL
      await q.stop({ quit: failure === undefined && !stuck });
      if (failure?.kind === 'stuck') failure.message += `; ${stopNote(q)}`;
    },
  };
}

/** A QEMU someone else runs (attach mode): only what the runbook creates is touched, and removed after. */
async function attachDriver(
  rb: ParsedRunbook,
  spec: Extract<TargetSpec, { kind: 'attach' }>,
): Promise<Driver> {
  if (rb.steps.some((st) => 'io' in st))
    throw new AttachRefused("qemu-io prints on the endpoint's stdout, which an attached client cannot read");
  if (rb.devices.length > 0) throw new AttachRefused('the check needs guest devices of its own');
  const hangs = rb.steps.find((st) => 'qmp' in st && st.stuckAfterMs !== undefined);
  if (hangs && 'qmp' in hangs)
    throw new AttachRefused(`its ${hangs.qmp} hangs some QEMU versions for good, and this QEMU is not ours`);
  const bound = qmpBoundMs(spec.qmpTimeoutMs);
  const q = await QmpClient.connect(spec.socket, { timeoutMs: bound });
  try {
    await checkNoGuests(q, spec.allowLiveVm);
    const before = await snapshotEndpoint(q);
    for (const st of rb.steps) {
      if (!('qmp' in st)) continue;
      const why = unsafeStep(st.qmp, st.args, before);
      if (why) throw new AttachRefused(why);
    }
    const listener = q.events.listen();
    const foreign = (v: unknown) => typeof v === 'string' && (before.jobs.has(v) || before.exports.has(v));
    const mine = (list: unknown) =>
      Array.isArray(list)
        ? list.filter(
            (x: Record<string, unknown>) =>
              !before.nodes.has(x['node-name'] as string) && !foreign(x.id) && !foreign(x.device),
          )
        : list;
    let lastReply = Date.now();
    let failure: TargetFailure | undefined;
    return {
      async qmp(command, args, timeoutMs) {
        const r = (await q.executeRaw(command, args, {
          timeoutMs: Math.min(bound, timeoutMs ?? bound),
        })) as Record<string, unknown>;
        lastReply = Date.now();
        // what existed before the run is not the check's business
        if ('return' in r && /^query-(named-block-nodes|jobs|block-jobs|block-exports)$/.test(command))
          return { ...r, return: mine(r.return) };
        return r;
      },
      async io() {
        throw new AttachRefused('no qemu-io in attach mode');
      },
      async pass(ms) {
        await sleep(ms);
        if (q.closed) throw new QmpConnectionClosedError(`QMP connection lost while waiting ${ms} ms`);
      },
      async heartbeat() {
        if (Date.now() - lastReply < bound) return;
        await q.executeRaw('query-version', undefined, { timeoutMs: bound });
        lastReply = Date.now();
      },
      async explain(e, doing) {
        const r = explainAttach(spec.socket, e, doing, bound);
        if (r instanceof TargetFailure) failure ??= r;
        return r;
      },
      takeEvents() {
        return listener
          .drain()
          .filter(
            (e) =>
              !foreign((e.data as Record<string, unknown> | undefined)?.id) &&
              !foreign((e.data as Record<string, unknown> | undefined)?.device),
          )
          .map((e) => ({ event: e.event, data: e.data as Record<string, unknown> | undefined }));
      },
      async stop() {
        listener.close();
        if (failure === undefined && !q.closed) {
          try {
            await cleanUp(q, before);
          } finally {
            await q.close();
          }
          return;
        }
        // The connection broke or hung mid-check: what the check created is still removed, over a new
        // connection (QEMU takes the next client once the old one is gone). Bounded like everything else.
        await q.close();
        let again: QmpClient | undefined;
        try {
          again = await QmpClient.connect(spec.socket, { timeoutMs: bound });
          await cleanUp(again, before);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          const note = `; could not remove what the check created: ${why}`;
          if (failure) failure.message += note;
          else throw new Error(note.slice(2));
        } finally {
          await again?.close();
        }
      },
    };
  } catch (e) {
    await q.close();
    throw e;
  }
}

function matches(
  e: { event: string; data?: Record<string, unknown> },
  want: { event: string; data?: Record<string, unknown> },
): boolean {
  if (e.event !== want.event) return false;
  for (const [k, v] of Object.entries(want.data ?? {}))
    if (JSON.stringify(e.data?.[k]) !== JSON.stringify(v)) return false;
  return true;
}

export async function runRunbook(rb: ParsedRunbook, spec: TargetSpec, label: string): Promise<Transcript> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-rb-'));
  // an interrupted run (SIGINT/SIGTERM, uncaught error) still removes the folder
  const unregister = registerCleanup({ pids: () => [], scratch: dir });
  const img = spec.kind === 'qemu' && spec.qemuImg ? spec.qemuImg : ['qemu-img'];
  const io = spec.kind === 'qemu' && spec.qemuIo ? spec.qemuIo : ['qemu-io'];
  let driver: Driver | undefined;
  const transcript: Transcript = { runbook: rb.id, target: label, steps: [], events: [] };
  const recorded: RecordedEvent[] = [];
  // the error the check fails with; a failing stop() then adds to it instead of hiding it
  let failure: unknown;
  // raw NBD connections of nbdHold steps, by name: open until the run ends
  const held = new Map<string, HeldConnection[]>();
  try {
    if (spec.kind === 'sim') makeFilesInProcess(rb, dir, img, io);
    else makeFiles(rb, dir, img, io);
    driver =
      spec.kind === 'sim'
        ? await simDriver(rb, spec, dir)
        : spec.kind === 'attach'
          ? await attachDriver(rb, spec)
          : await qemuDriver(rb, spec, dir);
    let waitCursor = 0;
    const collect = (stepIndex: number) => {
      for (const e of driver!.takeEvents()) recorded.push({ ...e, step: stepIndex });
    };
    // a dead, hung-up or stuck real target fails the step with one line naming the program and the step
    const explain = async (e: unknown, doing: string): Promise<never> => {
      throw driver?.explain ? await driver.explain(e, doing) : e;
    };
    for (const [i, s] of rb.steps.entries()) {
      const outcome = await runStep(
        driver,
        s,
        i,
        dir,
        transcript,
        held,
        () => collect(i),
        async () => {
          const want = (s as Extract<Step, { wait: unknown }>).wait;
          const bound = (s as { timeoutMs?: number }).timeoutMs ?? WAIT_BOUND_MS;
          // the simulator's time is its own; a real target's wait is also bounded by the wall clock
          const until = spec.kind === 'sim' ? Number.POSITIVE_INFINITY : Date.now() + bound;
          for (let waited = 0; ; waited += 5) {
            collect(i);
            // a wait sees what the transcript keeps: a drain's paused/running pair is not a pause
            const kept = new Set(dropDrainPairs(recorded));
            const idx = recorded.findIndex((e, k) => k >= waitCursor && kept.has(e) && matches(e, want));
            if (idx >= 0) {
              waitCursor = idx + 1;
              return;
            }
            if (waited >= bound || Date.now() >= until)
              throw new Error(
                `runbook ${rb.id} step ${i}: no ${want.event} ${JSON.stringify(want.data ?? {})} within ${bound} ms`,
              );
            // a target that stopped answering is found within the QMP bound, not the (longer) wait bound
            await driver!.heartbeat?.();
            await driver!.pass(5);
          }
        },
      ).catch((e: unknown) => explain(e, describeStep(s, i)));
      if (outcome === 'stuck') {
        driver.stuck?.();
        break;
      }
    }
    // Events a command causes after its reply still belong to the run.
    await driver.pass(100).catch((e: unknown) => explain(e, 'the wait after the last step'));
    collect(rb.steps.length);
  } catch (e) {
    failure = e;
  }
  let teardown: unknown;
  for (const cs of held.values()) releaseConnections(cs);
  try {
    await driver?.stop();
  } catch (e) {
    teardown = e;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    unregister();
  }
  // never hide why the check failed behind a failing teardown
  if (failure !== undefined) {
    if (teardown !== undefined && failure instanceof TargetFailure)
      failure.message += `; teardown: ${teardown instanceof Error ? teardown.message : String(teardown)}`;
    throw failure;
  }
  if (teardown !== undefined) throw teardown;
  // every payload the event table knows must match it, on real QEMU as on the simulator
  for (const e of recorded) {
    const problem = eventProblem(e);
    if (problem) throw new Error(`runbook ${rb.id} step ${e.step}: ${problem}`);
  }
  transcript.events = dropDrainPairs(recorded).map((e) => ({
    event: e.event,
    data: normalizeValue(e.data, dir),
  }));
  transcript.steps = transcript.steps.map((s) => ({
    ...s,
    request: normalizeValue(s.request, dir),
    reply: normalizeValue(s.reply, dir),
  }));
  // A transcript is plain JSON: absent and undefined members are the same thing.
  return JSON.parse(JSON.stringify(transcript)) as Transcript;
}

/** a device's guest I/O goes through the BlockBackend of its virtio-blk child (ID/virtio-backend) */
function ioTarget(s: Extract<Step, { io: string }>): IoTarget {
  if ('node' in s) return { node: s.node };
  if ('device' in s) return { qdev: `${s.device}/virtio-backend` };
  return { qdev: s.qdev };
}

async function runStep(
  d: Driver,
  s: Step,
  i: number,
  dir: string,
  t: Transcript,
  held: Map<string, HeldConnection[]>,
  collect: () => void,
  wait: () => Promise<void>,
): Promise<'stuck' | undefined> {
  if ('qmp' in s) {
    const args = s.args === undefined ? undefined : (substitute(s.args, dir) as Record<string, unknown>);
    const request = { execute: s.qmp, arguments: s.args };
    let raw: Record<string, unknown>;
    try {
      raw = (await d.qmp(s.qmp, args, s.stuckAfterMs)) as Record<string, unknown>;
    } catch (e) {
      if (s.stuckAfterMs === undefined || !(e instanceof QmpTimeoutError)) throw e;
      collect();
      t.steps.push({ step: i, request, reply: { stuck: `no reply within ${s.stuckAfterMs} ms` } });
      return 'stuck';
    }
    // our own request ids are not part of QEMU's behaviour
    const { id: _id, ...reply } = raw;
    collect();
    t.steps.push({ step: i, request, reply });
  } else if ('io' in s) {
    const { io, ...where } = s;
    const out = await d.io(ioTarget(s), io);
    collect();
    t.steps.push({ step: i, request: { io, ...where }, stdout: normalizeStdout(out, dir) });
  } else if ('nbd' in s) {
    const socket = substitute(s.nbd.socket, dir) as string;
    const record = await runNbdStep(s.nbd, socket);
    collect();
    t.steps.push({
      step: i,
      request: { nbd: s.nbd.export, writes: s.nbd.writes, reads: s.nbd.reads },
      nbd: record,
    });
  } else if ('nbdHold' in s) {
    const { name, count, waitMs } = s.nbdHold;
    const cs = await holdConnections(substitute(s.nbdHold.socket, dir) as string, count, waitMs);
    held.set(name, [...(held.get(name) ?? []), ...cs]);
    collect();
    const greeted = cs.filter((c) => c.greeted).length;
    t.steps.push({ step: i, request: { nbdHold: name, count }, nbd: { greeted, of: count } });
  } else if ('nbdHeld' in s) {
    const { name, withinMs } = s.nbdHeld;
    const cs = held.get(name) ?? [];
    // target time: the simulator's moves only as the runner lets it pass
    for (let waited = 0; waited < withinMs && cs.some((c) => !c.closed); waited += 5) await d.pass(5);
    collect();
    const closed = cs.filter((c) => c.closed).length;
    t.steps.push({ step: i, request: { nbdHeld: name, withinMs }, nbd: { closed, of: cs.length } });
  } else if ('wait' in s) {
    await wait();
  } else if ('restart' in s) {
    if (!d.restart) throw new Error(`step ${i}: this target cannot be restarted`);
    await d.restart(s.restart);
    collect();
    t.steps.push({ step: i, request: { restart: s.restart } });
  } else if ('imageBitmaps' in s) {
    const bitmaps = imageBitmaps(substitute(s.imageBitmaps, dir) as string);
    t.steps.push({ step: i, request: { imageBitmaps: s.imageBitmaps }, reply: { bitmaps } });
  } else if ('sleepMs' in s) {
    await d.pass(s.sleepMs);
    collect();
  }
}
