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
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Profile } from '../../spec/versions.ts';
import { createSim, type Sim } from '../sim.ts';
// The NBD socket server (written alongside; see sim/serve/nbd-server.ts).
import { attachNbdServer, type NbdServerHandle } from './nbd-server.ts';
import {
  type Chardev,
  CharError,
  NullChardev,
  QmpHub,
  qmpFormat,
  SocketClientChardev,
  SocketServerChardev,
  StdioChardev,
} from './qmp-server.ts';
import {
  chardevInUseText,
  duplicateChardevText,
  parseQsdArgs,
  type QsdInvocation,
  report,
  resolveBlockdev,
  resolveChardev,
  resolveExport,
  resolveMonitor,
  resolveNbdServer,
  resolveObject,
  schemaContext,
  unexpectedArgumentText,
} from './qsd-options.ts';

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

  constructor(
    readonly inv: QsdInvocation,
    private readonly io: ServeIo,
  ) {
    const profile = inv.profile;
    this.sim = createSim({ profile, seed: inv.seed, flavour: 'qsd', fs: 'real', cwd: io.cwd });
    this.nbd = attachNbdServer(this.sim.core, { log: (line) => io.stderr(`${line}\n`) });
    const epoch = this.sim.core.clock.epochSeconds;
    this.hub = new QmpHub(this.sim, {
      format: qmpFormat(profile),
      beforeCommand: () => this.syncClock(),
      timestamp: (e) => {
        const us = (e.timestamp.seconds - epoch) * 1_000_000 + e.timestamp.microseconds + this.wallStartUs;
        return { seconds: Math.floor(us / 1_000_000), microseconds: us % 1_000_000 };
      },
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
          else if (r.ok.args) this.run(step.loc, 'object-add', r.ok.args);
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

  /** The orderly exit of qsd's main(): monitors and chardevs go, then the pid file. */
  shutdown(code: number): void {
    if (this.down) return;
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
  opts: { argv0?: string | undefined; profile?: Profile } = {},
): Promise<ServeProcess | undefined> {
  const out = parseQsdArgs(argv, { argv0: opts.argv0, profile: opts.profile });
  if (out.kind === 'exit') {
    if (out.stdout) io.stdout(out.stdout);
    if (out.stderr) io.stderr(out.stderr);
    io.exit(out.status);
    return undefined;
  }
  if (out.inv.daemonize) {
    // qsd's own words when it was built without --daemonize support
    io.stderr('--daemonize not supported in this build\n');
    io.exit(1);
    return undefined;
  }
  const p = new ServeProcess(out.inv, io);
  io.onProcess?.(p);
  try {
    await p.start();
  } catch (e) {
    if (e instanceof HaltSignal) return undefined;
    throw e;
  }
  return p;
}
