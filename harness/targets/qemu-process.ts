/**
 * Starts a real QEMU (qemu-storage-daemon or qemu-system-x86_64) with a QMP socket in a scratch
 * folder, and tears it down without leaks. stdout/stderr go to files in the scratch folder rather
 * than pipes: nothing has to drain them, and a file is complete the moment QEMU's write returns,
 * which is what lets `hmpQemuIo` read qemu-io's output right after the QMP reply.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_TIMEOUT_MS, QmpClient, QmpConnectError } from '../clients/qmp-client.js';
import { registerCleanup } from './cleanup-registry.js';
import { isProcessAlive } from './proc-alive.js';

export interface StartOptions {
  /** the program and any wrapper words, e.g. a foreign dynamic loader + `--library-path DIR` + binary */
  argvPrefix?: string[] | undefined;
  /** the whole environment of QEMU (default: this process's) */
  env?: NodeJS.ProcessEnv | undefined;
  extraArgs?: string[] | undefined;
  /** bound on startup (socket, greeting, negotiation) and the QMP client's default timeout */
  timeoutMs?: number | undefined;
  /** negotiate capabilities after the greeting (default true); false to test pre-negotiation */
  negotiate?: boolean | undefined;
  /** stop(): how long each of quit and SIGTERM may take before escalating (default 3000) */
  stopStepMs?: number | undefined;
}

export interface SystemOptions extends StartOptions {
  /** 'none': no devices at all; 'q35': a PC that accepts `-device virtio-blk-pci` via extraArgs */
  machine?: 'none' | 'q35' | undefined;
  /** Debian's 7.2 build has no qtest accelerator ("invalid accelerator qtest"), so tcg by default */
  accel?: string | undefined;
  /** add -S (default true for q35): no firmware spins; block devices and qemu-io -d work paused */
  paused?: boolean | undefined;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** set when the program could not be started at all (e.g. ENOENT) */
  spawnError?: string | undefined;
}

export interface QemuProcess {
  qmp: QmpClient;
  scratch: string;
  proc: ChildProcess;
  argv: readonly string[];
  /** the program, for messages: 'qemu-storage-daemon', 'qemu-system-x86_64', 'fleece-lab serve' */
  name: string;
  /** resolves (never rejects) once the process is gone */
  exited: Promise<ExitStatus>;
  exitStatus(): ExitStatus | undefined;
  /** everything QEMU wrote to stdout so far (qemu-io output from HMP lands here) */
  stdoutText(): string;
  stderrText(): string;
  /** "qemu-storage-daemon (pid N) exited with status 1; stderr tail: …" */
  describe(): string;
  /**
   * quit (bounded), then SIGTERM, then SIGKILL; awaits exit; removes the scratch folder. Idempotent.
   * `quit: false` skips the quit (for a QEMU already known to be stuck: it would only wait out its bound).
   */
  stop(opts?: { quit?: boolean }): Promise<void>;
  /** kill -9 (no quit, no SIGTERM: nothing is written back), then the same cleanup as stop. Idempotent. */
  crash(): Promise<void>;
}

const STOP_STEP_MS = 3_000;
const KILL_BOUND_MS = 5_000;
const STDERR_TAIL_BYTES = 2_000;

function readFileSafe(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function formatExit(s: ExitStatus): string {
  if (s.spawnError !== undefined) return `could not be started: ${s.spawnError}`;
  if (s.signal !== null) return `was killed by signal ${s.signal}`;
  return `exited with status ${s.code}`;
}

/**
 * What a message calls the program: the QEMU binary also behind a foreign dynamic loader
 * (`ld-linux… --library-path DIR …/qemu-storage-daemon`), and the simulator as `fleece-lab serve`.
 */
export function programName(argv: readonly string[]): string {
  const words = argv.map((a) => path.basename(a));
  const qemu = words.find((w) => /^qemu-/.test(w));
  if (qemu) return qemu;
  const cli = words.findIndex((w) => /^fleece-lab(\.js)?$/.test(w));
  if (cli >= 0 && words[cli + 1] === 'serve') return 'fleece-lab serve';
  return words[0] ?? 'qemu';
}

async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  const ac = new AbortController();
  try {
    return await Promise.race([p, sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined)]);
  } finally {
    ac.abort();
  }
}

class Launched {
  readonly exited: Promise<ExitStatus>;
  private status: ExitStatus | undefined;
  private wrappedPid: number | undefined;
  private unregister: () => void = () => {};

  constructor(
    readonly proc: ChildProcess,
    readonly scratch: string,
    readonly argv: readonly string[],
  ) {
    this.exited = new Promise((resolve) => {
      const done = (s: ExitStatus): void => {
        this.status = s;
        resolve(s);
      };
      proc.once('exit', (code, signal) => done({ code, signal }));
      proc.once('error', (err) => {
        // 'error' without a pid means spawn failed and no 'exit' will follow.
        if (proc.pid === undefined) done({ code: null, signal: null, spawnError: err.message });
      });
    });
    this.unregister = registerCleanup({ scratch, pids: () => this.livePids(), exited: this.exited });
  }

  get name(): string {
    return programName(this.argv);
  }

  exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** When a wrapper (not exec-ing) sits in argvPrefix, QEMU's pidfile names the real process. */
  notePidfile(file: string): void {
    const pid = Number.parseInt(readFileSafe(file).trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== this.proc.pid) this.wrappedPid = pid;
  }

  livePids(): number[] {
    const pids: number[] = [];
    if (this.status === undefined && this.proc.pid !== undefined) pids.push(this.proc.pid);
    if (this.wrappedPid !== undefined && isProcessAlive(this.wrappedPid)) pids.push(this.wrappedPid);
    return pids;
  }

  stdoutText(): string {
    return readFileSafe(path.join(this.scratch, 'stdout.log'));
  }

  stderrText(): string {
    return readFileSafe(path.join(this.scratch, 'stderr.log'));
  }

  describe(): string {
    const who = `${this.name} (pid ${this.proc.pid ?? '?'})`;
    const state = this.status === undefined ? 'is still running' : formatExit(this.status);
    const err = this.stderrText().trim();
    const tail = err.length > STDERR_TAIL_BYTES ? `…${err.slice(-STDERR_TAIL_BYTES)}` : err;
    return tail ? `${who} ${state}; stderr tail: ${tail}` : `${who} ${state}; stderr empty`;
  }

  /** For the QMP client: give a dying QEMU a moment so the error can carry its exit status. */
  async closeDetail(): Promise<string> {
    await within(this.exited, 1_500);
    return this.describe();
  }

  async kill(termBoundMs: number): Promise<void> {
    for (const [sig, bound] of [
      ['SIGTERM', termBoundMs],
      ['SIGKILL', KILL_BOUND_MS],
    ] as const) {
      if (this.livePids().length === 0) return;
      for (const pid of this.livePids()) {
        try {
          process.kill(pid, sig);
        } catch {
          // raced with its exit
        }
      }
      await within(this.exited, bound);
      // the wrapped pid is not our child: poll it instead of awaiting 'exit'
      const until = Date.now() + bound;
      while (this.wrappedPid !== undefined && isProcessAlive(this.wrappedPid) && Date.now() < until)
        await sleep(20);
    }
  }

  /** kill -9: QEMU gets no chance to close its images (the real process first, then any wrapper). */
  async killHard(): Promise<void> {
    for (const pid of this.livePids().reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // raced with its exit
      }
    }
    await within(this.exited, KILL_BOUND_MS);
    const until = Date.now() + KILL_BOUND_MS;
    while (this.wrappedPid !== undefined && isProcessAlive(this.wrappedPid) && Date.now() < until)
      await sleep(20);
  }

  removeScratch(): void {
    fs.rmSync(this.scratch, { recursive: true, force: true });
    this.unregister();
  }
}

async function connectWhenReady(l: Launched, sock: string, opts: StartOptions): Promise<QmpClient> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (l.exitStatus() !== undefined) throw new Error(`QEMU startup failed: ${l.describe()}`);
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(`QEMU startup failed: no QMP socket at ${sock} after ${timeoutMs} ms: ${l.describe()}`);
    try {
      return await QmpClient.connect(sock, {
        timeoutMs: left,
        negotiate: opts.negotiate,
        closeDetail: () => l.closeDetail(),
      });
    } catch (err) {
      // The socket appears some time after exec; anything else is a real failure.
      const retry = err instanceof QmpConnectError && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED');
      if (!retry) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`QEMU startup failed: ${why}`, { cause: err });
      }
      await sleep(Math.min(20, Math.max(1, left)));
    }
  }
}

async function launch(
  argv: string[],
  pidfile: string,
  scratch: string,
  opts: StartOptions,
): Promise<QemuProcess> {
  const out = fs.openSync(path.join(scratch, 'stdout.log'), 'w');
  const err = fs.openSync(path.join(scratch, 'stderr.log'), 'w');
  let proc: ChildProcess;
  try {
    proc = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', out, err], env: opts.env ?? process.env });
  } catch (e) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw e;
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
  const l = new Launched(proc, scratch, argv);
  let qmp: QmpClient;
  try {
    qmp = await connectWhenReady(l, path.join(scratch, 'qmp.sock'), opts);
  } catch (e) {
    l.notePidfile(pidfile);
    await l.kill(0);
    l.removeScratch();
    throw e;
  }
  l.notePidfile(pidfile);
  let stopping: Promise<void> | undefined;
  const step = opts.stopStepMs ?? STOP_STEP_MS;
  const stop = async (quit: boolean): Promise<void> => {
    const deadline = Date.now() + step;
    if (quit && l.exitStatus() === undefined && !qmp.closed) {
      // quit's reply and the hang-up race; either way the exit below is what counts
      await qmp.execute('quit', undefined, { timeoutMs: step }).catch(() => undefined);
      await within(l.exited, Math.max(0, deadline - Date.now()));
    }
    try {
      await l.kill(step);
      await qmp.close();
    } finally {
      l.removeScratch();
    }
  };
  return {
    qmp,
    scratch,
    proc,
    argv,
    name: l.name,
    exited: l.exited,
    exitStatus: () => l.exitStatus(),
    stdoutText: () => l.stdoutText(),
    stderrText: () => l.stderrText(),
    describe: () => l.describe(),
    stop: (o = {}) => {
      stopping ??= stop(o.quit !== false);
      return stopping;
    },
    crash: () => {
      stopping ??= (async () => {
        try {
          await l.killHard();
          await qmp.close();
        } finally {
          l.removeScratch();
        }
      })();
      return stopping;
    },
  };
}

async function makeScratch(): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-lab-'));
}

/** qemu-storage-daemon got --pidfile in 6.0; 5.2's refuses it ("unrecognized option '--pidfile'"). */
const qsdPidfileSupport = new Map<string, boolean>();
function qsdHasPidfile(prefix: string[], env: NodeJS.ProcessEnv | undefined): boolean {
  const key = prefix.join('\0');
  let has = qsdPidfileSupport.get(key);
  if (has === undefined) {
    const r = spawnSync(prefix[0] ?? '', [...prefix.slice(1), '--help'], {
      encoding: 'utf8',
      env: env ?? process.env,
      timeout: 10_000,
    });
    has = `${r.stdout ?? ''}${r.stderr ?? ''}`.includes('--pidfile');
    qsdPidfileSupport.set(key, has);
  }
  return has;
}

export async function startQsd(opts: StartOptions = {}): Promise<QemuProcess> {
  const scratch = await makeScratch();
  const sock = path.join(scratch, 'qmp.sock');
  const pidfile = path.join(scratch, 'qsd.pid');
  const prefix = opts.argvPrefix ?? ['qemu-storage-daemon'];
  const argv = [
    ...prefix,
    '--chardev',
    `socket,path=${sock},server=on,wait=off,id=c0`,
    '--monitor',
    'chardev=c0',
    ...(qsdHasPidfile(prefix, opts.env) ? ['--pidfile', pidfile] : []),
    ...(opts.extraArgs ?? []),
  ];
  return launch(argv, pidfile, scratch, opts);
}

export async function startSystem(opts: SystemOptions = {}): Promise<QemuProcess> {
  const scratch = await makeScratch();
  const machine = opts.machine ?? 'none';
  const pidfile = path.join(scratch, 'qemu.pid');
  const paused = opts.paused ?? machine === 'q35';
  const argv = [
    ...(opts.argvPrefix ?? ['qemu-system-x86_64']),
    '-M',
    machine,
    '-accel',
    opts.accel ?? 'tcg',
    '-display',
    'none',
    '-nodefaults',
    '-qmp',
    `unix:${path.join(scratch, 'qmp.sock')},server=on,wait=off`,
    '-pidfile',
    pidfile,
    ...(paused ? ['-S'] : []),
    ...(opts.extraArgs ?? []),
  ];
  return launch(argv, pidfile, scratch, opts);
}

/** Runs `fn` against a fresh qemu-storage-daemon and always stops it, also when `fn` throws. */
export async function withQsd<T>(fn: (q: QemuProcess) => Promise<T>, opts: StartOptions = {}): Promise<T> {
  const q = await startQsd(opts);
  try {
    return await fn(q);
  } finally {
    await q.stop();
  }
}

export async function withSystem<T>(
  fn: (q: QemuProcess) => Promise<T>,
  opts: SystemOptions = {},
): Promise<T> {
  const q = await startSystem(opts);
  try {
    return await fn(q);
  } finally {
    await q.stop();
  }
}
