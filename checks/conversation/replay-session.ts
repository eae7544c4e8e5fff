/**
 * One recorded conversation sent again to a target, connection by connection: each connection that is not
 * a reconnection gets a fresh QEMU (the previous one ended as libvirt ends it), its client messages are
 * sent with the client's own ids and in its order, and what comes back is kept in wire order, in the
 * trace's own message shape, for replay-compare.ts.
 *
 * The client's pace is kept where it shows in the recording: before each message the replay waits until
 * the events the client had received by then have arrived (a client like libvirt sends job-dismiss only
 * after the job's `concluded`), and for the reply to each command — each wait bounded. Effects the client
 * had outside QMP are done as it did them: an image file a `blockdev-add` of the file driver opens is
 * created empty first (libvirt creates backup scratch and copy destinations), and a connection whose
 * recording ends in SHUTDOWN for a host signal ends with SIGTERM (`virsh destroy`).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ConversationConnection,
  ConversationMessage,
  ConversationTrace,
} from '../../contract/formats/conversation-trace.ts';
import { traceVersionKey } from '../../contract/formats/conversation-trace.ts';
import { LineFramer } from '../../harness/clients/line-framer.ts';
import { registerCleanup } from '../../harness/targets/cleanup-registry.ts';
import { keyFiles, replayArgv } from './replay-argv.ts';
import {
  firstLine,
  type ReplayTarget,
  type Started,
  startReplayProcess,
  stopProcess,
  waitSocket,
} from './replay-process.ts';

export const BOUNDS = {
  /** the QMP socket of a starting QEMU */
  startMs: 30_000,
  /** a reply */
  replyMs: 15_000,
  /** the events the client had seen before its next message */
  eventsMs: 3_000,
};

export interface ReplayedConnection {
  /** messages in wire order (greeting first), or why the connection could not be replayed */
  messages: ConversationMessage[];
  broken?: string;
  /** waits that ran out: a reply or events that did not come */
  timeouts: string[];
}

export interface Replayed {
  target: ReplayTarget;
  /** the replay's folder: what <SCRATCH> stood for */
  dir: string;
  connections: ReplayedConnection[];
}

const isEvent = (m: unknown): boolean => !!m && typeof m === 'object' && 'event' in m;
const eventName = (m: unknown): string => String((m as { event?: unknown }).event);
const idOf = (m: unknown): unknown => (m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined);

/** A QMP connection kept line by line; messages in arrival order. */
class Wire {
  readonly got: ConversationMessage[] = [];
  private wake?: () => void;
  closed = false;
  private readonly framer = new LineFramer(64 << 20);
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (b: Buffer) => {
      for (const line of this.framer.push(b)) {
        if (line.trim() === '') continue;
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          msg = { unparsed: line };
        }
        this.got.push({ dir: 'recv', msg });
      }
      this.wake?.();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }
  /** retried while `alive` within `boundMs`: a socket file can exist a moment before it listens */
  static async connect(file: string, alive: () => boolean, boundMs: number): Promise<Wire> {
    for (const end = Date.now() + boundMs; ; await sleep(50)) {
      const sock = net.createConnection({ path: file });
      try {
        await new Promise((r, j) => sock.once('connect', r).once('error', j));
        return new Wire(sock);
      } catch (e) {
        sock.destroy();
        if (!alive() || Date.now() > end) throw e;
      }
    }
  }
  /** until cond holds, the connection closes or `ms` pass; whether cond holds */
  async until(cond: () => boolean, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end || this.closed) return cond();
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 25);
      });
    }
    return true;
  }
  send(msg: unknown): void {
    const u = (msg as { unparsed?: unknown } | null)?.unparsed;
    this.got.push({ dir: 'send', msg });
    this.sock.write(typeof u === 'string' ? u : `${JSON.stringify(msg)}\r\n`);
  }
  close(): void {
    this.sock.destroy();
  }
}

/** the images of the trace, made with the host's qemu-img in the replay's folder */
function makeImages(trace: ConversationTrace, dir: string): void {
  for (const img of trace.images) {
    const file = img.path.replaceAll('<SCRATCH>', dir);
    if (fs.existsSync(file)) continue;
    execFileSync('qemu-img', ['create', '-q', '-f', img.format, file, String(img.size)], { stdio: 'ignore' });
  }
}

/** libvirt creates the files it hands to blockdev-add (backup scratch images, copy destinations) */
function createOpenedFile(msg: unknown, dir: string): void {
  const o = msg as { execute?: unknown; arguments?: { driver?: unknown; filename?: unknown } } | null;
  if (o?.execute !== 'blockdev-add' || o.arguments?.driver !== 'file') return;
  const f = o.arguments.filename;
  if (typeof f === 'string' && f.startsWith(dir) && !fs.existsSync(f)) fs.writeFileSync(f, '');
}

function withDir(v: unknown, dir: string): unknown {
  if (typeof v === 'string') return v.replaceAll('<SCRATCH>', dir);
  if (Array.isArray(v)) return v.map((x) => withDir(x, dir));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withDir(x, dir)]));
  return v;
}

/**
 * What a client waits for in an event: its name, and for a job's or a device's event which one and the
 * status (10.0 sends more JOB_STATUS_CHANGE than 7.2 — drain pairs — so the name alone would let the
 * replay run ahead of a job's `concluded`).
 */
function eventKey(m: unknown): string {
  const d = (m as { data?: Record<string, unknown> }).data;
  const which = d?.id ?? d?.device ?? d?.node ?? '';
  return `${eventName(m)}|${typeof which === 'string' ? which : ''}|${typeof d?.status === 'string' ? d.status : ''}`;
}

/** event counts by key among messages */
function eventCounts(ms: readonly ConversationMessage[]): Map<string, number> {
  const c = new Map<string, number>();
  for (const m of ms)
    if (m.dir === 'recv' && isEvent(m.msg)) c.set(eventKey(m.msg), (c.get(eventKey(m.msg)) ?? 0) + 1);
  return c;
}

/** `slack`: events already waited for in vain, not waited for again */
function covers(have: Map<string, number>, want: Map<string, number>, slack: Map<string, number>): boolean {
  for (const [k, n] of want) if ((have.get(k) ?? 0) + (slack.get(k) ?? 0) < n) return false;
  return true;
}

/** After a wait ran out: what is missing is not waited for again (one bound per missing event, not per step). */
function giveUp(have: Map<string, number>, want: Map<string, number>, slack: Map<string, number>): void {
  for (const [k, n] of want) {
    const missing = n - (have.get(k) ?? 0) - (slack.get(k) ?? 0);
    if (missing > 0) slack.set(k, (slack.get(k) ?? 0) + missing);
  }
}

/** Does the recorded connection end with QEMU leaving on a host signal (virsh destroy)? */
function endsBySignal(c: ConversationConnection): boolean {
  let last = -1;
  c.messages.forEach((m, i) => {
    if (m.dir === 'send') last = i;
  });
  return c.messages
    .slice(last + 1)
    .some(
      (m) =>
        eventName(m.msg) === 'SHUTDOWN' &&
        (m.msg as { data?: { reason?: unknown } }).data?.reason === 'host-signal',
    );
}

async function replayConnection(
  c: ConversationConnection,
  wire: Wire,
  dir: string,
  ended: () => Promise<void>,
): Promise<string[]> {
  const timeouts: string[] = [];
  const slack = new Map<string, number>();
  await wire.until(() => wire.got.some((m) => m.dir === 'recv'), BOUNDS.replyMs);
  const sends = c.messages.flatMap((m, i) => (m.dir === 'send' ? [i] : []));
  for (const i of sends) {
    const before = eventCounts(c.messages.slice(0, i));
    if (!(await wire.until(() => covers(eventCounts(wire.got), before, slack), BOUNDS.eventsMs))) {
      timeouts.push(`events before message ${i}`);
      giveUp(eventCounts(wire.got), before, slack);
    }
    if (wire.closed) break;
    const msg = c.messages[i]?.msg;
    const id = idOf(msg);
    // the recording's reply to it: the one with its id, or (no id) the next non-event message
    const answered = c.messages
      .slice(i + 1)
      .some((m) => m.dir === 'recv' && !isEvent(m.msg) && (id === undefined || idOf(m.msg) === id));
    const n = wire.got.length;
    createOpenedFile(msg, dir);
    wire.send(msg);
    if (!answered) continue;
    const ok = await wire.until(
      () => wire.got.slice(n + 1).some((m) => !isEvent(m.msg) && (id === undefined || idOf(m.msg) === id)),
      BOUNDS.replyMs,
    );
    if (!ok) timeouts.push(`reply to message ${i}${wire.closed ? ' (connection closed)' : ''}`);
  }
  if (endsBySignal(c)) await ended();
  const all = eventCounts(c.messages);
  if (!(await wire.until(() => covers(eventCounts(wire.got), all, slack), BOUNDS.eventsMs)))
    timeouts.push('last events');
  return timeouts;
}

/** Every connection of the trace on the target, in order; processes and the folder are cleaned up. */
export async function replayTrace(trace: ConversationTrace, target: ReplayTarget): Promise<Replayed> {
  const dir = fs.mkdtempSync(path.join('/tmp', 'fl-replay-'));
  const out: Replayed = { target, dir, connections: [] };
  let proc: Started | undefined;
  const qmp = path.join(dir, 'qmp.sock');
  // a Ctrl-C or SIGTERM mid-replay leaves no QEMU and no folder behind
  const unregister = registerCleanup({
    pids: () => (proc?.proc.pid !== undefined && !proc.done() ? [proc.proc.pid] : []),
    scratch: dir,
  });
  try {
    makeImages(trace, dir);
    const prefix = await target.prefix(dir);
    for (const c of trace.connections) {
      const rc: ReplayedConnection = { messages: [], timeouts: [] };
      out.connections.push(rc);
      if (!c.reconnect || !proc || proc.done()) {
        if (proc) await stopProcess(proc);
        proc = undefined;
        if (!c.argv) {
          rc.broken = `no command line recorded for this ${c.role} connection (record it with --qemu-log)`;
          continue;
        }
        fs.rmSync(qmp, { force: true });
        const args = replayArgv(c.argv, {
          dir,
          qmpSocket: qmp,
          recorded: traceVersionKey(trace),
          target: target.version,
        });
        for (const f of keyFiles(args)) if (!fs.existsSync(f)) fs.writeFileSync(f, crypto.randomBytes(32));
        proc = await startReplayProcess(prefix, args, dir);
        const why = await waitSocket(qmp, proc, BOUNDS.startMs);
        if (why) {
          rc.broken = why;
          await stopProcess(proc);
          continue;
        }
      }
      const p = proc;
      let wire: Wire;
      try {
        wire = await Wire.connect(qmp, () => !p.done(), BOUNDS.startMs);
      } catch (e) {
        await sleep(200);
        rc.broken = `cannot connect to the monitor (${(e as { code?: string }).code ?? String(e)})${p.done() ? `: QEMU ended (${await p.exited})` : ''}: ${firstLine(p.stderr())}`;
        continue;
      }
      const sent = withDir(c, dir) as ConversationConnection;
      rc.timeouts = await replayConnection(sent, wire, dir, () => stopProcess(p));
      wire.close();
      rc.messages = wire.got;
      if (!rc.messages.some((m) => m.dir === 'recv')) {
        await Promise.race([p.exited, sleep(1000)]);
        rc.broken = `no greeting on the monitor${p.done() ? `: QEMU ended (${await p.exited}): ${firstLine(p.stderr())}` : ''}`;
      } else if (p.done() && !endsBySignal(c) && rc.timeouts.length > 0)
        rc.broken = `QEMU ended (${await p.exited}): ${firstLine(p.stderr())}`;
    }
  } finally {
    if (proc) await stopProcess(proc);
    fs.rmSync(dir, { recursive: true, force: true });
    unregister();
  }
  return out;
}
