/**
 * QMP client over a unix socket, modelled on the care of QEMU's python `qemu.qmp`:
 * replies matched by id, events fanned out to per-listener queues, every wait bounded, and any
 * transport or protocol failure turned into a rejection of everything pending (never a hang).
 */
import net from 'node:net';
import type { z } from 'zod';
import { AsyncQueue } from './async-queue.js';
import { LineFramer } from './line-framer.js';
import {
  QmpConnectError,
  QmpConnectionClosedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './qmp-errors.js';
import { EventHub } from './qmp-events.js';
import {
  classifyMessage,
  describeZodError,
  greetingSchema,
  isErrorReply,
  type QmpGreeting,
  type QmpReply,
} from './qmp-wire.js';

export type { EventFilter, EventListener, EventMatch, WaitOptions } from './qmp-events.js';
export type { QmpEvent, QmpGreeting, QmpReply } from './qmp-wire.js';
export { QmpConnectError, QmpConnectionClosedError, QmpError, QmpProtocolError, QmpTimeoutError };

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
/** How long a close waits for `closeDetail` (e.g. the QEMU exit status) before failing callers. */
const CLOSE_DETAIL_BOUND_MS = 3_000;

export interface ConnectOptions {
  /** bound on connecting, the greeting, negotiation, and the default for every later wait */
  timeoutMs?: number | undefined;
  /** send qmp_capabilities right after the greeting (default true) */
  negotiate?: boolean | undefined;
  maxLineBytes?: number | undefined;
  idPrefix?: string | undefined;
  /**
   * Extra words for "connection closed" errors, e.g. the exit status and stderr tail of the QEMU
   * that just died. Awaited (bounded) before pending calls are failed.
   */
  closeDetail?: () => Promise<string | undefined> | string | undefined;
}

export interface CallOptions {
  timeoutMs?: number | undefined;
  /** false sends no `id` (to test QEMU's id-less replies); only one such call may be in flight */
  withId?: boolean | undefined;
}

export interface LogEntry {
  dir: 'send' | 'recv';
  /** the parsed object; a string for raw writes and for lines that were not JSON */
  msg: unknown;
  /** Date.now() when sent or received */
  t: number;
}

/** A reply no request claimed (answers to sendRaw, or QEMU's id-less parse errors). */
export interface UnmatchedReply {
  msg: QmpReply;
  line: string;
}

interface Pending {
  id: string | undefined;
  command: string;
  sent: Record<string, unknown>;
  resolve: (r: QmpReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** `detail` (e.g. QEMU's exit status) goes last, after what the caller was doing. */
type Failure = { kind: 'closed' | 'protocol'; message: string; detail?: string | undefined };

function makeError(f: Failure, what: string): Error {
  const msg = `${f.message}${what}${f.detail ? `: ${f.detail}` : ''}`;
  return f.kind === 'protocol' ? new QmpProtocolError(msg) : new QmpConnectionClosedError(msg);
}

function excerpt(s: string, n = 120): string {
  const t = JSON.stringify(s.length > n ? `${s.slice(0, n)}…` : s);
  return s.length > n ? `${t} (${s.length} chars)` : t;
}

function openSocket(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new QmpTimeoutError(`timed out after ${timeoutMs} ms connecting to ${path}`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
      reject(new QmpConnectError(`cannot connect to QMP socket ${path}: ${err.message}`, code));
    });
  });
}

/** `log` keeps the last LOG_LIMIT to 2 * LOG_LIMIT messages: a client held for hours must not grow without end */
const LOG_LIMIT = 1_000;

export class QmpClient {
  /** the most recent messages sent and received (the oldest go first, see LOG_LIMIT) */
  readonly log: LogEntry[] = [];
  readonly events: EventHub;
  private greetingValue: QmpGreeting | undefined;
  private greetingSeen = false;
  private readonly greetingWait = new AsyncQueue<QmpGreeting>();
  private readonly unmatched = new AsyncQueue<UnmatchedReply>();
  private readonly pending = new Map<string, Pending>();
  private idless: Pending | undefined;
  /** ids whose caller gave up; their late replies are dropped instead of breaking the session */
  private readonly abandoned = new Set<string>();
  private abandonedIdless = 0;
  private rawMode = false;
  private counter = 0;
  private socketError: Error | undefined;
  private failure: Promise<Failure> | undefined;
  private readonly framer: LineFramer;
  private readonly timeoutMs: number;
  private readonly idPrefix: string;
  private readonly socketClosed: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    private readonly path: string,
    private readonly opts: ConnectOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.idPrefix = opts.idPrefix ?? 'fl-';
    this.framer = new LineFramer(opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.events = new EventHub(this.timeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.socketError ??= err;
    });
    this.socketClosed = new Promise((resolve) => {
      socket.once('close', () => {
        this.onPeerClose();
        resolve();
      });
    });
  }

  /** Connects, reads and validates the greeting, and (unless `negotiate: false`) negotiates. */
  static async connect(path: string, opts: ConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const sock = await openSocket(path, timeoutMs);
    const client = new QmpClient(sock, path, opts);
    try {
      client.greetingValue = await client.greetingWait.next(
        timeoutMs,
        () => `waiting for the QMP greeting on ${path}`,
      );
      if (opts.negotiate !== false) await client.negotiate();
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  get greeting(): QmpGreeting {
    if (this.greetingValue === undefined) throw new Error('QMP greeting not received yet');
    return this.greetingValue;
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  async negotiate(
    opts: { capabilities?: string[] | undefined; timeoutMs?: number | undefined } = {},
  ): Promise<void> {
    const args = opts.capabilities ? { enable: opts.capabilities } : undefined;
    await this.execute('qmp_capabilities', args, { timeoutMs: opts.timeoutMs });
  }

  /** Returns `return`; throws QmpError when QEMU answers with an error. */
  async execute(command: string, args?: Record<string, unknown>, opts: CallOptions = {}): Promise<unknown> {
    const { reply, sent } = await this.request(command, args, opts);
    if (isErrorReply(reply)) throw new QmpError(reply.error.class, reply.error.desc, sent);
    return reply.return;
  }

  /** `execute` whose result is checked against a schema, so callers get a real type, not a cast. */
  async executeParsed<S extends z.ZodTypeAny>(
    schema: S,
    command: string,
    args?: Record<string, unknown>,
    opts: CallOptions = {},
  ): Promise<z.infer<S>> {
    const ret = await this.execute(command, args, opts);
    const r = schema.safeParse(ret);
    if (!r.success) throw new QmpProtocolError(describeZodError(`'${command}' returned`, r.error));
    return r.data;
  }

  /** The whole reply (return or error); rejects only on timeout, disconnect or protocol failure. */
  async executeRaw(
    command: string,
    args?: Record<string, unknown>,
    opts: CallOptions = {},
  ): Promise<QmpReply> {
    return (await this.request(command, args, opts)).reply;
  }

  private request(
    command: string,
    args: Record<string, unknown> | undefined,
    opts: CallOptions,
  ): Promise<{ reply: QmpReply; sent: Record<string, unknown> }> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const withId = opts.withId !== false;
    const id = withId ? `${this.idPrefix}${++this.counter}` : undefined;
    const sent: Record<string, unknown> = { execute: command };
    if (args !== undefined) sent.arguments = args;
    if (id !== undefined) sent.id = id;
    const what = `; cannot send '${command}'`;
    if (this.failure !== undefined) return this.failure.then((f) => Promise.reject(makeError(f, what)));
    if (!withId && this.idless !== undefined) {
      return Promise.reject(
        new Error(`id-less '${command}' refused: id-less '${this.idless.command}' is still pending`),
      );
    }
    return new Promise((resolve, reject) => {
      const p: Pending = {
        id,
        command,
        sent,
        resolve: (reply) => resolve({ reply, sent }),
        reject,
        timer: setTimeout(() => this.onCallTimeout(p, timeoutMs), timeoutMs),
      };
      if (id === undefined) this.idless = p;
      else this.pending.set(id, p);
      this.write(sent, `${JSON.stringify(sent)}\r\n`);
    });
  }

  /**
   * Writes bytes exactly as given (no framing added). Replies that then match no request are
   * read with `nextUnmatched`.
   */
  sendRaw(data: string | Uint8Array): Promise<void> {
    this.rawMode = true;
    if (this.failure !== undefined) {
      return this.failure.then((f) => Promise.reject(makeError(f, '; cannot send raw data')));
    }
    const logged = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    return new Promise((resolve, reject) => {
      this.record({ dir: 'send', msg: logged, t: Date.now() });
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Next reply no pending request claimed, e.g. QEMU's answer to raw input. */
  nextUnmatched(opts: { timeoutMs?: number | undefined } = {}): Promise<UnmatchedReply> {
    this.rawMode = true;
    const ms = opts.timeoutMs ?? this.timeoutMs;
    return this.unmatched.next(ms, () => 'waiting for an unmatched QMP reply');
  }

  /** Idempotent; fails whatever is pending with "closed by the client". */
  async close(): Promise<void> {
    if (this.failure === undefined) {
      this.failAll({ kind: 'closed', message: 'QMP connection closed by the client' });
    }
    this.socket.destroy();
    await this.socketClosed;
  }

  private record(e: LogEntry): void {
    this.log.push(e);
    if (this.log.length > 2 * LOG_LIMIT) this.log.splice(0, this.log.length - LOG_LIMIT);
  }

  private write(msg: Record<string, unknown>, line: string): void {
    this.record({ dir: 'send', msg, t: Date.now() });
    // A failed write also emits 'error' then 'close', which fails the call with context.
    this.socket.write(line);
  }

  private onCallTimeout(p: Pending, timeoutMs: number): void {
    if (p.id === undefined) {
      this.idless = undefined;
      this.abandonedIdless++;
    } else {
      this.pending.delete(p.id);
      this.abandoned.add(p.id);
    }
    const idText = p.id === undefined ? 'no id' : `id ${p.id}`;
    p.reject(
      new QmpTimeoutError(`no reply to '${p.command}' (${idText}) within ${timeoutMs} ms on ${this.path}`),
    );
  }

  private onData(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    let lines: string[];
    try {
      lines = this.framer.push(chunk);
    } catch (err) {
      this.fatal(err instanceof Error ? err.message : String(err));
      return;
    }
    for (const line of lines) {
      if (this.failure !== undefined) return;
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.record({ dir: 'recv', msg: line, t: Date.now() });
      this.fatal(`QMP server sent malformed JSON: ${excerpt(line)}`);
      return;
    }
    this.record({ dir: 'recv', msg, t: Date.now() });
    if (!this.greetingSeen) {
      this.greetingSeen = true;
      const g = greetingSchema.safeParse(msg);
      if (!g.success) {
        this.fatal(describeZodError('QMP greeting has the wrong shape', g.error));
        return;
      }
      this.greetingWait.push(g.data);
      return;
    }
    const c = classifyMessage(msg);
    if (c.kind === 'event') this.events.dispatch(c.event);
    else if (c.kind === 'reply') this.onReply(c.reply, line);
    else this.onInvalid(msg, c.problem);
  }

  private onReply(reply: QmpReply, line: string): void {
    const id = reply.id;
    if (typeof id === 'string' && this.pending.has(id)) {
      this.settle(this.pending.get(id), reply);
      return;
    }
    if (typeof id === 'string' && this.abandoned.delete(id)) return;
    if (id === undefined && this.idless !== undefined) {
      this.settle(this.idless, reply);
      return;
    }
    if (id === undefined && this.abandonedIdless > 0) {
      this.abandonedIdless--;
      return;
    }
    if (this.rawMode) {
      this.unmatched.push({ msg: reply, line });
      return;
    }
    this.fatal(`QMP server sent a reply matching no pending request (id ${JSON.stringify(id) ?? 'absent'})`);
  }

  /** A mis-shaped reply to one of our requests fails only that request; anything else is fatal. */
  private onInvalid(msg: unknown, problem: string): void {
    const id = typeof msg === 'object' && msg !== null && 'id' in msg ? msg.id : undefined;
    const p = typeof id === 'string' ? this.pending.get(id) : undefined;
    if (p === undefined) {
      this.fatal(problem);
      return;
    }
    this.pending.delete(id as string);
    clearTimeout(p.timer);
    p.reject(new QmpProtocolError(`${problem} (reply to '${p.command}', id ${p.id})`));
  }

  private settle(p: Pending | undefined, reply: QmpReply): void {
    if (p === undefined) return;
    if (p.id === undefined) this.idless = undefined;
    else this.pending.delete(p.id);
    clearTimeout(p.timer);
    p.resolve(reply);
  }

  private fatal(problem: string): void {
    if (this.failure !== undefined) return;
    this.failAll({ kind: 'protocol', message: problem });
    this.socket.destroy();
  }

  private onPeerClose(): void {
    if (this.failure !== undefined) return;
    const cut = this.framer.unterminatedBytes;
    const parts = ['QMP connection closed by the server'];
    if (this.socketError) parts.push(` (${this.socketError.message})`);
    if (cut > 0) parts.push(` with ${cut} bytes of an unterminated message`);
    const base = parts.join('');
    this.failure = this.withDetail(base);
    void this.failure.then((f) => this.rejectEverything(f));
  }

  private async withDetail(base: string): Promise<Failure> {
    const hook = this.opts.closeDetail;
    if (hook === undefined) return { kind: 'closed', message: base };
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), CLOSE_DETAIL_BOUND_MS);
    });
    try {
      const detail = await Promise.race([Promise.resolve(hook()), bound]);
      return { kind: 'closed', message: base, detail };
    } catch (err) {
      return { kind: 'closed', message: `${base} (closeDetail failed: ${String(err)})` };
    } finally {
      clearTimeout(timer);
    }
  }

  private failAll(f: Failure): void {
    this.failure = Promise.resolve(f);
    this.rejectEverything(f);
  }

  private rejectEverything(f: Failure): void {
    const calls = [...this.pending.values()];
    if (this.idless) calls.push(this.idless);
    this.pending.clear();
    this.idless = undefined;
    for (const p of calls) {
      clearTimeout(p.timer);
      const idText = p.id === undefined ? 'no id' : `id ${p.id}`;
      p.reject(makeError(f, ` while waiting for the reply to '${p.command}' (${idText})`));
    }
    const err = makeError(f, '');
    this.greetingWait.fail(makeError(f, ' while waiting for the QMP greeting'));
    this.unmatched.fail(err);
    this.events.failAll(err);
  }
}
