/**
 * `fleece-lab serve`: the simulator as a process that takes qemu-storage-daemon's command line and
 * behaves like it on the outside — same output and exit status for bad options, the same startup order
 * (options in command-line order, through the same code as the QMP commands they stand for), QMP on
 * the chardevs, NBD on the server it is told to start, the pid file written once startup is done, and
 * an orderly exit on `quit` or SIGTERM/SIGINT/SIGHUP (status 0; chardev sockets and the pid file go,
 * the NBD socket stays, as qsd leaves it).
 *
 * Time follows the wall clock: the simulated clock is brought up to real elapsed time before every QMP
 * command and on a timer (every 2 ms while timers are due, 20 ms when idle), so jobs run in real time;
 * the seed still decides every choice the simulator makes.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Profile } from '../../contract/versions.ts';
import { closeAllExports } from '../commands/exports.ts';
import { objectAdd } from '../commands/objects.ts';
import { createSim, type Sim } from '../sim.ts';
import { type Chardev, CharError } from './chardev/char.ts';
import { NullChardev } from './chardev/char-null.ts';
import { SocketClientChardev, SocketServerChardev } from './chardev/char-socket.ts';
import { StdioChardev } from './chardev/char-stdio.ts';
// The NBD socket server (written alongside; see sim/serve/nbd/server.ts).
import { attachNbdServer, type NbdServerHandle } from './nbd/server.ts';
import { QmpHub, qmpFormat } from './qmp-server.ts';
import { resolveChardev } from './qsd-chardev.ts';
import { parseQsdArgs, type QsdInvocation } from './qsd-options.ts';
import {
  resolveBlockdev,
  resolveExport,
  resolveMonitor,
  resolveNbdServer,
  resolveObject,
  schemaContext,
} from './qsd-resolve.ts';
import { chardevInUseText, duplicateChardevText, report, unexpectedArgumentText } from './qsd-texts.ts';

export interface ServeIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  cwd: string;
  pid: number;
  exit: (code: number) => void;
  /** install the signal handlers (default: SIGTERM, SIGINT, SIGHUP) */
  onSignal?: (handler: () => void) => void;
  /** told about the process as soon as it exists (tests dispose of it) */
  onProcess?: (p: ServeProcess) => void;
}

function defaultIo(): ServeIo {
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    cwd: process.cwd(),
    pid: process.pid,
    exit: (code) => process.exit(code),
    onSignal: (h) => {
      for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, h);
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

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err?.code && ERRNO_TEXT[err.code]) || (err instanceof Error ? err.message : String(e));
}

/** A running simulated qemu-storage-daemon. */
export class ServeProcess {
  readonly sim: Sim;
  readonly hub: QmpHub;
  readonly chardevs = new Map<string, Chardev>();
  readonly nbd: NbdServerHandle;
  private pidfileReal: string | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly t0 = process.hrtime.bigint();
  private readonly wallStartUs = Date.now() * 1000;
  private down = false;
  private exportsClosed = false;

  constructor(
    readonly inv: QsdInvocation,
    private readonly io: ServeIo,
  ) {
    const profile = inv.profile;
    this.sim = createSim({ profile, seed: inv.seed, flavour: 'qsd', fs: 'real', cwd: io.cwd });
    // the NBD server's messages are error_report()s: prefixed with the program's name
    this.nbd = attachNbdServer(this.sim.core, { log: (line) => io.stderr(report(profile, undefined, line)) });
    const epoch = this.sim.core.clock.epochSeconds;
    this.hub = new QmpHub(this.sim, {
      format: qmpFormat(profile),
      beforeCommand: () => this.syncClock(),
      timestamp: (e) => {
        const us = (e.timestamp.seconds - epoch) * 1_000_000 + e.timestamp.microseconds + this.wallStartUs;
        return { seconds: Math.floor(us / 1_000_000), microseconds: us % 1_000_000 };
      },
      onQuitRequested: () => this.closeExports(),
      onQuit: () => this.shutdown(0),
    });
    // qsd handles SIGTERM/SIGINT/SIGHUP from the start: during startup too, it exits 0 and cleans up
    io.onSignal?.(() => this.shutdown(0));
    this.tick();
  }

  get profile(): Profile {
    return this.inv.profile;
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

  private fail(loc: string | undefined, msg: string): never {
    this.io.stderr(report(this.profile, loc, msg));
    this.halt(1);
  }

  /** exit without cleaning up, as qsd's exit(1) during startup leaves its sockets behind */
  private halt(code: number): never {
    this.down = true;
    if (this.ticker) clearTimeout(this.ticker);
    this.io.exit(code);
    throw new HaltSignal(code);
  }

  /** Process the options in order; resolves once startup is over (the pid file written). */
  async start(): Promise<void> {
    const ctx = schemaContext(this.profile, this.sim.core.intro);
    for (const step of this.inv.steps) {
      switch (step.kind) {
        case 'exit':
          if (step.stdout) this.io.stdout(step.stdout);
          if (step.stderr) this.io.stderr(step.stderr);
          this.halt(step.status);
          break;
        case 'unexpected':
          this.io.stderr(unexpectedArgumentText(this.profile, step.arg));
          this.halt(1);
          break;
        case 'trace':
          // accepted; the simulator has no trace events
          break;
        case 'chardev':
          await this.addChardev(step.arg, step.loc);
          break;
        case 'monitor': {
          const r = resolveMonitor(ctx, step.arg);
          if ('error' in r) this.fail(step.loc, r.error);
          const c = this.chardevs.get(r.ok.chardev);
          if (!c) this.fail(step.loc, `chardev "${r.ok.chardev}" not found`);
          if (c.inUse) this.fail(step.loc, chardevInUseText(this.profile, c.id));
          this.hub.addMonitor(c, r.ok.pretty);
          break;
        }
        case 'blockdev': {
          const r = resolveBlockdev(ctx, step.arg);
          if ('error' in r) this.fail(step.loc, r.error);
          this.run(step.loc, 'blockdev-add', r.ok);
          break;
        }
        case 'export': {
          const r = resolveExport(ctx, step.arg);
          if ('error' in r) this.fail(step.loc, r.error);
          this.run(step.loc, 'block-export-add', r.ok);
          break;
        }
        case 'nbd-server': {
          const r = resolveNbdServer(ctx, step.arg);
          if ('error' in r) this.fail(step.loc, r.error);
          this.run(step.loc, 'nbd-server-start', r.ok);
          try {
            await this.nbd.ready();
          } catch (e) {
            const addr = r.ok.addr as { type: string; data: Record<string, unknown> };
            const where = addr.type === 'unix' ? ` to ${String(addr.data.path)}` : '';
            this.fail(step.loc, `Failed to bind socket${where}: ${errText(e)}`);
          }
          break;
        }
        case 'object': {
          const r = resolveObject(ctx, step.arg);
          if ('error' in r) this.fail(step.loc, r.error);
          // object_option_add: the same user_creatable_add_qapi as object-add (5.2 made only the name)
          else if (r.ok.args && this.profile === '5.2') {
            // 5.2's qsd has no object-add command: user_creatable_add_dict straight away
            try {
              objectAdd(this.sim.core, r.ok.args);
            } catch (e) {
              this.fail(step.loc, e instanceof Error ? e.message : String(e));
            }
          } else if (r.ok.args) this.run(step.loc, 'object-add', r.ok.args);
          break;
        }
      }
    }
    if (this.down) return;
    if (this.inv.pidfile !== undefined) this.writePidfile(this.inv.pidfile);
    this.hub.start();
  }

  private run(loc: string, command: string, args: Record<string, unknown>): void {
    this.syncClock();
    const r = this.sim.execute(command, args);
    if ('error' in r) this.fail(loc, r.error.desc);
  }

  private async addChardev(arg: string, loc: string): Promise<void> {
    const r = resolveChardev(this.profile, arg);
    for (const w of r.warnings) this.io.stderr(report(this.profile, loc, w, 'warning'));
    if (r.exit) {
      this.io.stdout(r.exit.stdout);
      this.halt(r.exit.status);
    }
    if ('error' in r) this.fail(loc, r.error);
    if (!('ok' in r)) return;
    const spec = r.ok;
    const dup = this.chardevs.has(spec.id);
    if (dup && this.profile !== '5.2') this.fail(loc, duplicateChardevText(this.profile, spec.id));
    let c: Chardev;
    try {
      if (spec.backend === 'socket') {
        if (spec.server) {
          const s = await SocketServerChardev.listen(spec.id, spec.addr, this.io.cwd);
          c = s;
          if (spec.wait) {
            this.io.stderr(
              report(
                this.profile,
                loc,
                `QEMU waiting for connection on: ${s.label(this.profile === '5.2')}`,
                'info',
              ),
            );
            await s.waitForClient();
          }
        } else {
          c = await SocketClientChardev.connect(spec.id, spec.addr, this.io.cwd);
        }
      } else if (spec.backend === 'stdio') {
        c = StdioChardev.open(spec.id);
      } else {
        c = new NullChardev(spec.id);
      }
    } catch (e) {
      if (e instanceof CharError) this.fail(loc, e.message);
      throw e;
    }
    if (dup) this.fail(loc, duplicateChardevText(this.profile, spec.id));
    this.chardevs.set(spec.id, c);
  }

  /** qemu_write_pidfile + pid_file_init */
  private writePidfile(file: string): void {
    const p = path.resolve(this.io.cwd, file);
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    } catch (e) {
      this.fail(undefined, `cannot create PID file: Could not create '${file}': ${errText(e)}`);
    }
    try {
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, `${this.io.pid}\n`);
    } catch (e) {
      this.fail(undefined, `cannot create PID file: Failed to write PID file: ${errText(e)}`);
    } finally {
      fs.closeSync(fd);
    }
    try {
      this.pidfileReal = fs.realpathSync(p);
    } catch (e) {
      this.io.stderr(report(this.profile, undefined, `cannot resolve PID file path: ${file}: ${errText(e)}`));
      try {
        fs.unlinkSync(p);
      } catch {
        // gone
      }
      this.halt(1);
    }
  }

  /** Tests: stop everything this process opened (the NBD socket too), without exiting. */
  async dispose(): Promise<void> {
    this.down = true;
    if (this.ticker) clearTimeout(this.ticker);
    this.hub.close();
    for (const c of this.chardevs.values()) c.close();
    await this.nbd.close();
  }

  /**
   * qsd's main() after its loop (6.0+): blk_exp_close_all, so every export still there goes with its
   * BLOCK_EXPORT_DELETED, sent to the monitors before quit's own reply; 5.2 went straight to
   * monitor_cleanup.
   */
  closeExports(): void {
    if (this.profile === '5.2' || this.exportsClosed) return;
    this.exportsClosed = true;
    try {
      closeAllExports(this.sim.core);
    } catch (e) {
      this.io.stderr(`fleece-lab serve: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  /** The orderly exit of qsd's main(): exports, monitors and chardevs go, then the pid file. */
  shutdown(code: number): void {
    if (this.down) return;
    this.closeExports();
    // 6.0+: bdrv_close_all, so qcow2 nodes store their persistent bitmaps (5.2 left them IN_USE)
    if (this.profile !== '5.2') {
      try {
        this.sim.core.graph.closeAll();
      } catch (e) {
        this.io.stderr(`fleece-lab serve: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
    this.down = true;
    if (this.ticker) clearTimeout(this.ticker);
    this.hub.close();
    for (const c of this.chardevs.values()) c.close();
    if (this.pidfileReal) {
      try {
        fs.unlinkSync(this.pidfileReal);
      } catch {
        // already gone
      }
    }
    this.io.exit(code);
  }
}

export class HaltSignal extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Entry point: parse, start, serve until quit or a signal. */
export async function runServe(
  argv: readonly string[],
  io: ServeIo = defaultIo(),
  opts: {
    argv0?: string | undefined;
    profile?: Profile;
    /** the command line that starts this same serve again, without the node binary (node's own flags,
     * the script, its arguments): --daemonize runs it as the detached daemon */
    relaunch?: readonly string[];
  } = {},
): Promise<ServeProcess | undefined> {
  const out = parseQsdArgs(argv, { argv0: opts.argv0, profile: opts.profile });
  if (out.kind === 'exit') {
    if (out.stdout) io.stdout(out.stdout);
    if (out.stderr) io.stderr(out.stderr);
    io.exit(out.status);
    return undefined;
  }
  const daemon = out.inv.daemonize && process.env[DAEMON_ENV] === '1';
  if (out.inv.daemonize && !daemon) {
    if (!opts.relaunch) throw new Error('--daemonize: no command line to start the daemon with (relaunch)');
    daemonize(io, opts.relaunch);
    return undefined;
  }
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
  const p = new ServeProcess(out.inv, io);
  io.onProcess?.(p);
  try {
    await p.start();
  } catch (e) {
    if (e instanceof HaltSignal) return undefined;
    throw e;
  }
  if (daemon) {
    // os_setup_post: tell the waiting parent that startup is complete, then stdio goes to /dev/null
    // (qsd also does chdir("/") here; the simulator keeps resolving relative paths from the old cwd)
    try {
      fs.writeSync(3, Buffer.from([0]));
      fs.closeSync(3);
    } catch {
      // the parent is gone
    }
    muted = true;
  }
  return p;
}

const DAEMON_ENV = 'FLEECE_LAB_SERVE_DAEMON';

/**
 * os_daemonize's parent: run the same command line again as a detached child (a new session), pass on
 * what it prints during startup, and exit 0 once it reports startup complete on fd 3 (1 when it exits
 * first, as qsd's parent does when its pipe closes without the status byte).
 */
function daemonize(io: ServeIo, relaunch: readonly string[]): void {
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
