/**
 * The QEMU a replayed connection talks to: the simulator as qemu-system-x86_64 (`serve --flavour system
 * --profile V`) or a real qemu-system-x86_64 V, started with the recorded command line (replay-argv.ts) in
 * the replay's folder, ended as libvirt ends a domain (SIGTERM, then SIGKILL after a bound).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { emulatorFor } from '../../harness/libvirt/record-scenario.ts';
import { isQemuVersion } from '../../harness/qemu/install.ts';
import { resolveTarget } from '../../harness/targets/target-spec.ts';

export interface ReplayTarget {
  /** as given: sim:7.2, qemu:10.0 */
  label: string;
  kind: 'sim' | 'real';
  /** the version key (profile of the simulator, release of real QEMU) */
  version: string;
  /** real: its own version string ("7.2.22") */
  qemu: string;
  /** the program and the arguments before QEMU's own, and its environment */
  prefix(dir: string): Promise<{ argv: string[]; env: NodeJS.ProcessEnv }>;
}

/**
 * `sim:V` and `serve:V`: the simulator as a process; `qemu[:V]` and `system[:V]`: real qemu-system-x86_64
 * (V a version, a root or a binary, as every --target takes it).
 */
export function replayTarget(t: string): ReplayTarget {
  const [kind, arg] = t.includes(':') ? [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)] : [t, ''];
  if (kind === 'sim' || kind === 'serve') {
    const r = resolveTarget(`serve:${arg || '7.2'}`);
    const spec = r.spec('system');
    return {
      label: `sim:${r.profile}`,
      kind: 'sim',
      version: r.profile,
      qemu: `simulator ${r.profile}`,
      prefix: async () => ({
        argv: spec.kind === 'qemu' ? (spec.argvPrefix ?? []) : [],
        env: process.env,
      }),
    };
  }
  if (kind === 'qemu' || kind === 'system') {
    const r = resolveTarget(`system${arg ? `:${arg}` : ''}`);
    const spec = r.spec('system');
    return {
      label: `qemu:${r.profile}`,
      kind: 'real',
      version: r.profile,
      qemu: r.qemu.version,
      // a debootstrapped root runs behind libvirt's wrapper (its modules mounted over the host's: see
      // harness/libvirt/emulator.ts); a binary named by path runs as it is
      prefix: async (dir) =>
        isQemuVersion(arg) || arg === ''
          ? { argv: [await emulatorFor(r.profile, dir)], env: process.env }
          : {
              argv: spec.kind === 'qemu' ? (spec.argvPrefix ?? []) : [],
              env: (spec.kind === 'qemu' ? spec.env : undefined) ?? process.env,
            },
    };
  }
  throw new Error(`--target ${t}: expected sim:PROFILE or qemu[:VERSION_ROOT_OR_BINARY]`);
}

export interface Started {
  proc: ChildProcess;
  stderr(): string;
  /** 'exit 0', 'signal SIGTERM'; resolves when the process is gone */
  exited: Promise<string>;
  done(): boolean;
}

export async function startReplayProcess(
  prefix: { argv: string[]; env: NodeJS.ProcessEnv },
  args: string[],
  dir: string,
): Promise<Started> {
  const argv = [...prefix.argv, ...args];
  const proc = spawn(argv[0] ?? '', argv.slice(1), {
    cwd: dir,
    env: prefix.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let gone = false;
  proc.stderr?.on('data', (b: Buffer) => {
    if (err.length < 64 * 1024) err += b.toString('utf8');
  });
  const exited = new Promise<string>((resolve) => {
    proc.once('error', (e) => {
      gone = true;
      resolve(`not started: ${e.message}`);
    });
    proc.once('close', (code, signal) => {
      gone = true;
      resolve(signal ? `signal ${signal}` : `exit ${code}`);
    });
  });
  return { proc, stderr: () => err, exited, done: () => gone };
}

/** Waits for the QMP socket (bounded); undefined when it is there, else why not. */
export async function waitSocket(file: string, s: Started, boundMs: number): Promise<string | undefined> {
  for (const end = Date.now() + boundMs; Date.now() < end; await sleep(20)) {
    if (fs.existsSync(file)) return undefined;
    if (s.done()) return `QEMU ended before its monitor was up (${await s.exited}): ${firstLine(s.stderr())}`;
  }
  return `no QMP socket ${path.basename(file)} within ${boundMs} ms`;
}

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** SIGTERM (as `virsh destroy` does first), SIGKILL after `boundMs`. */
export async function stopProcess(
  s: Started,
  boundMs = 5000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (s.done()) return;
  s.proc.kill(signal);
  const t = setTimeout(() => s.proc.kill('SIGKILL'), boundMs);
  await s.exited;
  clearTimeout(t);
}
