/**
 * A private libvirtd owned by one test: the real libvirt 9.0 daemon of the host (Debian's package), run as
 * root in the foreground with its own config, pid file and sockets in a scratch folder, and every QMP
 * message it exchanges with any QEMU written to a log there (the monitor log, parsed by monitor-log.ts).
 * virsh talks to it with `-c 'qemu:///system?socket=DIR/libvirt-sock'`, and every call has a bound.
 *
 * It never touches a libvirtd it did not start: if one is running, start() refuses. The host lease
 * (host-lease.ts) serialises tests, owns /etc/libvirt/qemu.conf while the daemon runs, and lets
 * teardown leave libvirt's folders exactly as they were found.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup } from '../targets/cleanup-registry.js';
import { isProcessAlive } from '../targets/proc-alive.js';
import { cmdline, type HostLease, pidsNamed, strayQemuPids, takeHostLease } from './host-lease.js';
import { lastLine, type RunResult, runBounded, StepError } from './run-bounded.js';

export const LIBVIRTD = '/usr/sbin/libvirtd';
export const VIRSH = '/usr/bin/virsh';

/**
 * The monitor module at debug level logs every QMP message sent (QEMU_MONITOR_IO_WRITE) and received
 * (QEMU_MONITOR_RECV_REPLY/RECV_EVENT, and the greeting as a raw "Line"); the process module at debug
 * level adds the one line that says which QEMU a monitor belongs to ("Try to probe capabilities of
 * '<binary>'", "Connect monitor to vm=… name='<domain>'"). Everything else at warning and above.
 */
export const LOG_FILTERS = '1:qemu.qemu_monitor 1:qemu.qemu_process 3:*';

/** Bounds: the daemon probes every emulator on PATH before it answers (several seconds each). */
export const START_BOUND_MS = 90_000;
export const STOP_BOUND_MS = 15_000;
export const VIRSH_BOUND_MS = 60_000;

/** Scratch folders are os.tmpdir()/fleece-lab-libvirt-XXXXXX. */
const SCRATCH_PREFIX = 'fleece-lab-libvirt-';

/** Why libvirt tests cannot run here, or undefined when they can. */
export function libvirtUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'libvirt tests need root (a system libvirtd, /etc/libvirt/qemu.conf)';
  for (const p of [LIBVIRTD, VIRSH])
    if (!fs.existsSync(p))
      return `${p} is not installed (apt-get install --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon-system)`;
  // a libvirtd of this harness left by a killed test (its config is in one of our scratch folders) is not
  // foreign: the host lease recovers it
  const ours = (pid: number): boolean => cmdline(pid).includes(path.join(os.tmpdir(), SCRATCH_PREFIX));
  const foreign = [...pidsNamed('libvirtd'), ...pidsNamed('virtqemud')].filter((pid) => !ours(pid));
  if (foreign.length > 0)
    return `a libvirtd is already running (pid ${foreign.join(', ')}): it is left alone`;
  return undefined;
}

export function libvirtdConf(dir: string, logFile: string): string {
  return [
    `unix_sock_dir = "${dir}"`,
    `log_filters = "${LOG_FILTERS}"`,
    `log_outputs = "1:file:${logFile}"`,
    '',
  ].join('\n');
}

export interface VirshOptions {
  step: string;
  timeoutMs?: number;
  /** return a refusal instead of throwing (when the refusal is what is being recorded) */
  allowFailure?: boolean;
}

export interface StartOptions {
  /** an existing folder to use as scratch (default: a new one under the OS temp folder) */
  scratch?: string;
  leaseWaitMs?: number;
}

export class PrivateLibvirtd {
  readonly uri: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private unregister: () => void = () => {};
  private torn = false;
  /** files of the host libvirt had changed and teardown put back (e.g. nwfilter XML on a first start) */
  restoredFiles: string[] = [];

  private constructor(
    readonly dir: string,
    private readonly lease: HostLease,
  ) {
    this.uri = `qemu:///system?socket=${dir}/libvirt-sock`;
    this.logFile = path.join(dir, 'libvirtd.log');
  }

  /** Takes the host lease, writes qemu.conf and libvirtd.conf, starts the daemon, waits until it answers. */
  static async start(opts: StartOptions = {}): Promise<PrivateLibvirtd> {
    const why = libvirtUnavailable();
    if (why) throw new StepError('start libvirtd', why);
    const dir = opts.scratch ?? fs.mkdtempSync(path.join(os.tmpdir(), SCRATCH_PREFIX));
    let lease: HostLease;
    try {
      lease = await takeHostLease({ scratch: dir, waitMs: opts.leaseWaitMs });
    } catch (e) {
      if (!opts.scratch) fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const lv = new PrivateLibvirtd(dir, lease);
    lv.unregister = registerCleanup({
      pids: () => [
        ...(lv.child?.pid && isProcessAlive(lv.child.pid) ? [lv.child.pid] : []),
        ...strayQemuPids(dir, lease.before),
      ],
      scratch: dir,
      get exited() {
        return lv.exited;
      },
    });
    fs.writeFileSync(path.join(dir, 'libvirtd.conf'), libvirtdConf(dir, lv.logFile));
    try {
      await lv.startDaemon();
    } catch (e) {
      await lv.teardown();
      throw e;
    }
    return lv;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts (or restarts, after stopDaemon) the daemon on the same config, log and sockets. */
  async startDaemon(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      throw new StepError('start libvirtd', 'it is already running');
    const out = fs.openSync(path.join(this.dir, 'libvirtd.out'), 'a');
    const child = spawn(
      LIBVIRTD,
      ['--config', path.join(this.dir, 'libvirtd.conf'), '--pid-file', path.join(this.dir, 'libvirtd.pid')],
      { stdio: ['ignore', out, out] },
    );
    fs.closeSync(out);
    this.child = child;
    this.exited = new Promise((r) => child.on('close', () => r()));
    child.on('error', () => {});
    this.lease.setLibvirtdPid(child.pid);
    const until = Date.now() + START_BOUND_MS;
    let last = '';
    while (Date.now() < until) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new StepError(
          'start libvirtd',
          `libvirtd exited (${child.exitCode ?? child.signalCode}): ${lastLine(this.readText('libvirtd.out')) || last}`,
        );
      if (fs.existsSync(path.join(this.dir, 'libvirt-sock'))) {
        const r = await this.virsh(['version'], {
          step: 'start libvirtd',
          allowFailure: true,
          timeoutMs: 30_000,
        });
        if (r.code === 0) return;
        last = lastLine(r.stderr);
      }
      await sleep(200);
    }
    throw new StepError('start libvirtd', `no answer within ${START_BOUND_MS} ms${last ? `: ${last}` : ''}`);
  }

  /** SIGTERM (libvirtd leaves running domains running), then SIGKILL after the bound. */
  async stopDaemon(step = 'stop libvirtd'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(STOP_BOUND_MS).then(() => false)]);
    if (done) return;
    child.kill('SIGKILL');
    await Promise.race([this.exited, sleep(5_000)]);
    throw new StepError(step, `libvirtd did not stop on SIGTERM within ${STOP_BOUND_MS} ms (killed)`);
  }

  private readText(name: string): string {
    try {
      return fs.readFileSync(path.join(this.dir, name), 'utf8');
    } catch {
      return '';
    }
  }

  /** The monitor log's current length: messages logged after this offset belong to what comes next. */
  logOffset(): number {
    try {
      return fs.statSync(this.logFile).size;
    } catch {
      return 0;
    }
  }

  logText(): string {
    return this.readText('libvirtd.log');
  }

  async virsh(args: readonly string[], opts: VirshOptions): Promise<RunResult> {
    return runBounded([VIRSH, '-q', '-c', this.uri, ...args], {
      step: opts.step,
      timeoutMs: opts.timeoutMs ?? VIRSH_BOUND_MS,
      allowFailure: opts.allowFailure,
    });
  }

  /** The running QEMU of a domain, from libvirt's pid file. */
  domainPid(name: string): number {
    const f = `/run/libvirt/qemu/${name}.pid`;
    const pid = fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8').trim()) : Number.NaN;
    if (!Number.isInteger(pid) || pid <= 0) throw new StepError(`pid of ${name}`, `no pid in ${f}`);
    return pid;
  }

  /**
   * Destroys and undefines every domain, stops the daemon, kills any QEMU of ours still alive, restores
   * qemu.conf, removes what libvirt added under its folders and the scratch folder. Returns what it could
   * not do (empty when the host is as it was found). Idempotent.
   */
  async teardown(): Promise<string[]> {
    if (this.torn) return [];
    this.torn = true;
    const problems: string[] = [];
    const alive = this.child && this.child.exitCode === null && this.child.signalCode === null;
    if (alive) {
      try {
        await this.removeDomains();
      } catch (e) {
        problems.push((e as Error).message);
      }
      try {
        await this.stopDaemon('teardown: stop libvirtd');
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    // a domain QEMU names the scratch folder (its images), a probe its qmp-* folder: nothing else is ours
    const strays = strayQemuPids(this.dir, this.lease.before);
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (strays.length > 0) {
      problems.push(`QEMU still running at teardown, killed: pid ${strays.join(', ')}`);
      await sleep(500);
    }
    const released = this.lease.release();
    problems.push(...released.problems);
    this.restoredFiles = released.restored;
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.unregister();
    return problems;
  }

  private async removeDomains(): Promise<void> {
    const list = await this.virsh(['list', '--all', '--name'], { step: 'teardown: list domains' });
    for (const name of list.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')) {
      await this.virsh(['destroy', name], { step: `teardown: destroy ${name}`, allowFailure: true });
      await this.virsh(['undefine', name, '--checkpoints-metadata', '--snapshots-metadata'], {
        step: `teardown: undefine ${name}`,
        allowFailure: true,
      });
    }
  }
}
