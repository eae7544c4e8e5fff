/**
 * libvirtd's log (with the filters in libvirtd.ts) turned back into the QMP conversations it had: one per
 * monitor connection, every message sent and received in wire order, with what the connection was for.
 *
 * What the log says, and what is taken from where (libvirt 9.0, src/qemu/qemu_monitor*.c):
 *   QEMU_MONITOR_NEW: mon=P fd=N              a connection opens (P may be reused after a CLOSE)
 *   QEMU_MONITOR_IO_WRITE: mon=P buf=… len=L ret=R errno=E
 *                                             bytes really written (R of them; a short write goes on in the
 *                                             next record), so sends are in wire order — the earlier
 *                                             QEMU_MONITOR_SEND_MSG is logged before the write happens
 *   QEMU_MONITOR_RECV_REPLY: mon=P reply=…    a reply
 *   QEMU_MONITOR_RECV_EVENT: mon=P event=…    an event
 *   Line [{"QMP": …}]                         the greeting: logged only raw and without P; it belongs to the
 *                                             newest connection that has received nothing yet
 *   QEMU_MONITOR_CLOSE: mon=P                 the connection closes
 *   Try to probe capabilities of 'B' via QMP, machine M
 *   (Re)connect monitor to vm=… name='D'      the next NEW from the same thread is that probe / domain
 * A record is a line starting with a timestamp; the lines after it up to the next one continue it (a
 * written buffer ends in CRLF, so its record spans two lines).
 */

export type Direction = 'send' | 'recv';

export interface LoggedMessage {
  dir: Direction;
  /** the JSON object; a text that did not parse is kept as { unparsed: text } */
  msg: unknown;
  /** byte offset of the log record: compare with PrivateLibvirtd.logOffset() marks */
  offset: number;
}

export interface MonitorConversation {
  /** libvirt's monitor pointer: only tells connections apart while they are open */
  mon: string;
  role: 'probe' | 'domain' | 'unknown';
  /** probe: the emulator binary libvirt probed, and the -machine it used (none,accel=kvm:tcg | none,accel=tcg) */
  binary?: string;
  machine?: string;
  /** domain: its name; reconnect when libvirtd re-attached to a running QEMU after its own restart */
  domain?: string;
  reconnect?: boolean;
  openedAt: number;
  closedAt?: number;
  messages: LoggedMessage[];
}

interface LogRecord {
  offset: number;
  thread: string;
  body: string;
}

const RECORD_START = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}: (\d+): \w+ : (?:\w+:\d+ : )?/;

/** Splits the log into records, each with the byte offset where it starts. */
export function logRecords(log: Buffer | string): LogRecord[] {
  const buf = typeof log === 'string' ? Buffer.from(log, 'utf8') : log;
  const out: LogRecord[] = [];
  let cur: LogRecord | undefined;
  let pos = 0;
  while (pos < buf.length) {
    let nl = buf.indexOf(0x0a, pos);
    if (nl < 0) nl = buf.length;
    const line = buf.toString('utf8', pos, nl);
    const m = RECORD_START.exec(line);
    if (m) {
      if (cur) out.push(cur);
      cur = { offset: pos, thread: m[1] ?? '', body: line.slice(m[0].length) };
    } else if (cur) {
      cur.body += `\n${line}`;
    }
    pos = nl + 1;
  }
  if (cur) out.push(cur);
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { unparsed: text };
  }
}

type Label = Pick<MonitorConversation, 'role' | 'binary' | 'machine' | 'domain' | 'reconnect'>;

/** The parser's state while it walks the records. */
class LogState {
  readonly all: MonitorConversation[] = [];
  readonly open = new Map<string, MonitorConversation>();
  readonly pendingWrite = new Map<string, { bytes: Buffer; offset: number }>();
  readonly pendingLabel = new Map<string, Label>();

  opened(r: LogRecord, mon: string): void {
    const label = this.pendingLabel.get(r.thread) ?? { role: 'unknown' as const };
    this.pendingLabel.delete(r.thread);
    const c: MonitorConversation = { mon, ...label, openedAt: r.offset, messages: [] };
    if (c.reconnect === false) delete c.reconnect;
    this.all.push(c);
    this.open.set(mon, c);
  }

  /** `ret` bytes of `buf` went out: complete CRLF-ended messages become sends, a rest waits for more. */
  wrote(r: LogRecord, mon: string, buf: string, ret: number): void {
    const c = this.open.get(mon);
    if (!c || ret <= 0) return;
    const prev = this.pendingWrite.get(mon);
    const bytes = Buffer.concat([prev?.bytes ?? Buffer.alloc(0), Buffer.from(buf, 'utf8').subarray(0, ret)]);
    let start = 0;
    let offset = prev?.offset ?? r.offset;
    for (let end = bytes.indexOf('\r\n', start); end >= 0; end = bytes.indexOf('\r\n', start)) {
      c.messages.push({ dir: 'send', msg: parseJson(bytes.toString('utf8', start, end)), offset });
      start = end + 2;
      offset = r.offset;
    }
    if (start < bytes.length) this.pendingWrite.set(mon, { bytes: bytes.subarray(start), offset });
    else this.pendingWrite.delete(mon);
  }

  received(r: LogRecord, mon: string, text: string): void {
    this.open.get(mon)?.messages.push({ dir: 'recv', msg: parseJson(text), offset: r.offset });
  }

  greeted(r: LogRecord, text: string): void {
    const c = [...this.open.values()].reverse().find((x) => !x.messages.some((y) => y.dir === 'recv'));
    c?.messages.push({ dir: 'recv', msg: parseJson(text), offset: r.offset });
  }

  closed(r: LogRecord, mon: string): void {
    const c = this.open.get(mon);
    if (c) c.closedAt = r.offset;
    this.open.delete(mon);
    this.pendingWrite.delete(mon);
  }
}

type Rule = [RegExp, (s: LogState, r: LogRecord, m: string[]) => void];

const RULES: readonly Rule[] = [
  [
    /^Try to probe capabilities of '(.*)' via QMP, machine (\S+)/,
    (s, r, m) => s.pendingLabel.set(r.thread, { role: 'probe', binary: m[1], machine: m[2] }),
  ],
  [
    /^(Connect|Reconnect) monitor to \w+=0x[0-9a-f]+ name='(.*?)'/,
    (s, r, m) =>
      s.pendingLabel.set(r.thread, { role: 'domain', domain: m[2], reconnect: m[1] === 'Reconnect' }),
  ],
  [/^QEMU_MONITOR_NEW: mon=(0x[0-9a-f]+)/, (s, r, m) => s.opened(r, m[1] ?? '')],
  [
    /^QEMU_MONITOR_IO_WRITE: mon=(0x[0-9a-f]+) buf=([\s\S]*) len=\d+ ret=(-?\d+) errno=\d+$/,
    (s, r, m) => s.wrote(r, m[1] ?? '', m[2] ?? '', Number(m[3])),
  ],
  [
    /^QEMU_MONITOR_RECV_(?:REPLY|EVENT): mon=(0x[0-9a-f]+) (?:reply|event)=([\s\S]*)$/,
    (s, r, m) => s.received(r, m[1] ?? '', m[2] ?? ''),
  ],
  [/^Line \[(\{"QMP":[\s\S]*)\]$/, (s, r, m) => s.greeted(r, m[1] ?? '')],
  [/^QEMU_MONITOR_CLOSE: mon=(0x[0-9a-f]+)/, (s, r, m) => s.closed(r, m[1] ?? '')],
];

export function parseMonitorLog(log: Buffer | string): MonitorConversation[] {
  const state = new LogState();
  for (const r of logRecords(log)) {
    for (const [re, apply] of RULES) {
      const m = re.exec(r.body);
      if (!m) continue;
      apply(state, r, [...m]);
      break;
    }
  }
  return state.all;
}

/** The command a sent message executes ('qmp_capabilities', 'blockdev-add', …), or undefined. */
export function executeOf(msg: unknown): string | undefined {
  const o = msg as { execute?: unknown; 'exec-oob'?: unknown } | null;
  const e = o?.execute ?? o?.['exec-oob'];
  return typeof e === 'string' ? e : undefined;
}
