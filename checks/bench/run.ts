import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLED } from '../../contract/proposals/index.ts';
import { resolveTarget } from '../../harness/targets/target-spec.ts';
import { conform } from '../conformance/conform.ts';
import { checkProposal } from '../model/check.ts';
import { timeCycle } from './fleecing-cycle.ts';
import { timeMainJob } from './main-job.ts';
import { benchSparseDisks } from './memory.ts';
import { clientVsNbdcopyBench, nbdcopyNullBench } from './nbd.ts';
import {
  type BenchFile,
  type BenchRow,
  compareBench,
  compareText,
  goalTable,
  parseBenchFile,
  row,
  rowDetail,
} from './rows.ts';
import { pairedRatio, rounds, spread } from './spread.ts';

/**
 * `npm run bench` (`fleece-lab bench`): the goals of issue 16, each a row with its goal, the median of
 * several rounds with its spread, and whether the median meets the goal. A ratio's two sides are measured
 * in the same rounds, one after the other, so load from elsewhere cancels out mostly. Writes
 * reports/bench.json (or --out); `--compare FILE` then prints what got slower than in FILE.
 */
export interface BenchOptions {
  /** only the rows whose id or name contains one of these words (all when empty) */
  words: readonly string[];
  /** small sizes and one round: for tests, not for numbers */
  quick: boolean;
  /** rounds per measure (default 5 for the fleecing cycle, 3 for the rest; 1 with quick) */
  rounds?: number;
  out: string;
  compare?: string;
  /** --compare fails past this many percent slower */
  thresholdPct: number;
}

interface Ctx {
  o: BenchOptions;
  want: (id: string, name: string) => boolean;
  n: (full: number) => number;
  add: (r: BenchRow) => void;
}

function have(tool: string, arg = '--version'): boolean {
  try {
    execFileSync(tool, [arg], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const CYCLE_ID = 'fleecing-cycle';
const CYCLE_NAME =
  'fleecing cycle (VM domain, through the Port): in-process simulator vs real qemu-system 7.2';

async function fleecingCycle({ o, want, n, add }: Ctx): Promise<void> {
  if (!want(CYCLE_ID, CYCLE_NAME)) return;
  const goal = { op: '>=' as const, value: 100 };
  if (!have('qemu-system-x86_64')) {
    add(row({ id: CYCLE_ID, name: CYCLE_NAME, goal, unit: '×', note: 'no qemu-system-x86_64 here' }));
    return;
  }
  const size = o.quick ? { writes: 100, reads: 4 } : { writes: 1000, reads: 16 };
  const rate = (r: { calls: number; ms: number }) => (r.calls / r.ms) * 1000;
  // two warm-up cycles each (the JIT compiles the simulator's paths over the first cycles, as it has in
  // a checker run), then rounds of one cycle on each, interleaved
  const res = await rounds(
    n(5),
    async () => ({
      sim: rate(await timeCycle('sim:7.2', size)),
      real: rate(await timeCycle('system', size)),
    }),
    2,
  );
  const sim = res.map((r) => r.sim);
  const real = res.map((r) => r.real);
  add(
    row({
      id: CYCLE_ID,
      name: CYCLE_NAME,
      goal,
      unit: '×',
      measured: pairedRatio(sim, real),
      value: { unit: 'Port calls/s', spread: spread(sim) },
      reference: { name: 'real qemu-system-x86_64 7.2', unit: 'Port calls/s', spread: spread(real) },
      note: `${size.writes} guest writes, ${size.reads} NBD reads of 64 KiB, setup and teardown per cycle; after 2 warm-up cycles each`,
    }),
  );
}

const CHECK_ID = 'check-job-ids';
const CHECK_NAME = '`check job-ids` on the default domain (VM), simulator 7.2';

/** `fleece-lab check job-ids` as its own process, as a user runs it: runs per second from its report. */
function checkJobIdsOnce(runs: number): { runsPerS: number; commandsPerRun: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-bench-check-'));
  try {
    const json = path.join(dir, 'r.json');
    const r = spawnSync(
      process.execPath,
      ['bin/fleece-lab.js', 'check', 'job-ids', '--runs', String(runs), '--json', json, '--traces', dir],
      { stdio: 'pipe', maxBuffer: 64 << 20, cwd: process.cwd() },
    );
    if (!fs.existsSync(json)) throw new Error(`check job-ids: exit ${r.status}: ${String(r.stderr)}`);
    const [rep] = JSON.parse(fs.readFileSync(json, 'utf8')) as {
      stats: { runs: number; ms: number; qmpCommands: number };
    }[];
    return {
      runsPerS: (rep.stats.runs / rep.stats.ms) * 1000,
      commandsPerRun: rep.stats.qmpCommands / rep.stats.runs,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function checkRate({ o, want, n, add }: Ctx): Promise<void> {
  if (!want(CHECK_ID, CHECK_NAME)) return;
  const runs = o.quick ? 50 : 500;
  const res = await rounds(n(3), async () => checkJobIdsOnce(runs));
  add(
    row({
      id: CHECK_ID,
      name: CHECK_NAME,
      goal: { op: '>=', value: 500 },
      unit: 'runs/s',
      measured: spread(res.map((r) => r.runsPerS)),
      note: `--runs ${runs}, a fresh process each round (module loading not counted, the JIT warm-up counted); ${Math.round(res[0].commandsPerRun)} QMP commands per run`,
    }),
  );
}

async function counterexamples({ want, n, add }: Ctx): Promise<void> {
  if (!want('counterexample', 'time to counterexample')) return;
  // as the main job checks them: 300 runs, seed 1, a VM on the simulator 7.2
  const times = new Map<string, number[]>();
  await rounds(n(3), async () => {
    for (const p of BUNDLED) {
      const r = await checkProposal(p, { runs: 300, seed: 1, profile: '7.2', domain: 'vm' });
      for (const v of r.verdicts) {
        if (!v.counterexample) continue;
        const key = `${p.name}/${v.property}`;
        times.set(key, [...(times.get(key) ?? []), v.counterexample.ms]);
      }
    }
  });
  for (const [key, ms] of times)
    add(
      row({
        id: `counterexample:${key}`,
        name: `time to counterexample: ${key}`,
        goal: { op: '<=', value: 250 },
        unit: 'ms',
        measured: spread(ms),
        note: 'check --runs 300 --seed 1 on a VM of the simulator 7.2, as the main job; the first round runs cold',
      }),
    );
}

const NBDCOPY_ID = 'nbdcopy-from-sim';
const NBDCOPY_NAME = "nbdcopy from the simulator's NBD server vs real qemu-storage-daemon 7.2";
const CLIENT_ID = 'nbd-client';
const CLIENT_NAME = 'our NBD client vs nbdcopy, both reading a real qemu-storage-daemon 7.2 export';

async function nbd({ o, want, n, add }: Ctx): Promise<void> {
  const tools = have('nbdcopy') && have('qemu-storage-daemon');
  const bytes = o.quick ? 64 << 20 : 1 << 30;
  const size = `${bytes >> 20} MiB of data`;
  if (want(NBDCOPY_ID, NBDCOPY_NAME)) {
    const goal = { op: '>=' as const, value: 0.6 };
    if (!tools)
      add(row({ id: NBDCOPY_ID, name: NBDCOPY_NAME, goal, unit: '×', note: 'needs nbdcopy and qsd' }));
    else {
      const r = await nbdcopyNullBench({ bytes, runs: n(3) });
      const mibps = (s: number[]) => s.map((x) => bytes / (1 << 20) / x);
      add(
        row({
          id: NBDCOPY_ID,
          name: NBDCOPY_NAME,
          goal,
          unit: '×',
          measured: pairedRatio(r.rounds.qsd, r.rounds.sim),
          value: { unit: 'MiB/s', spread: spread(mibps(r.rounds.sim)) },
          reference: { name: 'qemu-storage-daemon 7.2', unit: 'MiB/s', spread: spread(mibps(r.rounds.qsd)) },
          note: `nbdcopy to null: of ${size}`,
        }),
      );
    }
  }
  if (want(CLIENT_ID, CLIENT_NAME)) {
    const goal = { op: '>=' as const, value: 0.9 };
    if (!tools)
      add(row({ id: CLIENT_ID, name: CLIENT_NAME, goal, unit: '×', note: 'needs nbdcopy and qsd' }));
    else {
      const r = await clientVsNbdcopyBench({ bytes, runs: n(3) });
      const mibps = (s: number[]) => s.map((x) => bytes / (1 << 20) / x);
      add(
        row({
          id: CLIENT_ID,
          name: CLIENT_NAME,
          goal,
          unit: '×',
          measured: pairedRatio(r.rounds.nbdcopy, r.rounds.client),
          value: { unit: 'MiB/s', spread: spread(mibps(r.rounds.client)) },
          reference: { name: 'nbdcopy', unit: 'MiB/s', spread: spread(mibps(r.rounds.nbdcopy)) },
          note: `${size}; ${r.connections} connections, ${r.inFlight} requests of ${r.requestSize >> 20} MiB in flight each`,
        }),
      );
    }
  }
}

const MAIN_ID = 'main-job';
const MAIN_NAME = 'the main job (npx fleece-lab) with one real QEMU installed';

async function mainJob({ o, want, n, add }: Ctx): Promise<void> {
  if (!want(MAIN_ID, MAIN_NAME)) return;
  const goal = { op: '<=' as const, value: 45 };
  if (o.quick) {
    add(row({ id: MAIN_ID, name: MAIN_NAME, goal, unit: 's', note: 'not run with --quick' }));
    return;
  }
  const res = await rounds(n(3), async () => timeMainJob());
  add(
    row({
      id: MAIN_ID,
      name: MAIN_NAME,
      goal,
      unit: 's',
      measured: spread(res.map((r) => r.seconds)),
      note: `real QEMU found: ${res[0].realQemus || 'none'}; exit ${res.map((r) => r.status).join(', ')}; suites in the first round: ${res[0].suites}`,
    }),
  );
}

/** Measures issue 16 does not set a goal for, kept from earlier issues. */
async function earlier({ o, want, n, add }: Ctx): Promise<void> {
  if (want('heap', 'heap for 16 disks of 1 TiB')) {
    const writes = o.quick ? 10_000 : 100_000;
    const mib = await rounds(n(3), async () => benchSparseDisks(writes).heapBytes / 1024 / 1024);
    add(
      row({
        id: 'heap',
        name: `heap for 16 disks of 1 TiB after ${writes} random 4 KiB writes`,
        goal: { op: '<=', value: 200 },
        unit: 'MiB',
        measured: spread(mib),
        note: (globalThis as { gc?: unknown }).gc ? undefined : 'without --expose-gc: includes garbage',
      }),
    );
  }
  // the whole conformance suite on real QEMU takes minutes: only when asked for by name
  if (o.words.includes('suite') && have('qemu-storage-daemon')) {
    const sim = await conform(resolveTarget('sim:7.2'), {});
    const real = await conform(resolveTarget('qemu'), { jobs: 1 });
    add(
      row({
        id: 'suite',
        name: 'conformance suite: real QEMU one check at a time vs the simulator',
        goal: { op: '>=', value: 20 },
        unit: '×',
        measured: spread([real.durationMs / sim.durationMs]),
        value: { unit: 's', spread: spread([sim.durationMs / 1000]) },
        reference: {
          name: `real QEMU ${real.qemu.version}`,
          unit: 's',
          spread: spread([real.durationMs / 1000]),
        },
      }),
    );
  }
}

/** Runs the benchmarks; returns the exit status (1 when --compare found a measure past its threshold). */
export async function runBench(o: BenchOptions): Promise<number> {
  const startLoad = os.loadavg()[0];
  // read the file compared with first: it is often the one about to be overwritten
  const before = o.compare ? parseBenchFile(fs.readFileSync(o.compare, 'utf8')) : undefined;
  const out: BenchRow[] = [];
  const ctx: Ctx = {
    o,
    want: (id, name) => o.words.length === 0 || o.words.some((w) => id.includes(w) || name.includes(w)),
    n: (full) => o.rounds ?? (o.quick ? 1 : full),
    add: (r) => {
      out.push(r);
      console.log(rowDetail(r));
    },
  };
  // the heap first, on a fresh heap; the in-process measures before the NBD ones fill the page cache
  await earlier(ctx);
  await fleecingCycle(ctx);
  await checkRate(ctx);
  await counterexamples(ctx);
  await nbd(ctx);
  await mainJob(ctx);
  const file: BenchFile = {
    at: new Date().toISOString(),
    quick: o.quick,
    load: { start: round2(startLoad), end: round2(os.loadavg()[0]) },
    cpus: os.cpus().length,
    node: process.version,
    rows: out,
  };
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, `${JSON.stringify(file, null, 1)}\n`);
  console.log(`\n${goalTable(out)}\n`);
  console.log(
    `load average (1 min): ${file.load.start} at the start, ${file.load.end} at the end; written to ${o.out}`,
  );
  if (!before) return 0;
  const c = compareBench(before, out, o.thresholdPct);
  console.log(`\ncompared with ${o.compare}:\n${compareText(c, o.thresholdPct)}`);
  return c.slower.some((s) => s.pastThreshold) ? 1 : 0;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
