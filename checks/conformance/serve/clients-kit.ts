/**
 * What the differential tests through real clients share (real-clients.test.ts: qemu-storage-daemon;
 * system-clients.test.ts: qemu-system-x86_64): a raw QMP connection that keeps every line as sent,
 * running a tool for its whole output, the noise normalisation and the first difference of two transcripts.
 */
import { execFile, execFileSync } from 'node:child_process';
import net from 'node:net';
import { pool as workerPool } from '../../differential/pool.ts';

export function have(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function execOut(
  cmd: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: { ...process.env, ...env }, encoding: 'latin1', timeout: 30_000, maxBuffer: 64 << 20 },
      (e, stdout, stderr) => {
        const status = e ? ((e as { code?: number | string }).code ?? 'error') : 0;
        resolve(`${stdout}${stderr ? `[stderr]${stderr}` : ''}[status ${status}]`);
      },
    );
  });
}

/** the first difference of two transcripts (undefined when they are the same byte for byte) */
export function firstDifference(a: Record<string, string>, b: Record<string, string>): string | undefined {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (x === undefined || y === undefined) return `${k}: only on one side`;
    let i = 0;
    while (i < x.length && x[i] === y[i]) i++;
    return `${k}: differs at byte ${i}\n  real: ${JSON.stringify(x.slice(Math.max(0, i - 60), i + 120))}\n  sim:  ${JSON.stringify(y.slice(Math.max(0, i - 60), i + 120))}`;
  }
  return undefined;
}

/** the thunks n at a time, their results in order */
export async function pool<T>(items: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = new Array(items.length);
  await workerPool(items, n, async (item, i) => {
    out[i] = await item();
  });
  return out;
}

/** a QMP connection that keeps every line as sent: replies in order, events apart */
export class RawQmp {
  private buf = '';
  private replies: string[] = [];
  readonly events: string[] = [];
  /** every line after the greeting, in arrival order */
  readonly all: string[] = [];
  private wake: (() => void) | undefined;
  greeting = '';
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => {
      this.buf += b.toString('latin1');
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i + 1);
        this.buf = this.buf.slice(i + 1);
        if (this.greeting) this.all.push(line);
        if (!this.greeting) this.greeting = line;
        else if (line.startsWith('{"timestamp"') || line.includes('"event": ')) this.events.push(line);
        else this.replies.push(line);
      }
      this.wake?.();
    });
    sock.on('error', () => {});
    sock.on('close', () => this.wake?.());
  }
  static async connect(file: string): Promise<RawQmp> {
    const sock = net.createConnection({ path: file });
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    const q = new RawQmp(sock);
    await q.until(() => q.greeting !== '');
    return q;
  }
  private async until(cond: () => boolean, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end || this.sock.destroyed) return;
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
  }
  async send(cmd: string | Record<string, unknown>): Promise<string> {
    this.sock.write(typeof cmd === 'string' ? cmd : `${JSON.stringify(cmd)}\n`);
    await this.until(() => this.replies.length > 0);
    return this.replies.shift() ?? '<no reply>';
  }
  /** until an event line contains every string given */
  async event(...parts: string[]): Promise<void> {
    await this.until(() => this.events.some((l) => parts.every((p) => l.includes(p))));
  }
  close(): void {
    this.sock.destroy();
  }
}
