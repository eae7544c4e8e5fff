/**
 * `fleece-lab serve`: the simulator as a process that takes qemu-storage-daemon's command line (the
 * default, `--flavour qsd`) or qemu-system-x86_64's (`--flavour system`, system-serve.ts) and behaves
 * like it on the outside — same output and exit status for bad options, the same startup order
 * (options in command-line order, through the same code as the QMP commands they stand for), QMP on
 * the chardevs, NBD on the server it is told to start, the pid file written once startup is done, and
 * an orderly exit on `quit` or SIGTERM/SIGINT/SIGHUP (status 0; chardev sockets and the pid file go,
 * the NBD socket stays, as qsd leaves it).
 */
import type { Profile } from '../../contract/versions.ts';
import { closeAllExports } from '../commands/exports.ts';
import { objectAdd } from '../commands/objects.ts';
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
import { defaultIo, errText, ServeBase, type ServeIo, startServe } from './serve-base.ts';
import { runSystemServe } from './system-serve.ts';

export { HaltSignal, type ServeIo } from './serve-base.ts';

const PIDFILE_TEXTS = {
  create: (file: string, why: string) => `cannot create PID file: Could not create '${file}': ${why}`,
  write: (why: string) => `cannot create PID file: Failed to write PID file: ${why}`,
  resolve: (file: string, why: string) =>
    `qemu-storage-daemon: cannot resolve PID file path: ${file}: ${why}\n`,
};

/** A running simulated qemu-storage-daemon. */
export class ServeProcess extends ServeBase {
  private exportsClosed = false;

  constructor(
    readonly inv: QsdInvocation,
    io: ServeIo,
  ) {
    const profile = inv.profile;
    super(profile, inv.seed, 'qsd', io, {
      // the NBD server's messages are error_report()s: prefixed with the program's name
      nbdLog: (line) => io.stderr(report(profile, undefined, line)),
      onQuitRequested: () => this.closeExports(),
      onQuit: () => this.shutdown(0),
    });
    // qsd handles SIGTERM/SIGINT/SIGHUP from the start: during startup too, it exits 0 and cleans up
    io.onSignal?.(() => this.shutdown(0));
  }

  protected fail(loc: string | undefined, msg: string): never {
    this.io.stderr(report(this.profile, loc, msg));
    this.halt(1);
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
    if (this.inv.pidfile !== undefined) this.writePidfile(this.inv.pidfile, PIDFILE_TEXTS);
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
    if (spec.backend === 'socket' && 'fd' in spec)
      this.fail(loc, 'fleece-lab: chardev socket fd= is not simulated');
    const c = await this.openChardev(spec, loc, (label) =>
      this.io.stderr(
        report(this.profile, loc, `QEMU waiting for connection on: ${label(this.profile === '5.2')}`, 'info'),
      ),
    );
    if (dup) this.fail(loc, duplicateChardevText(this.profile, spec.id));
    this.chardevs.set(spec.id, c);
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
    this.closeAndExit(code);
  }
}

/**
 * `--flavour qsd|system` wherever it is (exactly, with two dashes): which program to be. The qsd parser
 * drops it again; the system parser takes it as its own.
 */
export function serveFlavour(argv: readonly string[]): 'qsd' | 'system' {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--flavour') return argv[i + 1] === 'system' ? 'system' : 'qsd';
    if (argv[i].startsWith('--flavour=')) return argv[i].slice(10) === 'system' ? 'system' : 'qsd';
  }
  return 'qsd';
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
): Promise<ServeBase | undefined> {
  if (serveFlavour(argv) === 'system') return runSystemServe(argv, io, opts);
  const out = parseQsdArgs(argv, { argv0: opts.argv0, profile: opts.profile });
  if (out.kind === 'exit') {
    if (out.stdout) io.stdout(out.stdout);
    if (out.stderr) io.stderr(out.stderr);
    io.exit(out.status);
    return undefined;
  }
  const inv = out.inv;
  return startServe(
    { daemonize: inv.daemonize, option: '--daemonize', io, relaunch: opts.relaunch },
    (io) => new ServeProcess(inv, io),
  );
}
