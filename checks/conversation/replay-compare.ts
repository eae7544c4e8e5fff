/**
 * A replayed conversation against its recording, step by step: a step is one message the client sent,
 * with the reply it got and the events that arrived after that reply until the next one (step 0: the
 * greeting and the events before the first reply). Noise is filtered where the project filters it — the recorded
 * conversation's own rules (harness/libvirt/conversation-noise.ts: scratch paths, event timestamps, thread
 * ids, the progress polls) and the differentials' (contract/noise.ts: key order, generated node names,
 * allocation sizes, job progress counters, a drain's paused/running pairs) — and the monitor's socket
 * path (maskMonitorPath). Values are compared with the one
 * JSON diff; events as a multiset, an event allowed to arrive one step later on either side (a job's
 * events cross the client's next command). Each difference is classed as the differential replay classes
 * them (checks/differential/classify.ts), from the other targets replayed in the same run.
 */
import type { ConversationMessage } from '../../contract/formats/conversation-trace.ts';
import type { DivergenceClass } from '../../contract/formats/divergence-classes.ts';
import { firstDifference } from '../../contract/formats/json-diff.ts';
import { requestName } from '../../contract/formats/transcripts.ts';
import { dropDrainPairs, maskProgress, normalizeValue, type RecordedEvent } from '../../contract/noise.ts';
import type { FixtureMessage } from '../../harness/libvirt/conversation-fixture.ts';
import {
  normaliseConnections,
  SCRATCH_PLACEHOLDER,
  withoutPolls,
} from '../../harness/libvirt/conversation-noise.ts';
import { classify, type Evidence } from '../differential/classify.ts';
import { multisetGap, type StepDifference } from '../differential/compare.ts';

export interface Step {
  label: string;
  reply: unknown;
  events: unknown[];
}

/**
 * The replay's own noise: the monitor's socket is the replay's, not the client's (libvirt's per-domain
 * folder under /var/lib/libvirt), so query-chardev's name of a listening unix socket is masked.
 */
function maskMonitorPath(msg: unknown): unknown {
  const r = (msg as { return?: unknown } | null)?.return;
  if (!Array.isArray(r) || !r.some((c) => c && typeof c === 'object' && 'frontend-open' in c)) return msg;
  return {
    ...(msg as object),
    return: r.map((c: { filename?: unknown }) =>
      typeof c.filename === 'string' && /^unix:[^,]*,server(=on)?$/.test(c.filename)
        ? { ...c, filename: 'unix:<MONITOR>,server=on' }
        : c,
    ),
  };
}

const isEvent = (m: unknown): boolean => !!m && typeof m === 'object' && 'event' in m;
const idOf = (m: unknown): unknown => (m && typeof m === 'object' ? (m as { id?: unknown }).id : undefined);

/** A connection's messages as steps, noise filtered; `scratch`: the folder that stood for <SCRATCH>. */
export function stepsOf(messages: readonly ConversationMessage[], scratch = SCRATCH_PLACEHOLDER): Step[] {
  const fixture: FixtureMessage[] = messages.map((m) => [m.dir, '', m.msg]);
  const [conn] = normaliseConnections([{ role: 'unknown', messages: fixture }], { scratch });
  const norm = (v: unknown) => maskProgress(normalizeValue(maskMonitorPath(v), SCRATCH_PLACEHOLDER));
  const steps: Step[] = [{ label: 'greeting', reply: undefined, events: [] }];
  const events: RecordedEvent[] = [];
  const pending = new Map<unknown, number>();
  // an event belongs to the step of the last reply before it: the same on both sides whether the client
  // waited for each reply or sent ahead (pipelined)
  let lastReplied = 0;
  for (const [dir, , msg] of withoutPolls(conn?.messages ?? [])) {
    if (dir === 'send') {
      steps.push({ label: requestName(msg), reply: undefined, events: [] });
      pending.set(idOf(msg), steps.length - 1);
    } else if (isEvent(msg)) {
      const e = norm(msg) as { event: string; data?: Record<string, unknown> };
      events.push({ event: e.event, data: e.data, step: lastReplied });
    } else if (msg && typeof msg === 'object' && 'QMP' in msg && steps[0] && steps[0].reply === undefined) {
      // the greeting (a client may have sent before it arrived)
      steps[0].reply = norm(msg);
    } else {
      const at = pending.get(idOf(msg)) ?? steps.length - 1;
      pending.delete(idOf(msg));
      lastReplied = at;
      const s = steps[at];
      if (s && s.reply === undefined) s.reply = norm(msg);
    }
  }
  for (const e of dropDrainPairs(events)) steps[e.step]?.events.push({ event: e.event, data: e.data });
  return steps;
}

const key = (x: unknown) => JSON.stringify(x);

/** `b`'s events moved one step where that makes the two sides agree (see the header). */
function aligned(a: readonly Step[], b: readonly Step[]): Step[] {
  const out = b.map((s) => ({ ...s, events: [...s.events] }));
  for (let i = 0; i < out.length; i++) {
    const here = out[i];
    const mine = a[i];
    if (!here || !mine) continue;
    const gap = multisetGap(mine.events, here.events, key);
    // an event A has here that B got one step later (or earlier): move it here
    for (const x of gap.a)
      for (const j of [i + 1, i - 1]) {
        const other = out[j];
        const k = other ? other.events.findIndex((y) => key(y) === key(x)) : -1;
        if (
          other &&
          k >= 0 &&
          multisetGap(a[j]?.events ?? [], other.events, key).b.some((y) => key(y) === key(x))
        ) {
          here.events.push(...other.events.splice(k, 1));
          break;
        }
      }
  }
  return out;
}

const comparable = (s: Step | undefined) =>
  s ? { reply: s.reply, events: [...s.events].sort((x, y) => (key(x) < key(y) ? -1 : 1)) } : undefined;

/** Every step where the two differ, first first; `prefix` names the connection. */
export function compareSteps(a: readonly Step[], bRaw: readonly Step[], prefix = ''): StepDifference[] {
  const b = aligned(a, bRaw);
  const out: StepDifference[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const label = `${prefix}${a[i]?.label ?? b[i]?.label ?? '?'}`;
    const d = firstDifference(comparable(a[i]), comparable(b[i]));
    if (!d) continue;
    const path = a[i] && b[i] ? d.path : '';
    out.push({ step: i, label, signature: `${label}: ${path || 'only on one side'}`, path, a: d.a, b: d.b });
  }
  return out;
}

export interface SideSteps {
  label: string;
  kind: 'sim' | 'real';
  version: string;
  /** per connection; undefined where the connection could not be replayed */
  connections: (Step[] | undefined)[];
}

/** the steps where two sides differ, per connection: computed once per pair */
const differing = new WeakMap<SideSteps, Map<SideSteps, (Set<number> | undefined)[]>>();

/** whether two sides differ at a step of a connection (undefined: one of them has no such connection) */
function differsAt(x: SideSteps, y: SideSteps, conn: number, step: number): boolean | undefined {
  const byY = differing.get(x) ?? new Map<SideSteps, (Set<number> | undefined)[]>();
  differing.set(x, byY);
  let sets = byY.get(y);
  if (!sets) {
    sets = x.connections.map((a, i) => {
      const b = y.connections[i];
      return a && b ? new Set(compareSteps(a, b).map((d) => d.step)) : undefined;
    });
    byY.set(y, sets);
  }
  return sets[conn]?.has(step);
}

export interface Classed {
  class: DivergenceClass;
  note: string;
}

/**
 * The class of a difference between the recording and side `t` at a step, from what the other sides
 * replayed there show (the differential replay's evidence, checks/differential/classify.ts).
 */
export function classDifference(
  recording: SideSteps,
  t: SideSteps,
  sides: readonly SideSteps[],
  conn: number,
  step: number,
): Classed {
  const at = (x: SideSteps, y: SideSteps) => differsAt(x, y, conn, step);
  const reals = sides.filter((s) => s.kind === 'real' && s !== t);
  let evidence: Evidence;
  let note: string;
  if (t.kind === 'real' && t.version === recording.version) {
    evidence = { established: false };
    note = `real ${t.version} differs from its own recording`;
  } else if (t.kind === 'real') {
    const simWrongAt = sides
      .filter((s) => s.kind === 'sim' && s.version === t.version && at(s, t) === true)
      .map((s) => s.label);
    evidence = { established: true, pair: 'real-vs-real', simWrongAt };
    note = `real ${t.version} differs from the ${recording.version} recording${simWrongAt.length ? `; ${simWrongAt.join(', ')} differs from real ${t.version}` : ''}`;
  } else if (t.version === recording.version) {
    // the simulator against the real QEMU of its own version (the recording): wrong, whatever others say
    const asOther = reals.filter((r) => r.version !== t.version && at(t, r) === false).map((r) => r.label);
    evidence = { established: true, pair: 'sim-vs-real' };
    note = `differs from real ${t.version}${asOther.length ? ` (answers as ${asOther.join(', ')})` : ''}`;
  } else {
    const own = reals.find((r) => r.version === t.version);
    const vsOwn = own ? at(t, own) : undefined;
    if (!own || vsOwn === undefined) {
      evidence = { established: false };
      note = `real ${t.version} not replayed: nothing tells a version difference from a simulator error`;
    } else if (vsOwn) {
      // the recording is another version's: the simulator is judged against its own real QEMU
      evidence = { established: true, pair: 'sim-vs-real' };
      note = `differs from real ${t.version} too`;
    } else {
      // the simulator answers as its own real QEMU: the recording's version and this one differ
      evidence = { established: true, pair: 'real-vs-real', simWrongAt: [] };
      note = `real ${t.version} answers the same`;
    }
  }
  return { class: classify(evidence), note };
}
