/**
 * What both of `fleece-lab serve`'s flavours do as processes (serve.ts: qemu-storage-daemon; system-serve.ts:
 * qemu-system-x86_64): the simulator with a real filesystem, its NBD server, the QMP monitors on chardevs,
 * time that follows the wall clock, the pid file, and an exit that leaves nothing behind.
 *
 * Time follows the wall clock: the simulated clock is brought up to real elapsed time before every QMP
 * command and on a timer (every 2 ms while timers are due, 20 ms when idle), so jobs run in real time;
 * the seed still decides every choice the simulator makes.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Profile } from '../../contract/versions.ts';
import type { Flavour } from '../core/core.ts';
import { createSim, type Sim } from '../sim.ts';
import { type Chardev, CharError } from './chardev/char.ts';
import { NullChardev } from './chardev/char-null.ts';
import { SocketClientChardev, SocketServerChardev } from './chardev/char-socket.ts';
import { StdioChardev } from './chardev/char-stdio.ts';
import { attachNbdServer, type NbdServerHandle } from './nbd/server.ts';
import { QmpHub, qmpFormat } from './qmp-server.ts';
import type { ChardevSpec } from './qsd-chardev.ts';

export interface ServeIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  cwd: string;
  pid: number;
  exit: (code: number) => void;
  /** install the signal handlers (default: SIGTERM, SIGINT, SIGHUP) */
  onSignal?: (handler: (signal: NodeJS.Signals) => void) => void;
  /** told about the process as soon as it exists (tests dispose of it) */
  onProcess?: (p: ServeBase) => void;
}

export function defaultIo(): ServeIo {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    cwd: process.cwd(),
    pid: process.pid,
    exit: (code) => process.exit(code),
    onSignal: (h) => {
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => h(sig));
    },
  };
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EADDRINUSE: 'Address already in use',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EROFS: 'Read-only file system',
  EEXIST: 'File exists',
};

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err?.code && ERRNO_TEXT[err.code]) || (err instanceof Error ? err.message : String(e));
}

export class HaltSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export interface PidfileTexts {
  create(file: string, why: string): string;
  write(why: string): string;
  resolve(file: string, why: string): string;
}

/** A running simulated QEMU of either flavour. */
export abstract class ServeBase {
  readonly sim: Sim;
  readonly hub: QmpHub;
  readonly chardevs = new Map<string, Chardev>();
  readonly nbd: NbdServerHandle;
  protected pidfileReal: string | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly t0 = process.hrtime.bigint();
  private readonly wallStartUs = Date.now() * 1000;
  protected down = false;

  protected constructor(
    readonly profile: Profile,
    seed: number,
    flavour: Flavour,
    protected readonly io: ServeIo,
    hooks: {
      nbdLog: (line: string) => void;
      onQuitRequested: () => void;
      onQuit: () => void;
      afterCommand?: () => void;
    },
  ) {
    this.sim = createSim({ profile, seed, flavour, fs: 'real', cwd: io.cwd });
    this.nbd = attachNbdServer(this.sim.core, { log: hooks.nbdLog });
    const epoch = this.sim.core.clock.epochSeconds;
    this.hub = new QmpHub(this.sim, {
      format: qmpFormat(profile),
      beforeCommand: () => this.syncClock(),
      timestamp: (e) => {
        const us = (e.timestamp.seconds - epoch) * 1_000_000 + e.timestamp.microseconds + this.wallStartUs;
        return { seconds: Math.floor(us / 1_000_000), microseconds: us % 1_000_000 };
      },
      onQuitRequested: hooks.onQuitRequested,
      onQuit: hooks.onQuit,
      afterCommand: hooks.afterCommand,
    });
    this.tick();
  }

  /** bring the simulated clock up to the wall clock, running what fell due */
  syncClock(): void {
    const clock = this.sim.core.clock;
    const target = Number(process.hrtime.bigint() - this.t0);
    if (target > clock.now) {
      try {
        clock.advance(target - clock.now);
      } catch (e) {
        this.io.stderr(`fleece-lab serve: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }

  private tick(): void {
    if (this.down) return;
    this.syncClock();
    const busy = this.sim.core.clock.pending > 0;
    this.ticker = setTimeout(() => this.tick(), busy ? 2 : 20);
  }

  protected stopTicking(): void {
    this.down = true;
    if (this.ticker) clearTimeout(this.ticker);
  }

  /** exit without cleaning up, as QEMU's exit(1) during startup leaves its sockets behind */
  protected halt(code: number): never {
    this.stopTicking();
    this.io.exit(code);
    throw new HaltSignal(code);
  }

  /** an error during startup: the flavour's error_report, then exit(1) */
  protected abstract fail(loc: string | undefined, msg: string): never;

  /** the chardev a spec stands for, listening or connected; `waiting` says "QEMU waiting for ..." */
  protected async openChardev(
    spec: ChardevSpec,
    loc: string,
    waiting: (label: (legacy: boolean) => string) => void,
  ): Promise<Chardev> {
    try {
      if (spec.backend === 'socket' && 'fd' in spec) {
        return await SocketServerChardev.fromFd(spec.id, spec.fd, spec.server);
      }
      if (spec.backend === 'socket') {
        if (spec.server) {
          const s = await SocketServerChardev.listen(spec.id, spec.addr, this.io.cwd);
          if (spec.wait) {
            waiting((legacy) => s.label(legacy));
            await s.waitForClient();
          }
          return s;
        }
        return await SocketClientChardev.connect(spec.id, spec.addr, this.io.cwd);
      }
      if (spec.backend === 'stdio') return StdioChardev.open(spec.id);
      return new NullChardev(spec.id);
    } catch (e) {
      if (e instanceof CharError) this.fail(loc, e.message);
      throw e;
    }
  }

  /** qemu_write_pidfile + the exit notifier that unlinks it */
  protected writePidfile(file: string, texts: PidfileTexts): void {
    const p = path.resolve(this.io.cwd, file);
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    } catch (e) {
      this.fail(undefined, texts.create(file, errText(e)));
    }
    try {
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, `${this.io.pid}\n`);
    } catch (e) {
      this.fail(undefined, texts.write(errText(e)));
    } finally {
      fs.closeSync(fd);
    }
    try {
      this.pidfileReal = fs.realpathSync(p);
    } catch (e) {
      this.io.stderr(texts.resolve(file, errText(e)));
      try {
        fs.unlinkSync(p);
      } catch {
        // gone
      }
      this.halt(1);
    }
  }

  protected removePidfile(): void {
    if (!this.pidfileReal) return;
    try {
      fs.unlinkSync(this.pidfileReal);
    } catch {
      // already gone
    }
    this.pidfileReal = undefined;
  }

  /** Tests: stop everything this process opened (the NBD socket too), without exiting. */
  async dispose(): Promise<void> {
    this.stopTicking();
    this.hub.close();
    for (const c of this.chardevs.values()) c.close();
    await this.nbd.close();
  }

  /** monitors and chardevs go, then the pid file, then exit(code) */
  protected closeAndExit(code: number): void {
    this.stopTicking();
    this.hub.close();
    for (const c of this.chardevs.values()) c.close();
    this.removePidfile();
    this.io.exit(code);
  }
}

export const DAEMON_ENV = 'FLEECE_LAB_SERVE_DAEMON';

export function isDaemonChild(): boolean {
  return process.env[DAEMON_ENV] === '1';
}

/** os_setup_post in the daemon: tell the waiting parent that startup is complete */
export function notifyDaemonParent(): void {
  try {
    fs.writeSync(3, Buffer.from([0]));
    fs.closeSync(3);
  } catch {
    // the parent is gone
  }
}

/**
 * A process's start as both programs run it: with the daemonize option, the parent relaunches itself as the
 * daemon and waits (os_daemonize); the daemon starts, tells the parent startup is complete, and from then on
 * prints nothing (os_setup_post: stdio goes to /dev/null; qsd also does chdir("/") there, the simulator
 * keeps resolving relative paths from the old cwd). A HaltSignal during start (an error already reported,
 * the exit already asked for) gives undefined.
 */
export async function startServe<P extends ServeBase & { start(): Promise<void> }>(
  o: { daemonize: boolean; option: string; io: ServeIo; relaunch: readonly string[] | undefined },
  make: (io: ServeIo) => P,
): Promise<P | undefined> {
  const daemon = o.daemonize && isDaemonChild();
  if (o.daemonize && !daemon) {
    if (!o.relaunch) throw new Error(`${o.option}: no command line to start the daemon with (relaunch)`);
    daemonize(o.io, o.relaunch);
    return undefined;
  }
  let io = o.io;
  let muted = false;
  if (daemon) {
    const real = io;
    io = {
      ...real,
      stdout: (s) => muted || real.stdout(s),
      stderr: (s) => muted || real.stderr(s),
      pid: process.pid,
    };
  }
  const p = make(io);
  io.onProcess?.(p);
  try {
    await p.start();
  } catch (e) {
    if (e instanceof HaltSignal) return undefined;
    throw e;
  }
  if (daemon) {
    notifyDaemonParent();
    muted = true;
  }
  return p;
}

/**
 * os_daemonize's parent: run the same command line again as a detached child (a new session), pass on
 * what it prints during startup, and exit 0 once it reports startup complete on fd 3 (1 when it exits
 * first, as qsd's parent does when its pipe closes without the status byte).
 */
export function daemonize(io: ServeIo, relaunch: readonly string[]): void {
  const child = spawn(process.execPath, [...relaunch], {
    cwd: io.cwd,
    detached: true,
    env: { ...process.env, [DAEMON_ENV]: '1' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => io.stdout(b.toString('latin1')));
  child.stderr?.on('data', (b: Buffer) => io.stderr(b.toString('latin1')));
  let done = false;
  const finish = (code: number) => {
    if (done) return;
    done = true;
    child.unref();
    for (const s of child.stdio) s?.destroy();
    io.exit(code);
  };
  const pipe = child.stdio[3] as NodeJS.ReadableStream | null;
  pipe?.on('data', (b: Buffer) => finish(b[0] === 0 ? 0 : 1));
  child.once('close', () => finish(1));
  child.once('error', () => finish(1));
}
