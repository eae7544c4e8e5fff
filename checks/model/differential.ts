import type { DivergenceEntry } from '../../contract/formats/differential.ts';
import { show } from '../../contract/formats/json-diff.ts';
import type { OpSpec, SavedRun } from '../../contract/formats/saved-runs.ts';
import type { DomainKind, TraceEntry } from '../../contract/port.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { classify, type Evidence } from '../differential/classify.ts';
import type { StepDifference } from '../differential/compare.ts';
import { pool } from '../differential/pool.ts';
import { type Differential, runPair } from '../differential/run-pair.ts';
import { settle } from '../differential/settle.ts';
import { type Pair, pairsOf, type Side, side } from '../differential/side.ts';
import { compareObserved, simDiffersAt } from './compare-observed.ts';
import { type Observed, STEP_NOTE } from './observe.ts';
import { formatTrace } from './report.ts';

/**
 * Differential replay: one saved run of `fleece-lab check` (a proposal and its operations) replayed on
 * several sides — the simulator with each version's profile and each real QEMU version — and the observable
 * outcome (observe.ts) compared step by step (compare-observed.ts), on the differential core
 * (checks/differential/).
 *
 * Compared: each version's simulator with its real QEMU, and consecutive real versions. Divergences are
 * grouped by their signature (which sides, which kind of item, which command or event, where in the value),
 * shrunk by delta debugging over the operations (every sub-sequence of operations is a valid run: sessions
 * are picked by index among the live ones), replayed once more and classified
 * (contract/formats/divergence-classes.ts). A real run that broke (QEMU did not start, twice) is not
 * compared at all.
 *
 * Each run gets a fresh QEMU process: a run does not leave QEMU pristine (the domain's NBD server, guest
 * disks and exports stay, and a run that breaks a property can leave jobs and nodes behind).
 */

/** Runs a saved run on one side (a fresh QEMU or simulator each time). */
export type Runner = (side: Side, proposal: Proposal, ops: OpSpec[], domain: DomainKind) => Promise<Observed>;

/** A divergence as the report lists it (the report adds its minimal trace's file and replay command). */
export type Divergence = Omit<DivergenceEntry, 'file' | 'replay'>;

interface Group {
  pair: Pair;
  signature: string;
  runs: { run: SavedRun; proposal: Proposal; diff: StepDifference; obs: Map<string, Observed> }[];
}

export interface DifferentialOptions {
  versions: string[];
  runner: Runner;
  loadProposal: (name: string) => Promise<Proposal>;
  /** sides of a version that cannot run a trace: the reason (a command that version lacks) */
  skip?: (side: Side, obs: Observed, domain: DomainKind) => string | undefined;
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
        const sim = await o.runner(side('sim', v), proposal, run.ops, run.domain);
        obs.set(`sim:${v}`, sim);
        t.simReplayed++;
        const realSide = side('real', v);
        const why = o.skip?.(realSide, sim, run.domain);
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
    divergences.push(await settleGroup(g, o, doShrink));
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
async function settleGroup(g: Group, o: DifferentialOptions, doShrink: boolean): Promise<Divergence> {
  const [A, B] = g.pair;
  const pick = [...g.runs].sort((x, y) => x.run.ops.length - y.run.ops.length)[0];
  const { proposal } = pick;
  const d: Differential<OpSpec[], Observed> = {
    run: (s, ops) => o.runner(s, proposal, ops, pick.run.domain),
    compare: compareObserved,
    broken: (x) => x.broken,
  };
  let replays = 0;
  const s = await settle({
    items: pick.run.ops,
    reproduce: async (ops: OpSpec[]) => {
      replays += 2;
      const r = await runPair(d, g.pair, ops);
      const diff = r?.differences.find((x) => x.signature === g.signature);
      return r && diff ? { a: r.a, b: r.b, d: diff } : undefined;
    },
    shrink: doShrink ? { tests: Math.floor((o.shrinkReplays ?? 40) / 2), more: dropInjects } : undefined,
  });
  const final = s.again ?? { a: pick.obs.get(A.key)!, b: pick.obs.get(B.key)!, d: pick.diff };
  let ops = s.items;
  let note = s.boundReached
    ? 'shrinking stopped at its replay bound; the trace may not be minimal'
    : undefined;
  const simWrongAt: string[] = [];
  let evidence: Evidence;
  if (!s.again) {
    evidence = { established: false };
    note = `did not happen again when replayed (${A.key} or ${B.key} not deterministic for this trace)`;
    ops = pick.run.ops;
  } else if (A.kind !== B.kind) {
    evidence = { established: true, pair: 'sim-vs-real' };
  } else {
    // real V1 vs real V2: does each simulator profile agree with its real QEMU there (same step, same thing)?
    for (const x of [A, B]) {
      const sim = await o.runner(side('sim', x.version), proposal, ops, pick.run.domain);
      const real = x === A ? final.a : final.b;
      if (simDiffersAt(real, sim, final.d)) simWrongAt.push(`sim:${x.version}`);
    }
    evidence = { established: true, pair: 'real-vs-real', simWrongAt };
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
    class: classify(evidence),
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
    domain: pick.run.domain,
    minimal: ops,
    shrunkFrom: pick.run.ops.length,
    shrinkReplays: replays,
    simWrongAt,
    ...(note ? { note } : {}),
    qmp: {
      a: fa.qmp.filter((l) => !l.includes(STEP_NOTE)),
      b: fb.qmp.filter((l) => !l.includes(STEP_NOTE)),
    },
  };
}

export function describeDivergence(d: Divergence): string {
  return `${d.pair[0]} ${show(d.a, 120)}, ${d.pair[1]} ${show(d.b, 120)}`;
}
