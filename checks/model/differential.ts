import { createHash } from 'node:crypto';
import type { DomainKind, Port, TraceEntry } from '../../contract/port.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { type Difference, firstDifference, show } from '../../reports/transcripts.ts';
import { dropDrainPairs, normalizeValue, type RecordedEvent } from '../conformance/normalize.ts';
import { formatTrace } from './report.ts';
import { type OpSpec, World } from './world.ts';

/**
 * Differential replay: one saved run of `fleece-lab check` (a proposal and its operations) replayed on
 * several sides — the simulator with each version's profile and each real QEMU version — and the observable
 * outcome compared step by step.
 *
 * The outcome of a run is a list of steps: the domain's setup, one step per operation, and the final
 * teardown check. A step is what a client of that QEMU saw during it, in order:
 * - every QMP command with its arguments and reply (class and text of an error included),
 * - every API call of the proposal with its result or error,
 * - every guest write (done, or failed) and every NBD read with the bytes it got (run-length encoded),
 * - every property violation the checker found in that step (the run goes on after one),
 * - an error that ended the run early;
 * and the events each side got up to that step, as a set (see compareObserved; a drain's paused/running
 * pairs are dropped: their number depends on timing).
 * Noise is normalised as the conformance suite does (conformance/normalize.ts): the scratch folder,
 * generated node names, file allocation sizes; keys in NOISE_KEYS (progress counters of jobs) are masked.
 *
 * Divergences are grouped by their signature (which sides, which kind of item, which command or event, where
 * in the value), shrunk by delta debugging over the operations (every sub-sequence of operations is a valid
 * run: sessions are picked by index among the live ones) and classified:
 * - simulator-wrong: sim:V differs from real V;
 * - versions-differ: real V1 differs from real V2 while each simulator profile agrees with its own real QEMU
 *   at that step;
 * - both: real versions differ and a simulator profile also differs from its real QEMU there;
 * - unexplained: the divergence did not happen again when its trace was replayed (a side is not
 *   deterministic for it). A real run that broke (QEMU did not start, twice) is not compared at all.
 *
 * Each run gets a fresh QEMU process: a run does not leave QEMU pristine (the domain's NBD server, guest
 * disks and exports stay, and a run that breaks a property can leave jobs and nodes behind).
 */

export interface SavedRun {
  /** where it came from: FILE or FILE:LINE */
  source: string;
  proposal: string;
  domain: DomainKind;
  ops: OpSpec[];
}

export interface Side {
  /** 'sim:7.2' or 'real:7.2' */
  key: string;
  kind: 'sim' | 'real';
  version: string;
}

export type Item =
  | { kind: 'qmp'; command: string; args?: unknown; reply: unknown }
  | { kind: 'api'; call: string; params: unknown; result?: unknown; error?: string }
  | { kind: 'write'; disk: string; at: string; pattern: number; ok: boolean }
  | { kind: 'read'; export: string; at: string; bytes?: string; error?: boolean }
  | { kind: 'finding'; property: string; detail: string }
  | { kind: 'error'; message: string };

export interface StepOutcome {
  label: string;
  items: Item[];
}

export interface Observed {
  side: string;
  /** QEMU's own version string (real) or the profile (sim) */
  version: string;
  steps: StepOutcome[];
  /** the events, normalised, with the step in which the client got them */
  events: { step: number; event: Record<string, unknown> }[];
  /** QMP commands the run issued */
  commands: string[];
  /** the harness broke (QEMU did not start...): nothing to compare */
  broken?: string;
  trace: TraceEntry[];
}

/** Progress counters of a job depend on how far it got when asked: not behaviour. */
export const NOISE_KEYS = new Set(['current-progress', 'total-progress', 'offset', 'len', 'busy']);

function mask(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(mask);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = NOISE_KEYS.has(k) ? '<n>' : mask(x);
    return out;
  }
  return v;
}

/** Bytes as runs: `0x10*65536 0x20*512`; long ones are cut and hashed. */
export function describeBytes(b: Uint8Array): string {
  const runs: string[] = [];
  let i = 0;
  while (i < b.length) {
    let j = i;
    while (j < b.length && b[j] === b[i]) j++;
    runs.push(`0x${b[i].toString(16).padStart(2, '0')}*${j - i}`);
    i = j;
  }
  if (runs.length <= 16) return runs.join(' ');
  const h = createHash('sha256').update(b).digest('hex').slice(0, 16);
  return `${runs.slice(0, 8).join(' ')} … (${runs.length} runs, sha256 ${h})`;
}

const STEP = 'differential step ';

/** A Port that keeps what each NBD read returned (the trace itself only says what was read). */
function withReadBytes(port: Port): Port {
  const orig = port.readExport.bind(port);
  port.readExport = async (name, offset, length) => {
    const data = await orig(name, offset, length);
    for (let i = port.trace.length - 1; i >= 0; i--) {
      const t = port.trace[i];
      if (t.kind !== 'read') continue;
      (t as { bytes?: string }).bytes = describeBytes(data);
      break;
    }
    return data;
  };
  return port;
}

function stepLabel(i: number, ops: OpSpec[]): string {
  if (i === 0) return 'setup';
  if (i > ops.length) return 'finish';
  const op = ops[i - 1];
  return `op ${i}: ${op.op}`;
}

/** Run the operations on a fresh port and collect what a client saw, step by step. The port is closed. */
export async function observe(
  proposal: Proposal,
  port: Port,
  ops: OpSpec[],
  side: string,
  version: string,
): Promise<Observed> {
  withReadBytes(port);
  const w = new World(proposal, port, { disks: 2, diskSize: 256 * 1024, focus: new Set() });
  const findingsAt: number[] = [];
  const errors: { step: number; message: string }[] = [];
  let step = 0;
  const mark = (i: number) => {
    step = i;
    port.trace.push({ kind: 'note', text: `${STEP}${i}` });
  };
  try {
    mark(0);
    await w.setup();
    findingsAt.push(w.findings.length);
    for (let i = 0; i < ops.length; i++) {
      mark(i + 1);
      await w.run(ops[i]);
      findingsAt.push(w.findings.length);
    }
    mark(ops.length + 1);
    await w.finish();
    findingsAt.push(w.findings.length);
  } catch (e) {
    errors.push({ step, message: e instanceof Error ? e.message : String(e) });
    findingsAt.push(w.findings.length);
  } finally {
    await port.close().catch(() => {});
  }
  const scratch = port.scratchPath('x').slice(0, -2);
  const steps: StepOutcome[] = [];
  let cur: StepOutcome | undefined;
  const events: RecordedEvent[] = [];
  const norm = (v: unknown) => mask(normalizeValue(v, scratch));
  for (const t of port.trace) {
    if (t.kind === 'note' && t.text.startsWith(STEP)) {
      const i = Number(t.text.slice(STEP.length));
      cur = { label: stepLabel(i, ops), items: [] };
      steps.push(cur);
      continue;
    }
    if (!cur) continue;
    switch (t.kind) {
      case 'qmp':
        cur.items.push({ kind: 'qmp', command: t.command, args: norm(t.args), reply: norm(t.reply) });
        break;
      case 'api':
        cur.items.push({
          kind: 'api',
          call: t.call,
          params: t.params,
          ...(t.error !== undefined ? { error: String(normalizeValue(t.error, scratch)) } : {}),
          ...(t.result !== undefined ? { result: norm(t.result) } : {}),
        });
        break;
      case 'guest-write':
        cur.items.push({
          kind: 'write',
          disk: t.disk,
          at: `${t.offset}+${t.length}`,
          pattern: t.pattern,
          ok: t.error === undefined,
        });
        break;
      case 'read':
        cur.items.push({
          kind: 'read',
          export: t.export,
          at: `${t.offset}+${t.length}`,
          ...(t.error !== undefined ? { error: true } : { bytes: (t as { bytes?: string }).bytes }),
        });
        break;
      case 'event':
        events.push({
          event: t.event,
          data: t.data as Record<string, unknown> | undefined,
          step: steps.length - 1,
        });
        break;
    }
  }
  // a drain's pause/resume pair may straddle two steps on a real QEMU: pairs are dropped run-wide
  const flat = new Map(events.map((e) => [{ ...e, step: 0 } as RecordedEvent, e]));
  const kept = new Set(dropDrainPairs([...flat.keys()]).map((e) => flat.get(e)));
  const observedEvents = events
    .filter((e) => kept.has(e))
    .map((e) => ({ step: e.step, event: norm({ event: e.event, data: e.data }) as Record<string, unknown> }));
  // findings and errors belong to the step they happened in
  let prev = 0;
  findingsAt.forEach((n, i) => {
    for (const f of w.findings.slice(prev, n))
      steps[i]?.items.push({
        kind: 'finding',
        property: f.property,
        detail: String(normalizeValue(f.detail, scratch)),
      });
    prev = n;
  });
  for (const e of errors)
    steps[e.step]?.items.push({ kind: 'error', message: String(normalizeValue(e.message, scratch)) });
  const commands = [...new Set(port.trace.flatMap((t) => (t.kind === 'qmp' ? [t.command] : [])))];
  return { side, version, steps, events: observedEvents, commands, trace: port.trace };
}

// ------------------------------------------------------------------ comparison

export interface StepDifference {
  step: number;
  label: string;
  /** what differs: `qmp block-export-del reply .error.desc`, `events`, `read backup-vda bytes`, ... */
  signature: string;
  a: unknown;
  b: unknown;
  path: string;
}

function itemName(i: Item | undefined): string {
  if (!i) return '(nothing)';
  switch (i.kind) {
    case 'qmp':
      return `qmp ${i.command}`;
    case 'api':
      return `api ${i.call}`;
    case 'write':
      return `guest write`;
    case 'read':
      return `read ${i.export.replace(/\d+/g, 'N')}`;
    case 'finding':
      return `finding ${i.property}`;
    case 'error':
      return 'run error';
  }
}

/** The path without array indices and with numbers folded: equal for the same kind of difference. */
function pathShape(p: string): string {
  return p.replace(/\.\d+(?=\.|$)/g, '[]');
}

function eventName(e: Record<string, unknown>): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  return e.event === 'JOB_STATUS_CHANGE' ? `JOB_STATUS_CHANGE(${String(d.status)})` : String(e.event);
}

/** Events of `a` up to step `s` that `b` does not have by then, and the other way round. */
function eventGap(a: Observed, b: Observed, s: number): { a: unknown[]; b: unknown[] } {
  const left = a.events.filter((e) => e.step <= s).map((e) => JSON.stringify(e.event));
  const right = b.events.filter((e) => e.step <= s).map((e) => JSON.stringify(e.event));
  const onlyA: unknown[] = [];
  const rest = [...right];
  for (const x of left) {
    const i = rest.indexOf(x);
    if (i >= 0) rest.splice(i, 1);
    else onlyA.push(JSON.parse(x));
  }
  return { a: onlyA, b: rest.map((x) => JSON.parse(x)) };
}

/**
 * Every step where two runs differ (the first differing item of each), and the events: a real QEMU sends
 * them when its jobs get there, so an event may reach the client one step later than on the simulator. The
 * events each side got up to a step are compared as sets; a difference counts where it is still there one
 * step later (only the first such step is reported: it stays different from then on).
 */
export function compareObserved(a: Observed, b: Observed): StepDifference[] {
  const out: StepDifference[] = [];
  const n = Math.max(a.steps.length, b.steps.length);
  let eventsReported = false;
  for (let s = 0; s < n; s++) {
    const sa = a.steps[s];
    const sb = b.steps[s];
    const label = sa?.label ?? sb?.label ?? `step ${s}`;
    const ia = sa?.items ?? [];
    const ib = sb?.items ?? [];
    // the first difference of each kind in the step (one differing reply does not hide another)
    const seen = new Set<string>();
    for (let k = 0; k < Math.max(ia.length, ib.length); k++) {
      const x = ia[k];
      const y = ib[k];
      const d: Difference | undefined = firstDifference(x, y);
      if (!d) continue;
      const same = x && y && x.kind === y.kind && itemName(x) === itemName(y);
      const signature = same ? `${itemName(x)}: ${pathShape(d.path)}` : `${itemName(x)} / ${itemName(y)}`;
      if (seen.has(signature)) continue;
      seen.add(signature);
      out.push({ step: s, label, signature, a: same ? d.a : x, b: same ? d.b : y, path: same ? d.path : '' });
      // once the two sides do different things in a step, the rest of it is not comparable item by item
      if (!same) break;
    }
    if (eventsReported) continue;
    const gap = eventGap(a, b, s);
    if (gap.a.length === 0 && gap.b.length === 0) continue;
    const later = s + 1 < n ? eventGap(a, b, s + 1) : gap;
    if (later.a.length === 0 && later.b.length === 0) continue;
    eventsReported = true;
    const names = (l: unknown[]) =>
      [...new Set(l.map((e) => eventName(e as Record<string, unknown>)))].sort().join(' ') || '-';
    out.push({
      step: s,
      label,
      signature: `events: only on one side: ${names(gap.a)} / ${names(gap.b)}`,
      a: gap.a,
      b: gap.b,
      path: '(events)',
    });
  }
  return out;
}

// ------------------------------------------------------------------ classification and shrinking

export const DIVERGENCE_CLASSES = ['simulator-wrong', 'versions-differ', 'both', 'unexplained'] as const;
export type DivergenceClass = (typeof DIVERGENCE_CLASSES)[number];

/** Runs a saved run on one side (a fresh QEMU or simulator each time). */
export type Runner = (side: Side, proposal: Proposal, ops: OpSpec[], domain: DomainKind) => Promise<Observed>;

export interface Divergence {
  id: string;
  class: DivergenceClass;
  /** the two sides compared: sim:V vs real:V, or real:V1 vs real:V2 */
  pair: [string, string];
  /** other pairs with the same divergence (same difference, same minimal trace) */
  alsoOn: string[];
  signature: string;
  /** the label of the step where the minimal trace differs, and the two sides' values there */
  step: string;
  stepIndex: number;
  a: unknown;
  b: unknown;
  path: string;
  /** how many replayed traces showed it (on the pair where most did) */
  traces: number;
  example: string;
  proposal: string;
  minimal: OpSpec[];
  shrunkFrom: number;
  shrinkReplays: number;
  /** sim:V that disagree with their own real QEMU at that step (for versions-differ / both) */
  simWrongAt: string[];
  note?: string;
  /** the minimal trace on each side of the pair, as `fleece-lab check` prints counterexamples */
  qmp: { a: string[]; b: string[] };
}

interface Group {
  pair: [Side, Side];
  signature: string;
  runs: { run: SavedRun; proposal: Proposal; diff: StepDifference; obs: Map<string, Observed> }[];
}

export interface DifferentialOptions {
  versions: string[];
  runner: Runner;
  loadProposal: (name: string) => Promise<Proposal>;
  /** sides of a version that cannot run a trace: the reason (a command that version lacks) */
  skip?: (side: Side, obs: Observed) => string | undefined;
  jobs?: number;
  /** stop starting new traces after this many milliseconds */
  budgetMs?: number;
  /** replays allowed to shrink one divergence */
  shrinkReplays?: number;
  /** divergences shrunk at most (the rest keep their smallest original trace) */
  maxShrink?: number;
  onProgress?: (line: string) => void;
  /** after each saved run replayed: how many of how many, and the divergences found so far */
  onReplayed?: (p: { replayed: number; of: number; divergences: number }) => void;
}

export interface VersionTally {
  version: string;
  replayed: number;
  simReplayed: number;
  skipped: number;
  skipReasons: Record<string, number>;
  broken: number;
  realVersion?: string;
}

export interface DifferentialResult {
  traces: number;
  replayed: number;
  proposals: Record<string, number>;
  versions: VersionTally[];
  divergences: Divergence[];
  broken: { side: string; source: string; reason: string }[];
  ms: number;
  shrinkMs: number;
}

function sidesOf(versions: string[]): Side[] {
  return versions.flatMap((v) => [
    { key: `sim:${v}`, kind: 'sim' as const, version: v },
    { key: `real:${v}`, kind: 'real' as const, version: v },
  ]);
}

/** The pairs compared: each version's simulator with its real QEMU, and consecutive real versions. */
export function pairsOf(versions: string[]): [Side, Side][] {
  const s = sidesOf(versions);
  const get = (k: string) => s.find((x) => x.key === k)!;
  const out: [Side, Side][] = versions.map((v) => [get(`real:${v}`), get(`sim:${v}`)]);
  for (let i = 1; i < versions.length; i++)
    out.push([get(`real:${versions[i - 1]}`), get(`real:${versions[i]}`)]);
  return out;
}

async function pool<T>(items: T[], jobs: number, fn: (t: T) => Promise<void>, stop: () => boolean) {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const t = items[next++];
      await fn(t);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
}

/** Delta debugging (ddmin) over a list, bounded by a number of tests. */
export async function ddmin<T>(
  items: T[],
  test: (c: T[]) => Promise<boolean>,
  budget: { left: number },
): Promise<T[]> {
  let cur = items;
  if (cur.length > 0 && budget.left > 0) {
    budget.left--;
    if (await test([])) return [];
  }
  let n = 2;
  while (cur.length >= 2 && budget.left > 0) {
    const size = Math.ceil(cur.length / n);
    const chunks: T[][] = [];
    for (let i = 0; i < cur.length; i += size) chunks.push(cur.slice(i, i + size));
    let reduced = false;
    // try each complement (drop one chunk), then each chunk alone
    for (let i = 0; i < chunks.length && budget.left > 0; i++) {
      const comp = chunks.filter((_, j) => j !== i).flat();
      budget.left--;
      if (await test(comp)) {
        cur = comp;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced)
      for (let i = 0; i < chunks.length && budget.left > 0 && chunks.length > 2; i++) {
        budget.left--;
        if (await test(chunks[i])) {
          cur = chunks[i];
          n = 2;
          reduced = true;
          break;
        }
      }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  return cur;
}

/** Also drop guest writes injected into a start or stop, one at a time. */
async function dropInjects(ops: OpSpec[], test: (c: OpSpec[]) => Promise<boolean>, budget: { left: number }) {
  let cur = ops;
  for (let i = 0; i < cur.length; i++) {
    const op = cur[i];
    if (op.op !== 'start' && op.op !== 'stop') continue;
    for (let k = (op.inject ?? []).length - 1; k >= 0 && budget.left > 0; k--) {
      const o = cur[i] as Extract<OpSpec, { op: 'start' }>;
      const cand = [...cur];
      cand[i] = { ...o, inject: o.inject.filter((_, j) => j !== k) } as OpSpec;
      budget.left--;
      if (await test(cand)) cur = cand;
    }
  }
  return cur;
}

export async function differential(runs: SavedRun[], o: DifferentialOptions): Promise<DifferentialResult> {
  const t0 = performance.now();
  const sides = sidesOf(o.versions);
  const pairs = pairsOf(o.versions);
  const tallies = new Map<string, VersionTally>(
    o.versions.map((v) => [
      v,
      { version: v, replayed: 0, simReplayed: 0, skipped: 0, skipReasons: {}, broken: 0 },
    ]),
  );
  const groups = new Map<string, Group>();
  const broken: DifferentialResult['broken'] = [];
  const proposals: Record<string, number> = {};
  const cache = new Map<string, Proposal>();
  const load = async (name: string) => {
    let p = cache.get(name);
    if (!p) {
      p = await o.loadProposal(name);
      cache.set(name, p);
    }
    return p;
  };
  let replayed = 0;
  const deadline = o.budgetMs !== undefined ? t0 + o.budgetMs : Number.POSITIVE_INFINITY;
  await pool(
    runs,
    o.jobs ?? 1,
    async (run) => {
      const proposal = await load(run.proposal);
      const obs = new Map<string, Observed>();
      for (const v of o.versions) {
        const t = tallies.get(v)!;
        const sim = await o.runner(sides.find((s) => s.key === `sim:${v}`)!, proposal, run.ops, run.domain);
        obs.set(`sim:${v}`, sim);
        t.simReplayed++;
        const realSide = sides.find((s) => s.key === `real:${v}`)!;
        const why = o.skip?.(realSide, sim);
        if (why) {
          t.skipped++;
          t.skipReasons[why] = (t.skipReasons[why] ?? 0) + 1;
          obs.delete(`sim:${v}`);
          continue;
        }
        let real = await o.runner(realSide, proposal, run.ops, run.domain);
        // a QEMU that did not start says nothing about behaviour: once more
        if (real.broken) real = await o.runner(realSide, proposal, run.ops, run.domain);
        if (real.broken) {
          t.broken++;
          broken.push({ side: realSide.key, source: run.source, reason: real.broken });
          continue;
        }
        t.realVersion = real.version;
        t.replayed++;
        obs.set(realSide.key, real);
      }
      replayed++;
      proposals[run.proposal] = (proposals[run.proposal] ?? 0) + 1;
      for (const [a, b] of pairs) {
        const x = obs.get(a.key);
        const y = obs.get(b.key);
        if (!x || !y) continue;
        for (const d of compareObserved(x, y)) {
          const key = `${a.key}|${b.key}|${d.signature}`;
          let g = groups.get(key);
          if (!g) {
            g = { pair: [a, b], signature: d.signature, runs: [] };
            groups.set(key, g);
            o.onProgress?.(
              `new divergence ${a.key} vs ${b.key} at ${d.label}: ${d.signature} (${run.source})`,
            );
          }
          g.runs.push({ run, proposal, diff: d, obs });
        }
      }
      o.onReplayed?.({ replayed, of: runs.length, divergences: groups.size });
      if (replayed % 50 === 0)
        o.onProgress?.(
          `${replayed} traces replayed, ${groups.size} divergences so far (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
    },
    () => performance.now() > deadline,
  );
  const tShrink = performance.now();
  const divergences: Divergence[] = [];
  let shrunk = 0;
  const ordered = [...groups.values()].sort((x, y) => y.runs.length - x.runs.length);
  for (const g of ordered) {
    const doShrink = shrunk < (o.maxShrink ?? 20);
    if (doShrink) shrunk++;
    divergences.push(await settle(g, o, doShrink));
  }
  const merged = mergeAcrossVersions(divergences);
  merged.forEach((d, i) => {
    d.id = `d${String(i + 1).padStart(2, '0')}`;
  });
  const now = performance.now();
  return {
    traces: runs.length,
    replayed,
    proposals,
    versions: [...tallies.values()],
    divergences: merged,
    broken,
    ms: now - t0,
    shrinkMs: now - tShrink,
  };
}

/**
 * The same divergence (class, what differs, minimal trace) found on several versions is one entry, listing
 * the other pairs where it was found.
 */
function mergeAcrossVersions(all: Divergence[]): Divergence[] {
  const out: Divergence[] = [];
  const byKey = new Map<string, Divergence>();
  for (const d of all) {
    const kind = d.pair.map((s) => s.split(':')[0]).join('/');
    const key = `${d.class}|${kind}|${d.signature}|${d.step}|${JSON.stringify(d.minimal)}|${JSON.stringify([d.a, d.b])}`;
    const first = byKey.get(key);
    if (first) {
      first.alsoOn.push(d.pair.join(' vs '));
      first.traces = Math.max(first.traces, d.traces);
      continue;
    }
    byKey.set(key, d);
    out.push(d);
  }
  return out;
}

/** Shrink a divergence group's smallest trace, check it happens again, classify it. */
async function settle(g: Group, o: DifferentialOptions, doShrink: boolean): Promise<Divergence> {
  const [A, B] = g.pair;
  const pick = [...g.runs].sort((x, y) => x.run.ops.length - y.run.ops.length)[0];
  const { proposal } = pick;
  let replays = 0;
  const still = async (
    ops: OpSpec[],
  ): Promise<{ a: Observed; b: Observed; d: StepDifference } | undefined> => {
    replays += 2;
    const a = await o.runner(A, proposal, ops, pick.run.domain);
    const b = await o.runner(B, proposal, ops, pick.run.domain);
    if (a.broken || b.broken) return undefined;
    const d = compareObserved(a, b).find((x) => x.signature === g.signature);
    return d ? { a, b, d } : undefined;
  };
  let ops = pick.run.ops;
  let note: string | undefined;
  if (doShrink) {
    const budget = { left: Math.max(1, Math.floor((o.shrinkReplays ?? 40) / 2)) };
    const test = async (c: OpSpec[]) => (await still(c)) !== undefined;
    ops = await ddmin(ops, test, budget);
    ops = await dropInjects(ops, test, budget);
    if (budget.left <= 0) note = 'shrinking stopped at its replay bound; the trace may not be minimal';
  }
  // replayed once more: a divergence must happen again to count as behaviour
  const again = await still(ops);
  const final = again ?? { a: pick.obs.get(A.key)!, b: pick.obs.get(B.key)!, d: pick.diff };
  let cls: DivergenceClass;
  const simWrongAt: string[] = [];
  if (!again) {
    cls = 'unexplained';
    note = `did not happen again when replayed (${A.key} or ${B.key} not deterministic for this trace)`;
    ops = pick.run.ops;
  } else if (A.kind !== B.kind) {
    cls = 'simulator-wrong';
  } else {
    // real V1 vs real V2: does each simulator profile agree with its real QEMU at that step?
    for (const side of [A, B]) {
      const sim = await o.runner(
        { key: `sim:${side.version}`, kind: 'sim', version: side.version },
        proposal,
        ops,
        pick.run.domain,
      );
      const real = side === A ? final.a : final.b;
      if (compareObserved(real, sim).some((x) => x.step === final.d.step))
        simWrongAt.push(`sim:${side.version}`);
    }
    cls = simWrongAt.length > 0 ? 'both' : 'versions-differ';
  }
  // a divergence in the domain's setup is shown with the setup; otherwise from after it, as check does
  const shown = (t: TraceEntry[]) =>
    formatTrace(
      final.d.step === 0 ? t.filter((x) => !(x.kind === 'note' && x.text === 'setup done')) : t,
      40,
    );
  const fa = shown(final.a.trace);
  const fb = shown(final.b.trace);
  return {
    id: '',
    class: cls,
    pair: [A.key, B.key],
    alsoOn: [],
    signature: g.signature,
    step: final.d.label,
    stepIndex: final.d.step,
    a: final.d.a,
    b: final.d.b,
    path: final.d.path,
    traces: new Set(g.runs.map((r) => r.run.source)).size,
    example: pick.run.source,
    proposal: pick.run.proposal,
    minimal: ops,
    shrunkFrom: pick.run.ops.length,
    shrinkReplays: replays,
    simWrongAt,
    ...(note ? { note } : {}),
    qmp: { a: fa.qmp.filter((l) => !l.includes(STEP)), b: fb.qmp.filter((l) => !l.includes(STEP)) },
  };
}

export function describeDivergence(d: Divergence): string {
  return `${d.pair[0]} ${show(d.a, 120)}, ${d.pair[1]} ${show(d.b, 120)}`;
}
