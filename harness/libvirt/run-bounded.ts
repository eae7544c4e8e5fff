/**
 * Every program the libvirt harness runs (virsh, libvirtd's helpers, qemu-img, nbdcopy, nbdinfo) runs
 * through here: with a bound, killed (SIGKILL) when the bound passes, and a failure is one line that
 * names the step it belongs to, so a stuck libvirt never hangs a test and a failing one says where.
 */
import { spawn } from 'node:child_process';

export class StepError extends Error {
  override readonly name = 'StepError';
  constructor(
    readonly step: string,
    what: string,
    options?: { cause?: unknown },
  ) {
    super(`${step}: ${what}`, options);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** what this call is for, e.g. "backup-begin (pull)": the first words of any failure */
  step: string;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** a non-zero exit is returned rather than thrown (for calls whose refusal is the finding) */
  allowFailure?: boolean;
}

/** The part of a program's complaint worth one line: its last non-empty stderr (or stdout) line. */
export function lastLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

export function runBounded(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new StepError(opts.step, 'empty command'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new StepError(opts.step, `${cmd} could not be started: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      const name = cmd.split('/').at(-1) ?? cmd;
      if (timedOut)
        reject(new StepError(opts.step, `${name} gave no answer within ${opts.timeoutMs} ms (killed)`));
      else if (code !== 0 && !opts.allowFailure)
        reject(
          new StepError(
            opts.step,
            `${name} ${signal ? `was killed by ${signal}` : `exited ${code}`}: ${lastLine(r.stderr) || lastLine(r.stdout)}`,
          ),
        );
      else resolve(r);
    });
  });
}
