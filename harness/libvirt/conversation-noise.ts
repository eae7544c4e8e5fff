/**
 * The one place that says what in a recorded libvirt conversation is noise — what differs between two
 * recordings of the same scenario on the same QEMU without either being wrong. Values are replaced by a
 * fixed one when a recording is made (fixtures keep them replaced); the order rule applies only when two
 * recordings are compared (`comparable`), so a fixture still shows messages in the order they crossed.
 * Everything not listed here is compared exactly.
 *
 *   the scratch folder's path        in every string (image, socket, wrapper paths)  -> <SCRATCH>
 *   event timestamps                 {seconds, microseconds} of every event            -> 0, 0
 *   QEMU's thread ids                "thread-id" of query-cpus-fast entries (a host tid) -> 0
 *   an event crossing a command      QEMU emits an event on its own (a mirror reaching READY) while
 *                                    libvirt sends a command: which one the log shows first is a race.
 *                                    Within a run of sends and events with no reply between them, the
 *                                    events are put first (each kind keeps its own order); nothing moves
 *                                    across a reply, whose content would show the difference anyway
 *   virsh's progress polls           `virsh blockcopy --wait` asks virDomainGetBlockJobInfo every 500 ms
 *                                    until the mirror is READY: libvirt sends query-block-jobs as often as
 *                                    the copy leaves time for, and each reply shows the copy's progress at
 *                                    that instant (seen: running at offset 0, running at 1 MiB, ready).
 *                                    Comparing drops every query-block-jobs exchange (libvirt 9.0 sends it
 *                                    for nothing else; its own job bookkeeping uses query-jobs), and
 *                                    numbers the remaining command ids afresh ("libvirt-N" counts the polls)
 *   virsh's timings                  "Time elapsed: 675 ms" in domjobinfo                -> <N> ms
 *   checkpoint creation times        "2026-12-06 21:23:24 +0000" in checkpoint-list      -> <TIME>
 *   the domain's generated UUID      "-uuid 0431893d-…" on QEMU's command line            -> <UUID>
 *   libvirtd's descriptor numbers    "-chardev socket,id=charmonitor,fd=26,…" (seen 23..26) -> fd=<FD>
 */
import type { FixtureConnection, FixtureMessage, VirshOutcome } from './conversation-fixture.js';
import { executeOf } from './monitor-log.js';

export const SCRATCH_PLACEHOLDER = '<SCRATCH>';

export interface NoiseContext {
  /** the scratch folder of the recording */
  scratch: string;
}

function mapStrings(v: unknown, f: (s: string) => string): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [f(k), mapStrings(x, f)]));
  return v;
}

export function scrubPaths(v: unknown, ctx: NoiseContext): unknown {
  return mapStrings(v, (s) => s.replaceAll(ctx.scratch, SCRATCH_PLACEHOLDER));
}

/** Replies to these commands get their host-dependent members fixed, keyed by the command's id. */
const REPLY_NOISE: Readonly<Record<string, (ret: unknown) => unknown>> = {
  'query-cpus-fast': (ret) =>
    Array.isArray(ret) ? ret.map((c) => (c && typeof c === 'object' ? { ...c, 'thread-id': 0 } : c)) : ret,
};

function normaliseMessages(messages: readonly FixtureMessage[], ctx: NoiseContext): FixtureMessage[] {
  const commandOfId = new Map<string, string>();
  return messages.map(([dir, step, raw]) => {
    let msg = scrubPaths(raw, ctx) as Record<string, unknown>;
    if (dir === 'send') {
      const cmd = executeOf(msg);
      if (cmd && typeof msg.id === 'string') commandOfId.set(msg.id, cmd);
    } else if (msg && typeof msg === 'object') {
      if ('event' in msg && 'timestamp' in msg) msg = { ...msg, timestamp: { seconds: 0, microseconds: 0 } };
      const cmd = typeof msg.id === 'string' ? commandOfId.get(msg.id) : undefined;
      const fix = cmd ? REPLY_NOISE[cmd] : undefined;
      if (fix && 'return' in msg) msg = { ...msg, return: fix(msg.return) };
    }
    return [dir, step, msg];
  });
}

function isEvent(m: FixtureMessage): boolean {
  return m[0] === 'recv' && typeof m[2] === 'object' && m[2] !== null && 'event' in m[2];
}

/** Events first within every run of sends and events (see the header): the canonical interleaving. */
export function eventsBeforeSends(messages: readonly FixtureMessage[]): FixtureMessage[] {
  const out: FixtureMessage[] = [];
  let run: FixtureMessage[] = [];
  const flush = (): void => {
    out.push(...run.filter(isEvent), ...run.filter((m) => !isEvent(m)));
    run = [];
  };
  for (const m of messages) {
    if (m[0] === 'send' || isEvent(m)) run.push(m);
    else {
      flush();
      out.push(m);
    }
  }
  flush();
  return out;
}

export function normaliseConnections(
  conns: readonly FixtureConnection[],
  ctx: NoiseContext,
): FixtureConnection[] {
  return conns.map((c) => ({
    ...(scrubPaths({ ...c, messages: [] }, ctx) as FixtureConnection),
    messages: normaliseMessages(c.messages, ctx),
  }));
}

/** virsh's answers and other observations: paths, timings and times (see the header). */
export function normaliseOutput(v: unknown, ctx: NoiseContext): unknown {
  return mapStrings(scrubPaths(v, ctx), (s) =>
    s
      .replace(/(Time elapsed:\s+)\d+/g, '$1<N>')
      .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}/g, '<TIME>')
      .replace(/(-uuid )[0-9a-f-]{36}/g, '$1<UUID>')
      .replace(/\b(fd=)\d+/g, '$1<FD>'),
  );
}

export function normaliseVirsh(outcomes: readonly VirshOutcome[], ctx: NoiseContext): VirshOutcome[] {
  return outcomes.map((o) => normaliseOutput(o, ctx) as VirshOutcome);
}

/** Commands whose exchanges are polls (see the header): dropped, with their replies, when comparing. */
const POLLS: ReadonlySet<string> = new Set(['query-block-jobs']);

export function withoutPolls(messages: readonly FixtureMessage[]): FixtureMessage[] {
  const pollIds = new Set<unknown>();
  return messages.filter(([dir, , msg]) => {
    const o = msg as { id?: unknown } | null;
    if (dir === 'send' && POLLS.has(executeOf(msg) ?? '')) {
      pollIds.add(o?.id);
      return false;
    }
    return !(dir === 'recv' && o?.id !== undefined && pollIds.has(o.id));
  });
}

/** Command ids become "#1", "#2", … in the order the commands were sent; replies follow their command. */
export function renumberIds(messages: readonly FixtureMessage[]): FixtureMessage[] {
  const ids = new Map<unknown, string>();
  return messages.map(([dir, step, msg]) => {
    const o = msg as Record<string, unknown> | null;
    if (!o || typeof o !== 'object' || !('id' in o)) return [dir, step, msg];
    if (dir === 'send' && !ids.has(o.id)) ids.set(o.id, `#${ids.size + 1}`);
    return [dir, step, { ...o, id: ids.get(o.id) ?? o.id }];
  });
}

/** Two recordings are the same when these are equal (deep equality): polls dropped, the order rule applied. */
export function comparable(conns: readonly FixtureConnection[]): FixtureConnection[] {
  return conns.map((c) => ({ ...c, messages: eventsBeforeSends(renumberIds(withoutPolls(c.messages))) }));
}
