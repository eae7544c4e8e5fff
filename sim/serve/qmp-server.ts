/**
 * QMP monitors on character devices, as qemu-storage-daemon runs them (monitor/monitor.c, monitor/qmp.c;
 * the chardevs are in chardev/):
 *
 * - every connection gets the greeting and starts un-negotiated, with its own JSON parser;
 * - input is QEMU's JSON stream (sim/serve/qobject/): any whitespace between objects, several in a
 *   packet, one split over packets; a parse error answers `{"error": ...}` without id and the stream
 *   resynchronises the way QEMU's does;
 * - events go to every negotiated connection of every monitor, written before the reply of the
 *   command that raised them, as QEMU writes them;
 * - output is QEMU's JSON text (key order, number format, `pretty=on`), each line ending in CRLF.
 *
 * Bounded: the parser holds at most one 64 MiB token; a connection whose peer stops reading is not
 * read either once 8 MiB of output wait, and is dropped beyond 64 MiB.
 */
import type { Duplex } from 'node:stream';
import { qdictOrder } from '../../contract/qjson.ts';
import type { Profile } from '../../contract/versions.ts';
import type { Monitor, QmpReply } from '../monitor/dispatch.ts';
import type { Sim } from '../sim.ts';
import type { SimEvent } from '../util/events.ts';
import type { Chardev, CharFrontend } from './chardev/char.ts';
import { type Generation, type JsonMessage, JsonMessageParser } from './qobject/json-streamer.ts';
import { formatQValue, type NumberStyle } from './qobject/json-writer.ts';
import { isQDict, type QValue, toPlain } from './qobject/qobject.ts';

export interface QmpFormat {
  generation: Generation;
  numbers: NumberStyle;
}

/** How each profile reads and writes JSON (checked against the real binaries). */
export function qmpFormat(profile: Profile): QmpFormat {
  switch (profile) {
    case '5.2':
      return { generation: 'classic', numbers: 'f' };
    case '11.1':
      return { generation: 'push', numbers: 'g17' };
    default:
      return { generation: 'classic', numbers: 'g17' };
  }
}

export interface QmpHubOptions {
  format: QmpFormat;
  /** runs before each command (serve: bring the simulated clock up to the wall clock) */
  beforeCommand?: () => void;
  /** runs after each command, before its reply is written (qemu-system: what qemu-io printed goes out) */
  afterCommand?: () => void;
  /** the timestamp an event is sent with (default: the simulator's own) */
  timestamp?: (e: SimEvent) => { seconds: number; microseconds: number };
  /** `quit` was executed, its reply not yet sent (qsd's exit path runs before the reply goes out) */
  onQuitRequested?: () => void;
  /** `quit` was answered and its reply flushed */
  onQuit?: () => void;
  /** output waiting in a connection beyond which its input is no longer read (default 8 MiB) */
  highWater?: number;
  /** output waiting beyond which the connection is dropped (default 64 MiB) */
  hardLimit?: number;
}

/** The greeting in QEMU's insertion order (qmp_greeting + the VersionInfo visitor). */
function greetingValue(sim: Sim): Map<string, unknown> {
  const g = sim.core.snapshot.greeting.QMP;
  const q = g.version.qemu;
  const version = new Map<string, unknown>([
    [
      'qemu',
      new Map<string, unknown>([
        ['major', q.major],
        ['minor', q.minor],
        ['micro', q.micro],
      ]),
    ],
    ['package', g.version.package],
  ]);
  return new Map<string, unknown>([
    [
      'QMP',
      new Map<string, unknown>([
        ['version', version],
        ['capabilities', [...g.capabilities]],
      ]),
    ],
  ]);
}

/** All monitors of one simulated QEMU: connections, the event fan-out, quit. */
export class QmpHub {
  readonly sessions = new Set<QmpSession>();
  readonly monitors: QmpMonitor[] = [];
  private readonly unsubscribe: () => void;
  quitting = false;
  /** until start(), connections wait unanswered (QEMU serves them only from its main loop) */
  private started = false;
  private readonly held: (() => void)[] = [];
  readonly highWater: number;
  readonly hardLimit: number;

  constructor(
    readonly sim: Sim,
    readonly opts: QmpHubOptions,
  ) {
    this.highWater = opts.highWater ?? 8 * 1024 * 1024;
    this.hardLimit = opts.hardLimit ?? 64 * 1024 * 1024;
    this.unsubscribe = sim.core.events.subscribe((e) => this.broadcast(e));
  }

  /** --monitor chardev=ID[,pretty=on] */
  addMonitor(chardev: Chardev, pretty: boolean): QmpMonitor {
    const m = new QmpMonitor(this, pretty);
    this.monitors.push(m);
    chardev.attach(m);
    return m;
  }

  greetingText(pretty: boolean): string {
    return this.line(greetingValue(this.sim), pretty);
  }

  /** one message as the monitor writes it: JSON, newlines as CRLF, CRLF at the end */
  line(v: unknown, pretty: boolean): string {
    const text = formatQValue(v, this.opts.format.numbers, pretty);
    return `${pretty ? text.replace(/\n/g, '\r\n') : text}\r\n`;
  }

  private broadcast(e: SimEvent): void {
    const ts = this.opts.timestamp ? this.opts.timestamp(e) : e.timestamp;
    const m = new Map<string, unknown>([
      ['event', e.event],
      [
        'timestamp',
        new Map<string, unknown>([
          ['seconds', ts.seconds],
          ['microseconds', ts.microseconds],
        ]),
      ],
    ]);
    if (e.data !== undefined) m.set('data', e.data);
    const text: Record<'compact' | 'pretty', string | undefined> = { compact: undefined, pretty: undefined };
    for (const s of this.sessions) {
      if (!s.negotiated) continue;
      const key = s.pretty ? 'pretty' : 'compact';
      text[key] ??= this.line(m, s.pretty);
      s.send(text[key]!);
    }
  }

  /** Startup is over: greet the connections that came early, and every later one at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const f of this.held.splice(0)) f();
  }

  /** run now, or when start() is called */
  whenStarted(f: () => void): void {
    if (this.started) f();
    else this.held.push(f);
  }

  requestQuit(): void {
    if (this.quitting) return;
    this.quitting = true;
  }

  /** until every connection has written what it was given (at most `ms`) */
  async flush(ms = 500): Promise<void> {
    const end = Date.now() + ms;
    while ([...this.sessions].some((s) => s.pending > 0) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 5));
  }

  /** Stop: no more events; drop every connection. */
  close(): void {
    this.unsubscribe();
    for (const s of [...this.sessions]) s.destroy();
  }
}

/** One `--monitor`: a QMP frontend on a chardev. */
export class QmpMonitor implements CharFrontend {
  constructor(
    readonly hub: QmpHub,
    readonly pretty: boolean,
  ) {}

  open(conn: Duplex, early: boolean): void {
    if (conn.destroyed) return;
    conn.pause();
    // accepted by the main loop: served once startup is over; already open: greeted now
    if (early) this.greet(conn);
    else this.hub.whenStarted(() => this.greet(conn));
  }

  private greet(conn: Duplex): void {
    if (conn.destroyed) return;
    const s = new QmpSession(this.hub, conn, this.pretty);
    this.hub.sessions.add(s);
    conn.once('close', () => this.hub.sessions.delete(s));
  }
}

/** One client connection: greeting, its own negotiation state and JSON parser. */
export class QmpSession {
  private readonly monitor: Monitor;
  private readonly parser: JsonMessageParser;
  private closed = false;

  constructor(
    private readonly hub: QmpHub,
    private readonly conn: Duplex,
    readonly pretty: boolean,
  ) {
    this.monitor = hub.sim.connect();
    this.parser = new JsonMessageParser(hub.opts.format.generation, (m) => this.onMessage(m));
    conn.on('data', (chunk: Buffer) => this.onData(chunk));
    conn.on('drain', () => {
      if (!this.closed && !this.hub.quitting) conn.resume();
    });
    conn.on('error', () => {});
    conn.once('close', () => {
      this.closed = true;
    });
    this.send(hub.greetingText(pretty));
    // QEMU reads monitors from its main loop: nothing is read before startup is over
    hub.whenStarted(() => {
      if (!this.closed) conn.resume();
    });
  }

  get negotiated(): boolean {
    return this.monitor.negotiated && !this.closed;
  }

  /** bytes given to the connection and not yet written */
  get pending(): number {
    return this.closed ? 0 : this.conn.writableLength;
  }

  send(text: string, cb?: () => void): void {
    if (this.closed) return;
    if (this.conn.writableLength > this.hub.hardLimit) {
      this.destroy();
      return;
    }
    this.conn.write(text, cb ? () => cb() : undefined);
  }

  destroy(): void {
    this.closed = true;
    this.conn.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.hub.quitting) return;
    this.parser.feed(chunk);
    if (this.conn.writableLength > this.hub.highWater) this.conn.pause();
  }

  /** in-band requests waiting for the main loop (OOB enabled only; QEMU's QMP_REQ_QUEUE_LEN_MAX is 8) */
  private readonly inBand: JsonMessage[] = [];
  private draining = false;

  /**
   * With OOB enabled QEMU parses in its monitor thread: an out-of-band request ("exec-oob" without
   * "execute") is answered at once, everything else waits in a queue the main loop works through. So
   * OOB replies overtake in-band requests that arrived in the same read. Without OOB, one request at a
   * time, in order.
   */
  private onMessage(m: JsonMessage): void {
    if (this.closed || this.hub.quitting) return;
    if (!this.monitor.oob) {
      this.handle(m);
      return;
    }
    const v = 'error' in m ? undefined : m.value;
    if (v !== undefined && isQDict(v) && v.has('exec-oob') && !v.has('execute')) {
      this.handle(m);
      return;
    }
    this.inBand.push(m);
    if (this.inBand.length >= 8) this.conn.pause();
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => {
      this.draining = false;
      for (let next = this.inBand.shift(); next; next = this.inBand.shift()) this.handle(next);
      if (!this.closed && !this.hub.quitting && this.conn.writableLength <= this.hub.highWater)
        this.conn.resume();
    });
  }

  private handle(m: JsonMessage): void {
    // a monitor that a command hung (a known bug of this version) answers nothing more
    if (this.closed || this.hub.quitting || this.hub.sim.core.stuck) return;
    const hub = this.hub;
    if ('error' in m) {
      this.send(
        hub.line(
          new Map([
            [
              'error',
              new Map([
                ['class', 'GenericError'],
                ['desc', m.error],
              ]),
            ],
          ]),
          this.pretty,
        ),
      );
      return;
    }
    const v = m.value;
    let request: unknown;
    let id: { value: QValue } | undefined;
    if (isQDict(v)) {
      // qmp_dispatch_check_obj walks the request in QDict order: hand the members over in that order
      request = Object.fromEntries(qdictOrder([...v.keys()]).map((k) => [k, toPlain(v.get(k)!)]));
      if (v.has('id')) id = { value: v.get('id')! };
    } else {
      request = toPlain(v);
    }
    hub.opts.beforeCommand?.();
    const reply: QmpReply = this.monitor.dispatch(request);
    hub.opts.afterCommand?.();
    if (hub.sim.core.stuck) return;
    const out = new Map<string, unknown>();
    if ('error' in reply) {
      out.set(
        'error',
        new Map([
          ['class', reply.error.class],
          ['desc', reply.error.desc],
        ]),
      );
    } else {
      out.set('return', reply.return);
    }
    if (id) out.set('id', id.value);
    const text = hub.line(out, this.pretty);
    if (hub.sim.core.quitRequested && !hub.quitting) {
      hub.opts.onQuitRequested?.();
      hub.requestQuit();
      this.conn.pause();
      this.send(text, () => hub.opts.onQuit?.());
      if (this.closed) hub.opts.onQuit?.();
      return;
    }
    this.send(text);
  }
}
