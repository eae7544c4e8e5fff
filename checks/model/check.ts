import fc from 'fast-check';
import type { OpSpec } from '../../contract/formats/saved-runs.ts';
import type { Port, TraceEntry } from '../../contract/port.ts';
import { PROPERTIES, PROPERTY_IDS, type PropertyId } from '../../contract/properties.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import type { Profile } from '../../contract/versions.ts';
import { SimPort } from '../../harness/sim-port.ts';
import { type Finding, Violation, World } from './world.ts';

/**
 * `fleece-lab check`: fast-check model-based runs of a proposal on the in-process simulator. Commands are
 * API sessions (start, read, stats, stop) and guest writes at any point, also between the QMP commands of a
 * start. Each property gets a verdict: holds after N runs, fails with a shrunk counterexample, or cannot be
 * expressed by the API (with the reason).
 */
export interface CheckOptions {
  runs: number;
  seed: number;
  profile: Profile;
  disks?: number;
  diskSize?: number;
  maxCommands?: number;
  /** replay one counterexample: fast-check's path */
  path?: string;
  /** a port factory (default: the in-process simulator) */
  port?: (seed: number) => Port;
  /** called with the operations of every run (also the shrinking ones): `check --save-runs` keeps them */
  onRun?: (ops: OpSpec[]) => void;
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

export interface Verdict {
  property: PropertyId;
  description: string;
  claimed: boolean;
  status: 'holds' | 'fails' | 'not-expressible';
  runs: number;
  reason?: string;
  counterexample?: Counterexample;
}

export interface ProposalReport {
  proposal: string;
  title: string;
  profile: Profile;
  seed: number;
  runs: number;
  verdicts: Verdict[];
  findings: Finding[];
  stats: { runs: number; qmpCommands: number; ms: number };
}

const DISKS = 2;
const DISK_SIZE = 256 * 1024;

function opArb(disks: number, size: number): fc.Arbitrary<OpSpec> {
  const sector = size / 512;
  const offset = fc.integer({ min: 0, max: sector - 1 }).map((s) => s * 512);
  const length = fc.oneof(
    fc.integer({ min: 1, max: 256 }).map((s) => s * 512),
    fc.constant(65536),
  );
  const disk = fc.integer({ min: 0, max: disks - 1 });
  const pattern = fc.integer({ min: 0x20, max: 0xff });
  const write = fc.record({ op: fc.constant('write' as const), disk, offset, length, pattern });
  const start = fc.record({
    op: fc.constant('start' as const),
    disks: fc.uniqueArray(disk, { minLength: 1, maxLength: disks }),
    inject: fc.array(fc.record({ after: fc.integer({ min: 0, max: 12 }), disk, offset, length, pattern }), {
      maxLength: 2,
    }),
  });
  const session = fc.integer({ min: 0, max: 3 });
  const read = fc.record({ op: fc.constant('read' as const), session, disk, offset, length });
  return fc.oneof(
    { arbitrary: write, weight: 4 },
    { arbitrary: start, weight: 3 },
    { arbitrary: read, weight: 4 },
    { arbitrary: fc.record({ op: fc.constant('stats' as const), session }), weight: 1 },
    {
      arbitrary: fc.record({
        op: fc.constant('stop' as const),
        session,
        inject: fc.array(
          fc.record({ after: fc.integer({ min: 0, max: 12 }), disk, offset, length, pattern }),
          { maxLength: 2 },
        ),
      }),
      weight: 2,
    },
  );
}

/** Which properties an API of these capabilities can express at all. */
function expressible(p: Proposal, prop: PropertyId): string | undefined {
  if (prop === 'concurrent-points-in-time' && !p.capabilities.concurrentJobs)
    return p.limits[prop] ?? 'one job at a time';
  if (prop === 'job-identity' && !p.capabilities.jobIds) return p.limits[prop] ?? 'the API has no job ids';
  if (prop === 'isolation' && !p.capabilities.concurrentJobs)
    return 'only one job at a time: nothing to isolate from';
  if (prop === 'pivot-identical')
    return p.name === 'blockcopy-2012'
      ? 'not checked yet: the pivot flow is not generated'
      : 'the API has no pivot';
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

export async function checkProposal(proposal: Proposal, o: CheckOptions): Promise<ProposalReport> {
  const t0 = performance.now();
  const disks = o.disks ?? DISKS;
  const size = o.diskSize ?? DISK_SIZE;
  const makePort = o.port ?? ((seed: number) => new SimPort(o.profile, seed));
  const verdicts = new Map<PropertyId, Verdict>();
  const findings: Finding[] = [];
  let qmpCommands = 0;
  let totalRuns = 0;
  for (const prop of PROPERTY_IDS) {
    const why = expressible(proposal, prop);
    if (why)
      verdicts.set(prop, {
        property: prop,
        description: PROPERTIES[prop],
        claimed: proposal.claims.includes(prop),
        status: 'not-expressible',
        runs: 0,
        reason: why,
      });
  }
  const focus = new Set(PROPERTY_IDS.filter((p) => !verdicts.has(p)));
  // Find a counterexample for every property that has one, one property at a time.
  for (let round = 0; round < PROPERTY_IDS.length && focus.size > 0; round++) {
    const started = performance.now();
    let runsThisRound = 0;
    const prop = fc.asyncProperty(
      fc.array(opArb(disks, size), { maxLength: o.maxCommands ?? 12 }),
      async (ops) => {
        runsThisRound++;
        o.onRun?.(ops);
        const port = makePort(o.seed + runsThisRound);
        try {
          const w = await runOps(proposal, port, ops, focus, disks, size);
          findings.push(...w.findings);
        } finally {
          qmpCommands += port.trace.filter((t) => t.kind === 'qmp').length;
          await port.close();
        }
      },
    );
    const r = await fc.check(prop, { numRuns: o.runs, seed: o.seed, path: o.path, endOnFailure: false });
    totalRuns += runsThisRound;
    if (!r.failed) {
      for (const p of focus)
        verdicts.set(p, {
          property: p,
          description: PROPERTIES[p],
          claimed: proposal.claims.includes(p),
          status: 'holds',
          runs: o.runs,
        });
      break;
    }
    const err = r.errorInstance;
    if (!(err instanceof Violation)) throw err instanceof Error ? err : new Error(String(err));
    const ops = r.counterexample![0];
    // Re-run the shrunk case once more to keep its trace.
    const port = makePort(o.seed);
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
      replay: `npx fleece-lab check ${proposal.name} --profile ${o.profile} --seed ${r.seed} --path ${r.counterexamplePath} --runs 1`,
      trace: port.trace,
      ms: performance.now() - started,
    };
    await port.close();
    verdicts.set(err.property, {
      property: err.property,
      description: PROPERTIES[err.property],
      claimed: proposal.claims.includes(err.property),
      status: 'fails',
      runs: r.numRuns,
      counterexample: ce,
    });
    focus.delete(err.property);
  }
  // An API with one job per domain: show what happens when a second client asks anyway.
  if (!proposal.capabilities.concurrentJobs) {
    const port = makePort(o.seed);
    try {
      const w = new World(proposal, port, { disks, diskSize: size, focus: new Set() });
      await w.setup();
      const all = Array.from({ length: disks }, (_, i) => i);
      await w.start({ op: 'start', disks: all, inject: [] });
      await w.start({ op: 'start', disks: all, inject: [] }, true);
      const refusal = w.findings.find((f) => f.property === 'concurrent-points-in-time');
      const v = verdicts.get('concurrent-points-in-time');
      if (v && refusal)
        v.reason = `${v.reason}; a second client is refused: ${refusal.detail.replace(/^a second session is refused, as the API says: /, '')}`;
    } finally {
      await port.close();
    }
  }
  return {
    proposal: proposal.name,
    title: proposal.title,
    profile: o.profile,
    seed: o.seed,
    runs: o.runs,
    verdicts: PROPERTY_IDS.map((p) => verdicts.get(p)!).filter(Boolean),
    findings: dedupe(findings),
    stats: { runs: totalRuns, qmpCommands, ms: performance.now() - t0 },
  };
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
