import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchQemuCycle, benchSimCycle } from './fleecing-cycle.ts';
import { benchSparseDisks } from './memory.ts';

/**
 * `npm run bench`: every measure printed with the reference it is compared with, measured in the same run,
 * and written to reports/bench.json as {name, value, unit, reference, ratio}.
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

function haveQemu(): boolean {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function rate(r: { commands: number; ms: number }): number {
  return (r.commands / r.ms) * 1000;
}

async function repeat<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

async function main(): Promise<void> {
  const out: Measure[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-bench-'));
  try {
    const writes = 1000;
    // One warm-up cycle for the JIT, then the best of five: the same treatment for both sides.
    await benchSimCycle(dir, writes);
    const simRate = Math.max(...(await repeat(5, () => benchSimCycle(dir, writes))).map(rate));
    if (haveQemu()) {
      await benchQemuCycle(dir, writes);
      const qRate = Math.max(...(await repeat(3, () => benchQemuCycle(dir, writes))).map(rate));
      out.push({
        name: 'fleecing cycle: QMP commands per second, in-process simulator',
        value: Math.round(simRate),
        unit: 'commands/s',
        reference: Math.round(qRate),
        referenceName: 'real qemu-system-x86_64 7.2 over QMP, same cycle, same run',
        ratio: simRate / qRate,
        goal: 'ratio >= 30',
      });
    } else {
      console.log('skipped fleecing-cycle ratio: no qemu-system-x86_64 on this machine');
    }
    const m = benchSparseDisks(100_000);
    const goal = 200 * 1024 * 1024;
    out.push({
      name: 'heap for 16 disks of 1 TiB after 100,000 random 4 KiB writes',
      value: Math.round(m.heapBytes / 1024 / 1024),
      unit: 'MiB',
      reference: goal / 1024 / 1024,
      referenceName: 'the goal (200 MB)',
      ratio: m.heapBytes / goal,
      goal: 'ratio < 1',
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const m of out) {
    console.log(
      `${m.name}: ${m.value} ${m.unit}; reference ${m.reference} (${m.referenceName}); ratio ${m.ratio.toFixed(2)} (goal ${m.goal})`,
    );
  }
  fs.mkdirSync('reports', { recursive: true });
  fs.writeFileSync('reports/bench.json', `${JSON.stringify(out, null, 1)}\n`);
  if (!(globalThis as { gc?: unknown }).gc)
    console.log('note: run with node --expose-gc (npm run bench does) for exact heap figures');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
