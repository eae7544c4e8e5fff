import path from 'node:path';
import fc from 'fast-check';
import type { DomainKind, Port, PortFactory, TraceEntry } from '../../contract/port.ts';
import { PROPERTIES, PROPERTY_IDS, PROPERTY_INFO, type PropertyId } from '../../contract/properties.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import type { MachineShape } from '../../contract/proposals/machine-shape.ts';
import type { OpSpec } from '../../contract/proposals/ops.ts';
import { type Profile, versionInfo } from '../../contract/versions.ts';
import { opsArbitrary } from './ops-arbitrary.ts';
import { type Finding, Violation, World } from './world.ts';

/**
 * `fleece-lab check`: fast-check model-based runs of a proposal on a domain (a VM by default) of the
 * simulator. Operations are API sessions driven through the proposal's own state machine (legal calls and
 * misuses), guest writes at any point, also between the QMP commands of a call, readers, and time passing.
 * Each property gets a verdict from the runs that exercised it: holds in N of them, fails with a shrunk
 * counterexample, cannot be expressed by the API (with the reason), or was exercised by no run.
 */
export interface CheckOptions {
  runs: number;
  seed: number;
  profile: Profile;
  domain?: DomainKind;
  disks?: number;
  diskSize?: number;
  maxCommands?: number;
  /** replay one counterexample: fast-check's path */
  path?: string;
  /** a port factory (default: the in-process simulator) */
  port?: PortFactory;
  /** called with the operations of every run (also the shrinking ones): `check --save-runs` keeps them */
  onRun?: (ops: OpSpec[]) => void;
  /**
   * after each counted run: the runs of this round so far (a round ends at `runs`, or at a failure, after
   * which the next round looks for the next property's counterexample) and the properties failed so far
   */
  onProgress?: (p: { round: number; runs: number; of: number; failed: number }) => void;
}

export interface Counterexample {
  property: PropertyId;
  detail: string;
  ops: OpSpec[];
  seed: number;
  path: string;
  replay: string;
  trace: TraceEntry[];
  ms: number;
}

export type VerdictStatus = 'holds' | 'fails' | 'not-expressible' | 'not-exercised' | 'unknown';

export interface Verdict {
  property: PropertyId;
  description: string;
  claimed: boolean;
  status: VerdictStatus;
  /** runs made while the property was watched */
  runs: number;
  /** of those, the runs that reached a check of it */
  exercised: number;
  reason?: string;
  counterexample?: Counterexample;
}

export interface Coverage {
  covered: number;
  total: number;
  uncovered: { from: string; event: string; to: string }[];
}

export interface ProposalReport {
  proposal: string;
  /** the proposal's file, when it is one of the user's (replays load it from there) */
  file?: string;
  title: string;
  domain: DomainKind;
  profile: Profile;
  seed: number;
  runs: number;
  verdicts: Verdict[];
  findings: Finding[];
  coverage: Coverage;
  /** the proposal's API machine (states, tags, transitions), for drawing */
  machine: MachineShape;
  stats: {
    runs: number;
    qmpCommands: number;
    ms: number;
    /** what the API costs (reports made before these were kept lack them): sessions started, */
    sessions?: number;
    /** the QMP commands the API's calls sent (the checker's own looks at QEMU not counted), */
    apiQmpCommands?: number;
    /** and the scratch images of each session that made some, at their largest (bytes on the host) */
    scratchSessions?: number;
    scratchBytes?: number;
    scratchMax?: number;
  };
}

const CHECKPOINT_PROPERTIES: PropertyId[] = [
  'incremental-complete',
  'incremental-tight',
  'checkpoint-survives-restart',
  'crash-detected',
  'checkpoint-delete-merges',
  'independent-chains',
];

const DISKS = 2;
const DISK_SIZE = 256 * 1024;

/** Which properties an API of these capabilities can express at all, on this domain and QEMU. */
function expressible(
  p: Proposal,
  prop: PropertyId,
  domain: DomainKind,
  profile: Profile,
): string | undefined {
  const missing = (p.requires?.[prop] ?? []).filter((f) => !versionInfo(profile).features.has(f));
  if (missing.length > 0)
    return `${p.limits[prop] ?? ''}${p.limits[prop] ? '; ' : ''}QEMU ${profile} lacks ${missing.join(', ')}`;
  if (prop === 'concurrent-points-in-time' && !p.capabilities.concurrentJobs)
    return p.limits[prop] ?? 'one job at a time';
  if (prop === 'job-identity' && !p.capabilities.jobIds) return p.limits[prop] ?? 'the API has no job ids';
  if (prop === 'job-identity' && !p.capabilities.concurrentJobs)
    return p.limits[prop] ?? 'one job at a time: an id never meets another live job';
  if (prop === 'common-point-in-time' && p.capabilities.disksPerCall === 'one')
    return p.limits[prop] ?? 'one disk per call: a job is one disk';
  if (prop === 'isolation' && !p.capabilities.concurrentJobs)
    return 'only one job at a time: nothing to isolate from';
  if (CHECKPOINT_PROPERTIES.includes(prop)) {
    if (!p.checkpoints) return 'the API has no checkpoints';
    if (domain === 'qsd') return 'checkpoints need a VM domain (qcow2 disks, restarts)';
    if (prop === 'independent-chains' && p.checkpoints.chains !== 'ids')
      return p.limits[prop] ?? 'the API has no chains';
  }
  if (prop === 'pivot-identical') {
    if (!p.shape.states.some((s) => s.tags.includes('pivoted'))) return 'the API has no pivot';
    if (domain === 'qsd') return 'the qsd domain has no guest device to pivot';
  }
  return undefined;
}

export async function runOps(
  proposal: Proposal,
  port: Port,
  ops: OpSpec[],
  focus: ReadonlySet<PropertyId>,
  disks = DISKS,
  diskSize = DISK_SIZE,
): Promise<World> {
  const w = new World(proposal, port, { disks, diskSize, focus });
  await w.setup();
  for (const op of ops) await w.run(op);
  await w.finish();
  return w;
}

/** The simulator with the domain's disks (and devices), one per run. */
/** how the command line names the proposal: a file of the user's by its path, a bundled one by its name */
function proposalArg(p: Proposal): string {
  if (!p.file) return p.name;
  const rel = path.relative(process.cwd(), p.file);
  return rel.startsWith('.') || path.isAbsolute(rel) ? rel : `./${rel}`;
}

export async function simPortFactory(profile: Profile): Promise<PortFactory> {
  const { SimPort } = await import('../../harness/sim-port.ts');
  return async (seed, domain) => new SimPort(profile, seed, domain);
}

export async function checkProposal(proposal: Proposal, o: CheckOptions): Promise<ProposalReport> {
  const t0 = performance.now();
  const domainKind = o.domain ?? 'vm';
  const disks = o.disks ?? DISKS;
  const size = o.diskSize ?? DISK_SIZE;
  const domain = World.domainFor(proposal, domainKind, disks, size);
  const factory = o.port ?? (await simPortFactory(o.profile));
  const makePort = (seed: number) => factory(seed, domain);
  const verdicts = new Map<PropertyId, Verdict>();
  const findings: Finding[] = [];
  const taken = new Set<string>();
  const exercised = new Map<PropertyId, number>(PROPERTY_IDS.map((p) => [p, 0]));
  const watchedRuns = new Map<PropertyId, number>(PROPERTY_IDS.map((p) => [p, 0]));
  let qmpCommands = 0;
  let totalRuns = 0;
  const cost: Cost = { sessions: 0, apiQmpCommands: 0, scratchSessions: 0, scratchBytes: 0, scratchMax: 0 };
  /** clusters incremental backups marked, and of them those the guest had not written since the checkpoint */
  const tight = { marked: 0, unwritten: 0 };
  const verdict = (p: PropertyId, v: Omit<Verdict, 'property' | 'description' | 'claimed'>): Verdict => ({
    property: p,
    description: PROPERTIES[p],
    claimed: proposal.claims.includes(p),
    ...v,
  });
  for (const prop of PROPERTY_IDS) {
    const why = expressible(proposal, prop, domainKind, o.profile);
    if (why)
      verdicts.set(prop, verdict(prop, { status: 'not-expressible', runs: 0, exercised: 0, reason: why }));
  }
  const focus = new Set(PROPERTY_IDS.filter((p) => !verdicts.has(p)));
  // Find a counterexample for every property that has one, one property at a time.
  for (let round = 0; round < PROPERTY_IDS.length && focus.size > 0; round++) {
    const started = performance.now();
    let runsThisRound = 0;
    // once a run of this round failed, fast-check is shrinking: those runs are not counted as evidence
    let shrinking = false;
    const prop = fc.asyncProperty(opsArbitrary(proposal, disks, size, o.maxCommands ?? 16), async (ops) => {
      runsThisRound++;
      const counting = !shrinking;
      o.onRun?.(ops);
      const port = await makePort(o.seed + runsThisRound);
      let w: World | undefined;
      try {
        w = new World(proposal, port, { disks, diskSize: size, focus });
        await w.setup();
        for (const op of ops) await w.run(op);
        await w.finish();
        findings.push(...w.findings);
      } catch (e) {
        if (e instanceof Violation) shrinking = true;
        throw e;
      } finally {
        if (counting && w) {
          totalRuns++;
          for (const p of focus) {
            watchedRuns.set(p, watchedRuns.get(p)! + 1);
            if (w.exercised.has(p)) exercised.set(p, exercised.get(p)! + 1);
          }
          for (const t of w.transitionsTaken) taken.add(t);
          addCost(cost, w, port.trace);
          o.onProgress?.({ round, runs: runsThisRound, of: o.runs, failed: findingsFailed(verdicts) });
          tight.marked += w.checkpoints?.tight.marked ?? 0;
          tight.unwritten += w.checkpoints?.tight.unwritten ?? 0;
        }
        qmpCommands += port.trace.filter((t) => t.kind === 'qmp').length;
        await port.close();
      }
    });
    const r = await fc.check(prop, { numRuns: o.runs, seed: o.seed, path: o.path, endOnFailure: false });
    if (!r.failed) {
      for (const p of focus) {
        const n = exercised.get(p)!;
        verdicts.set(
          p,
          verdict(p, {
            status: n > 0 ? 'holds' : 'not-exercised',
            runs: watchedRuns.get(p)!,
            exercised: n,
            ...(n === 0
              ? { reason: `no run of ${watchedRuns.get(p)} reached it (${PROPERTY_INFO[p].exercised})` }
              : p === 'incremental-tight'
                ? { reason: tightness(tight) }
                : {}),
          }),
        );
      }
      break;
    }
    const err = r.errorInstance;
    if (!(err instanceof Violation)) throw err instanceof Error ? err : new Error(String(err));
    const ops = r.counterexample![0];
    // Re-run the shrunk case once more to keep its trace.
    const port = await makePort(o.seed);
    try {
      await runOps(proposal, port, ops, new Set<PropertyId>([err.property]), disks, size);
    } catch {
      // the violation again, as expected
    }
    const ce: Counterexample = {
      property: err.property,
      detail: err.detail,
      ops,
      seed: r.seed,
      path: r.counterexamplePath ?? '',
      replay: `npx fleece-lab check ${proposalArg(proposal)} --domain ${domainKind} --profile ${o.profile} --seed ${r.seed} --path ${r.counterexamplePath} --runs 1`,
      trace: port.trace,
      ms: performance.now() - started,
    };
    await port.close();
    verdicts.set(
      err.property,
      verdict(err.property, {
        status: 'fails',
        runs: watchedRuns.get(err.property)!,
        exercised: Math.max(1, exercised.get(err.property)!),
        counterexample: ce,
      }),
    );
    focus.delete(err.property);
  }
  if (!proposal.capabilities.concurrentJobs)
    await probeSecondClient(proposal, makePort, o.seed, verdicts, disks, size);
  return {
    proposal: proposal.name,
    ...(proposal.file ? { file: proposal.file } : {}),
    title: proposal.title,
    domain: domainKind,
    profile: o.profile,
    seed: o.seed,
    runs: o.runs,
    verdicts: PROPERTY_IDS.map((p) => verdicts.get(p)!).filter(Boolean),
    findings: dedupe(findings),
    coverage: coverageOf(proposal, taken),
    machine: proposal.shape,
    stats: { runs: totalRuns, qmpCommands, ms: performance.now() - t0, ...cost },
  };
}

function findingsFailed(verdicts: Map<PropertyId, Verdict>): number {
  let n = 0;
  for (const v of verdicts.values()) if (v.status === 'fails') n++;
  return n;
}

/** What one run's API calls cost: the QMP they sent after the domain's setup, each session's scratch. */
interface Cost {
  sessions: number;
  apiQmpCommands: number;
  scratchSessions: number;
  scratchBytes: number;
  scratchMax: number;
}

function addCost(cost: Cost, w: World, trace: TraceEntry[]): void {
  const setup = trace.findIndex((t) => t.kind === 'note' && t.text === 'setup done');
  for (const t of trace.slice(setup + 1)) if (t.kind === 'qmp' && t.by !== 'checker') cost.apiQmpCommands++;
  cost.sessions += w.sessions.length;
  cost.scratchSessions += w.sessionScratch.length;
  for (const b of w.sessionScratch) {
    cost.scratchBytes += b;
    cost.scratchMax = Math.max(cost.scratchMax, b);
  }
}

/** An API with one job per domain: what a second client gets when it asks anyway. */
async function probeSecondClient(
  proposal: Proposal,
  makePort: (seed: number) => Promise<Port>,
  seed: number,
  verdicts: Map<PropertyId, Verdict>,
  disks: number,
  size: number,
): Promise<void> {
  const port = await makePort(seed);
  try {
    const w = new World(proposal, port, { disks, diskSize: size, focus: new Set() });
    await w.setup();
    const all = Array.from({ length: disks }, (_, i) => i);
    await w.run({ op: 'start', disks: all, inject: [] });
    await w.run({ op: 'misuse', kind: 'second-start', session: 0, event: 0 });
    const refusal = w.findings.find(
      (f) => f.property === 'misuse-refused' && f.detail.startsWith('second-start:'),
    );
    const v = verdicts.get('concurrent-points-in-time');
    if (v && refusal)
      v.reason = `${v.reason}; a second client is refused: ${refusal.detail.replace(/^second-start: \S+ while the one job the API allows is alive: /, '')}`;
  } finally {
    await port.close();
  }
}

/** incremental-tight's measure: how much of what the incrementals marked the guest had not written */
function tightness(t: { marked: number; unwritten: number }): string {
  const pct = t.marked > 0 ? ((100 * t.unwritten) / t.marked).toFixed(1) : '0';
  return `${t.unwritten} of ${t.marked} marked clusters were not written since the checkpoint (${pct}%)`;
}

function coverageOf(p: Proposal, taken: Set<string>): Coverage {
  const all = p.shape.transitions.map((t) => ({ from: t.from, event: t.event, to: t.to }));
  const key = (t: { from: string; event: string; to: string }) => `${t.from}|${t.event}|${t.to}`;
  const unique = [...new Map(all.map((t) => [key(t), t])).values()];
  const uncovered = unique.filter((t) => !taken.has(key(t)));
  return { covered: unique.length - uncovered.length, total: unique.length, uncovered };
}

function dedupe(f: Finding[]): Finding[] {
  const seen = new Set<string>();
  return f.filter((x) => {
    const k = `${x.property}|${x.detail.replace(/\d+/g, 'N')}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
