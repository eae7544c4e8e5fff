/**
 * A conversation trace (contract/formats/conversation-trace.ts) from what libvirt leaves behind: its
 * monitor log (parsed by monitor-log.ts) and the domain's QEMU log, where libvirt writes the command line
 * it started QEMU with — or from a conversation the libvirt test recorded (fixtures/, which keep that
 * command line as an observation).
 *
 * The command line is stored, not derived: the monitor log does not show it (the -blockdev/-device set is
 * only partly visible in query replies, and not the machine, CPU or memory). Where it is not known (a log
 * given without the QEMU log), a domain connection has none and a replay refuses it with that reason.
 * libvirt's capability probe has a fixed command line (qemuProcessQMPLaunch); it is made from the machine
 * the log names.
 */
import path from 'node:path';
import {
  CONVERSATION_TRACE_FORMAT,
  type ConversationConnection,
  type ConversationTrace,
  SCRATCH_MARK,
  type TraceImage,
} from '../../contract/formats/conversation-trace.ts';
import type { ConversationFixture } from './conversation-fixture.ts';
import { greetingVersion } from './conversation-fixture.ts';
import { executeOf, type MonitorConversation, parseMonitorLog } from './monitor-log.ts';

/**
 * The command line of the last start in a domain's QEMU log: the block after "starting up", one option a
 * line continued with " \\", without the environment before the binary.
 */
export function commandLineOfQemuLog(log: string): string[] {
  const lines = log.slice(log.lastIndexOf('starting up')).split('\n').slice(1);
  const words: string[] = [];
  for (const l of lines) {
    words.push(l.replace(/ \\$/, ''));
    if (!l.endsWith(' \\')) break;
  }
  return words.slice(words.findIndex((w) => !/^[A-Z_]+=/.test(w)));
}

/** A shell word as virCommand quotes it ('…' with '\'' inside) back to its text. */
function unquote(s: string): string {
  if (!s.startsWith("'")) return s;
  return s.slice(1, -1).replaceAll(`'\\''`, "'");
}

/** libvirt's logged command line ("-name guest=x", "-object '{…}'") as an argument vector. */
export function argvOfCommandLine(words: readonly string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const sp = w.indexOf(' ');
    if (!w.startsWith('-') || sp < 0) out.push(unquote(w));
    else out.push(w.slice(0, sp), unquote(w.slice(sp + 1)));
  }
  return out;
}

/** libvirt 9.0's probe command line for a machine ("none,accel=tcg"), its -pidfile and -daemonize left out. */
export function probeArgv(binary: string, machine: string): string[] {
  return [
    binary,
    '-S',
    '-no-user-config',
    '-nodefaults',
    '-nographic',
    '-machine',
    machine,
    '-qmp',
    `unix:${SCRATCH_MARK}/qmp.monitor,server=on,wait=off`,
  ];
}

function parseJsonObject(s: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(s);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** key=value,… as an object (flat: what a -blockdev file node and its format node need here) */
function keyvalObject(s: string): Record<string, unknown> {
  return Object.fromEntries(
    s.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
  );
}

/** -blockdev values of an argv, as objects (libvirt writes them as JSON, people often as key=value) */
function blockdevs(argv: readonly string[]): Record<string, unknown>[] {
  return argv.flatMap((a, i) =>
    argv[i - 1] === '-blockdev' || argv[i - 1] === '--blockdev'
      ? [parseJsonObject(a) ?? keyvalObject(a)]
      : [],
  );
}

/** The folder the images on the command line are in: the recording's scratch folder. */
export function scratchOf(argv: readonly string[]): string | undefined {
  const f = blockdevs(argv).find((b) => b.driver === 'file' && typeof b.filename === 'string');
  return f ? path.dirname(String(f.filename)) : undefined;
}

/**
 * The images of the command line's -blockdev file nodes, with the format and size QEMU reported for the
 * format node on top of each in the first query-named-block-nodes reply.
 */
export function imagesOf(
  argv: readonly string[],
  messages: readonly { dir: string; msg?: unknown }[],
): TraceImage[] {
  const bds = blockdevs(argv);
  const ids = new Set<unknown>();
  let nodes: Record<string, unknown>[] = [];
  for (const m of messages) {
    const o = m.msg as Record<string, unknown> | null;
    if (m.dir === 'send' && executeOf(o) === 'query-named-block-nodes') ids.add(o?.id);
    else if (m.dir === 'recv' && ids.has(o?.id) && Array.isArray(o?.return)) {
      nodes = o.return as Record<string, unknown>[];
      break;
    }
  }
  const out: TraceImage[] = [];
  for (const file of bds.filter((b) => b.driver === 'file')) {
    const fmt = bds.find((b) => b.file === file['node-name']);
    const node = nodes.find((n) => n['node-name'] === (fmt?.['node-name'] ?? file['node-name']));
    const size = (node?.image as { 'virtual-size'?: unknown } | undefined)?.['virtual-size'];
    if (typeof size !== 'number') continue;
    out.push({ path: String(file.filename), format: String(fmt?.driver ?? 'raw'), size });
  }
  return out;
}

function replaceStrings(v: unknown, from: string, to: string): unknown {
  if (typeof v === 'string') return v.replaceAll(from, to);
  if (Array.isArray(v)) return v.map((x) => replaceStrings(x, from, to));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceStrings(x, from, to)]));
  return v;
}

interface Source {
  type: ConversationTrace['source']['type'];
  file?: string;
  libvirt?: string;
}

/** The trace of some connections: the scratch folder written as <SCRATCH>, the images found. */
export function assembleTrace(source: Source, connections: ConversationConnection[]): ConversationTrace {
  const first = connections.find((c) => c.role !== 'probe' && c.argv);
  const scratch = first?.argv ? scratchOf(first.argv) : undefined;
  const conns =
    scratch && scratch !== SCRATCH_MARK
      ? (replaceStrings(connections, scratch, SCRATCH_MARK) as ConversationConnection[])
      : connections;
  const firstDomain = conns.find((c) => c.role !== 'probe' && c.argv);
  const images = firstDomain?.argv ? imagesOf(firstDomain.argv, firstDomain.messages) : [];
  const qemu = greetingVersion(
    conns.map((c) => ({
      messages: c.messages.map((m) => [m.dir, '', m.msg] as [typeof m.dir, string, unknown]),
    })),
  );
  return {
    tool: 'fleece-lab',
    kind: 'conversation',
    format: CONVERSATION_TRACE_FORMAT,
    source,
    qemu,
    createdAt: new Date().toISOString(),
    images,
    connections: conns,
  };
}

function connectionOf(
  c: Pick<MonitorConversation, 'role' | 'binary' | 'machine' | 'reconnect'>,
): ConversationConnection {
  const out: ConversationConnection = { role: c.role, messages: [] };
  if (c.reconnect) out.reconnect = true;
  if (c.role === 'probe' && c.machine) {
    out.argv = probeArgv(c.binary ?? 'qemu-system-x86_64', c.machine);
    out.argvFrom = 'probe';
  }
  return out;
}

/**
 * The trace of libvirtd's log: every monitor connection (probes of other binaries too), each domain
 * connection that is not a reconnection with `commandLine` (from the domain's QEMU log) as its argv.
 */
export function traceOfLibvirtLog(
  log: Buffer | string,
  opts: { file?: string; commandLine?: string[] } = {},
): ConversationTrace {
  const convs = parseMonitorLog(log);
  if (convs.length === 0) throw new Error(`${opts.file ?? 'log'}: no QEMU monitor connection in this log`);
  const argv = opts.commandLine ? argvOfCommandLine(opts.commandLine) : undefined;
  const conns = convs.map((c) => {
    const out = connectionOf(c);
    if (c.role === 'domain' && !c.reconnect && argv) {
      out.argv = argv;
      out.argvFrom = 'qemu-log';
    }
    out.messages = c.messages.map((m) => ({ dir: m.dir, msg: m.msg }));
    return out;
  });
  return assembleTrace({ type: 'libvirt-log', file: opts.file }, conns);
}

/** The trace of a recorded fixture: its command line at start for every domain start. */
export function traceOfFixture(f: ConversationFixture, file?: string): ConversationTrace {
  const words = f.observed['qemu command line at start'];
  const argv = Array.isArray(words) ? argvOfCommandLine(words as string[]) : undefined;
  const conns = f.connections.map((c) => {
    const out = connectionOf(c);
    if (c.role === 'domain' && !c.reconnect && argv) {
      out.argv = argv;
      out.argvFrom = 'fixture';
    }
    out.messages = c.messages.map(([dir, , msg]) => ({ dir, msg }));
    return out;
  });
  return assembleTrace({ type: 'libvirt-fixture', file, libvirt: f.libvirt }, conns);
}

/** Is this parsed JSON one of the libvirt test's recorded conversations? */
export function isFixture(raw: unknown): raw is ConversationFixture {
  const o = raw as { format?: unknown; connections?: unknown; scenario?: unknown } | null;
  return o?.format === 1 && typeof o.scenario === 'string' && Array.isArray(o.connections);
}
