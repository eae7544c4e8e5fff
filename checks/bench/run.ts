import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLED, bundled } from '../../contract/proposals/index.ts';
import { resolveTarget } from '../../harness/targets/target-spec.ts';
import { conform } from '../conformance/conform.ts';
import { checkProposal } from '../model/check.ts';
import { benchQemuCycle, benchSimCycle } from './fleecing-cycle.ts';
import { benchSparseDisks } from './memory.ts';
import { clientVsNbdcopyBench, nbdcopyNullBench } from './nbd.ts';

/**
 * `npm run bench` (`fleece-lab bench`): every measure printed with the reference it is compared with,
 * measured in the same run (or the goal, where the issue sets an absolute one), and written to
 * reports/bench.json as {name, value, unit, reference, ratio, goal}. `npm run bench -- NAME...` runs only
 * measures whose name contains one of the words.
 */
interface Measure {
  name: string;
  value: number;
  unit: string;
  reference: number;
  referenceName: string;
  ratio: number;
  goal: string;
}

/** which measures run (their name contains one of the words asked for), and where each result goes */
interface Run {
  want: (name: string) => boolean;
  add: (m: Measure) => void;
}

function have(tool: string, arg = '--version'): boolean {
  try {
    execFileSync(tool, [arg], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function printMeasure(m: Measure): void {
  console.log(
    `${m.name}: ${m.value} ${m.unit}; reference ${m.reference} (${m.referenceName}); ratio ${m.ratio.toFixed(2)} (goal ${m.goal})`,
  );
}

function rate(r: { commands: number; ms: number }): number {
  return (r.commands / r.ms) * 1000;
}

async function repeat<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const res: T[] = [];
  for (let i = 0; i < n; i++) res.push(await fn());
  return res;
}

async function simulator({ want, add }: Run): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-bench-'));
  try {
    if (want('fleecing cycle')) {
      const writes = 1000;
      // One warm-up cycle for the JIT, then the best of several: the same treatment for both sides.
      await benchSimCycle(dir, writes);
      const simRate = Math.max(...(await repeat(5, () => benchSimCycle(dir, writes))).map(rate));
      if (have('qemu-system-x86_64')) {
        await benchQemuCycle(dir, writes);
        const qRate = Math.max(...(await repeat(3, () => benchQemuCycle(dir, writes))).map(rate));
        add({
          name: 'fleecing cycle: QMP commands per second, in-process simulator',
          value: Math.round(simRate),
          unit: 'commands/s',
          reference: Math.round(qRate),
          referenceName:
            'real qemu-system-x86_64 7.2 over QMP (HMP qemu-io for guest writes), same cycle, same run',
          ratio: simRate / qRate,
          goal: 'ratio >= 30',
        });
      } else console.log('skipped fleecing cycle ratio: no qemu-system-x86_64 here');
    }
    if (want('heap')) {
      const m = benchSparseDisks(100_000);
      const goal = 200 * 1024 * 1024;
      add({
        name: 'heap for 16 disks of 1 TiB after 100,000 random 4 KiB writes',
        value: Math.round(m.heapBytes / 1024 / 1024),
        unit: 'MiB',
        reference: goal / 1024 / 1024,
        referenceName: 'the goal, 200 MB',
        ratio: m.heapBytes / goal,
        goal: 'ratio < 1',
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function nbd({ want, add }: Run): Promise<void> {
  if (!have('nbdcopy') || !have('qemu-storage-daemon')) {
    console.log('skipped NBD measures: needs nbdcopy (libnbd-bin) and qemu-storage-daemon');
    return;
  }
  if (want('nbdcopy')) {
    const r = await nbdcopyNullBench({ bytes: 1 << 30 });
    add({
      name: "nbdcopy reading 1 GiB from the simulator's NBD server to null:",
      value: Math.round(r.simMiBps),
      unit: 'MiB/s',
      reference: Math.round(r.qsdMiBps),
      referenceName: 'nbdcopy from qemu-storage-daemon 7.2 serving the same data, same run',
      ratio: r.simMiBps / r.qsdMiBps,
      goal: 'ratio >= 0.3',
    });
  }
  if (want('client')) {
    const r = await clientVsNbdcopyBench({ bytes: 1 << 30 });
    add({
      name: 'our NBD client reading 1 GiB from a qemu-storage-daemon 7.2 export',
      value: Math.round(r.clientMiBps),
      unit: 'MiB/s',
      reference: Math.round(r.nbdcopyMiBps),
      referenceName: 'nbdcopy reading the same export, same run',
      ratio: r.clientMiBps / r.nbdcopyMiBps,
      goal: 'ratio >= 0.5',
    });
  }
}

async function check({ want, add }: Run): Promise<void> {
  if (want('check')) {
    const r = await checkProposal(bundled('job-ids')!, { runs: 500, seed: 3, profile: '7.2' });
    const runsPerS = (r.stats.runs / r.stats.ms) * 1000;
    const cmdsPerS = (r.stats.qmpCommands / r.stats.ms) * 1000;
    add({
      name: 'fleece-lab check job-ids: runs per second',
      value: Math.round(runsPerS),
      unit: 'runs/s',
      reference: Math.round(cmdsPerS),
      referenceName: 'QMP commands per second in the same runs',
      ratio: runsPerS / cmdsPerS,
      goal: 'report (commands per run)',
    });
  }
  if (want('counterexample')) {
    for (const p of BUNDLED) {
      const r = await checkProposal(p, { runs: 300, seed: 5, profile: '7.2' });
      for (const v of r.verdicts.filter((x) => x.counterexample)) {
        add({
          name: `time to counterexample: ${p.name} / ${v.property}`,
          value: Math.round(v.counterexample!.ms),
          unit: 'ms',
          reference: 1000,
          referenceName: 'the goal, 1 s',
          ratio: v.counterexample!.ms / 1000,
          goal: 'ratio < 1',
        });
      }
    }
  }
  if (want('main job')) {
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      ['bin/fleece-lab.js', '--sim-only', '--out', path.join(os.tmpdir(), 'fleece-lab-bench-main')],
      {
        stdio: 'pipe',
      },
    );
    const s = (performance.now() - t0) / 1000;
    fs.rmSync(path.join(os.tmpdir(), 'fleece-lab-bench-main'), { recursive: true, force: true });
    add({
      name: `npm start on the simulator (main job, exit ${r.status})`,
      value: Math.round(s * 10) / 10,
      unit: 's',
      reference: 60,
      referenceName: 'the goal, 60 s',
      ratio: s / 60,
      goal: 'ratio < 1',
    });
  }
}

async function suite({ want, add }: Run): Promise<void> {
  if (!want('suite') || !have('qemu-storage-daemon')) return;
  const sim = await conform(resolveTarget('sim:7.2'), {});
  const real = await conform(resolveTarget('qemu'), { jobs: 1 });
  add({
    name: 'conformance suite on the simulator (sim:7.2)',
    value: Math.round(sim.durationMs / 100) / 10,
    unit: 's',
    reference: Math.round(real.durationMs / 100) / 10,
    referenceName: `the same suite on real QEMU ${real.qemu.version}, one check at a time, same run`,
    ratio: real.durationMs / sim.durationMs,
    goal: 'ratio >= 20 (times faster), real under 60 s',
  });
}

/** Runs the measures whose name contains one of the words of `words` (all of them when it is empty). */
export async function runBench(words: readonly string[]): Promise<void> {
  const out: Measure[] = [];
  const run: Run = {
    want: (name) => words.length === 0 || words.some((w) => name.includes(w)),
    add: (m) => {
      out.push(m);
      printMeasure(m);
    },
  };
  await simulator(run);
  await check(run);
  await nbd(run);
  await suite(run);
  fs.mkdirSync('reports', { recursive: true });
  fs.writeFileSync('reports/bench.json', `${JSON.stringify(out, null, 1)}\n`);
  if (!(globalThis as { gc?: unknown }).gc)
    console.log('note: run with node --expose-gc (npm run bench does) for exact heap figures');
}
