/**
 * Capture what a real QEMU says about itself over QMP: the greeting, `query-version`,
 * `query-qmp-schema` and `query-commands`. The snapshots in contract/qapi-schema/ let feature detection and the simulator's
 * profiles be checked without QEMU installed.
 *
 *   fleece-lab qemu capture-schema [VERSION|ROOT|BINARY ...] [--out DIR]   (bin/dev/capture-schema.ts)
 *
 * Raw QMP over node's net module on purpose: this must not depend on the project's own client.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedQemu } from './install.ts';

export type QemuKind = 'qsd' | 'system';

export interface SchemaCapture {
  greeting: unknown;
  version: unknown;
  schema: unknown;
  /** query-commands: the names in the order QEMU lists them (its registration order, reversed) */
  commands: string[];
}

/**
 * Debian builds qtest as a module from 7.x on and ships accel-qtest.so only from 11.0 on, so 7.2 and
 * 10.0 need tcg; with `-M none` there is no CPU for tcg to run, and the QMP schema is the same.
 */
export type Accel = 'qtest' | 'tcg';

export function monitorArgv(
  kind: QemuKind,
  q: ResolvedQemu,
  socket: string,
  accel: Accel = 'qtest',
): string[] {
  if (kind === 'qsd') {
    return [
      ...q.qsd,
      '--chardev',
      `socket,path=${socket},server=on,wait=off,id=c0`,
      '--monitor',
      'chardev=c0',
    ];
  }
  const qmp = `unix:${socket},server=on,wait=off`;
  return [...q.system, '-M', 'none', '-accel', accel, '-display', 'none', '-nodefaults', '-qmp', qmp];
}

export function isMissingQtest(e: unknown): boolean {
  return e instanceof Error && /invalid accelerator qtest/.test(e.message);
}

type Json = Record<string, unknown>;

/** One JSON object per CRLF-terminated line; events can come between any two replies. */
export class QmpConnection {
  private buf = '';
  private queue: Json[] = [];
  private waiter: ((m: Json) => void) | undefined;
  private failure: Error | undefined;
  private failWaiter: ((e: Error) => void) | undefined;

  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) this.push(JSON.parse(line) as Json);
      }
    });
    const fail = (e: Error): void => {
      this.failure ??= e;
      this.failWaiter?.(this.failure);
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('QMP connection closed')));
  }

  private push(m: Json): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(m);
    } else this.queue.push(m);
  }

  next(): Promise<Json> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((ok, ko) => {
      this.waiter = ok;
      this.failWaiter = ko;
    });
  }

  async execute(command: string, id: number): Promise<unknown> {
    const m = await this.executeRaw(command, undefined, id);
    if ('error' in m) throw new Error(`${command}: ${JSON.stringify(m.error)}`);
    return m.return;
  }

  /** the reply as QEMU sent it, without its id: {return} or {error} */
  async executeRaw(command: string, args: Json | undefined, id: number): Promise<Json> {
    const req: Json = { execute: command, id };
    if (args !== undefined) req.arguments = args;
    this.sock.write(`${JSON.stringify(req)}\n`);
    for (;;) {
      const m = await this.next();
      if (m.id !== id) continue; // an event
      const { id: _, ...rest } = m;
      return rest;
    }
  }
}

export function connectWhenReady(path: string, child: ChildProcess, deadline: number): Promise<Socket> {
  return new Promise((ok, ko) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        ko(new Error(`QEMU exited (${child.exitCode ?? child.signalCode}) before its monitor was up`));
        return;
      }
      const s = connect(path);
      s.once('connect', () => ok(s));
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) ko(new Error(`no QMP socket at ${path}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, ko) => {
    timer = setTimeout(() => ko(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function captureSchema(
  kind: QemuKind,
  q: ResolvedQemu,
  timeoutMs = 30_000,
): Promise<SchemaCapture> {
  try {
    return await captureOnce(kind, q, 'qtest', timeoutMs);
  } catch (e) {
    if (kind === 'system' && isMissingQtest(e)) return captureOnce(kind, q, 'tcg', timeoutMs);
    throw e;
  }
}

async function captureOnce(
  kind: QemuKind,
  q: ResolvedQemu,
  accel: Accel,
  timeoutMs: number,
): Promise<SchemaCapture> {
  const dir = mkdtempSync(join(tmpdir(), 'fleece-qmp-'));
  const sockPath = join(dir, 'qmp.sock');
  const [cmd, ...args] = monitorArgv(kind, q, sockPath, accel);
  if (!cmd) throw new Error('empty argv');
  const child = spawn(cmd, args, { env: { ...process.env, ...q.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let sock: Socket | undefined;
  try {
    const run = async (): Promise<SchemaCapture> => {
      sock = await connectWhenReady(sockPath, child, Date.now() + timeoutMs);
      const qmp = new QmpConnection(sock);
      let greeting = await qmp.next();
      while (!('QMP' in greeting)) greeting = await qmp.next();
      await qmp.execute('qmp_capabilities', 1);
      const version = await qmp.execute('query-version', 2);
      const schema = await qmp.execute('query-qmp-schema', 3);
      const listed = (await qmp.execute('query-commands', 4)) as { name: string }[];
      return { greeting, version, schema, commands: listed.map((c) => c.name) };
    };
    return await withTimeout(run(), timeoutMs, `${kind} capture`);
  } catch (e) {
    const why = stderr.trim().split('\n').at(-1);
    throw new Error(`${e instanceof Error ? e.message : String(e)}${why ? ` (stderr: ${why})` : ''}`);
  } finally {
    sock?.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
