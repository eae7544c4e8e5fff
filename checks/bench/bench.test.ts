import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BenchFile, type BenchRow, compareBench, goalTable, row } from './rows.ts';
import { pairedRatio, spread } from './spread.ts';

const cli = (args: string[]) =>
  spawnSync(process.execPath, ['--expose-gc', 'bin/fleece-lab.js', 'bench', ...args], { encoding: 'utf8' });

describe('bench rows', () => {
  it('a spread is the median with the least and greatest value', () => {
    expect(spread([5, 1, 3])).toMatchObject({ median: 3, min: 1, max: 5 });
    expect(spread([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
    expect(pairedRatio([10, 20], [5, 5])).toMatchObject({ median: 3, min: 2, max: 4 });
  });

  it('a row meets its goal on the median, and is not judged when not measured', () => {
    const ge = row({
      id: 'r',
      name: 'r',
      goal: { op: '>=', value: 100 },
      unit: '×',
      measured: spread([90, 120, 101]),
    });
    expect(ge.met).toBe(true);
    const le = row({
      id: 't',
      name: 't',
      goal: { op: '<=', value: 250 },
      unit: 'ms',
      measured: spread([300, 200, 260]),
    });
    expect(le.met).toBe(false);
    const none = row({ id: 'n', name: 'n', goal: { op: '<=', value: 1 }, unit: 's', note: 'no QEMU' });
    expect(none.met).toBeNull();
    expect(goalTable([ge, le, none])).toMatch(/\| r \| ≥ 100 × \| 101 × \(90\.0–120\) \| 3 \| met \|/);
  });

  it('compare lists what got slower in the direction of each goal, and what is missing', () => {
    const r = (id: string, op: '>=' | '<=', v: number): BenchRow =>
      row({ id, name: id, goal: { op, value: 1 }, unit: 'x', measured: spread([v]) });
    const before = [r('ratio', '>=', 100), r('time', '<=', 100), r('faster', '>=', 10), r('gone', '<=', 1)];
    const after = [r('ratio', '>=', 90), r('time', '<=', 150), r('faster', '>=', 20)];
    const c = compareBench(before, after, 25);
    expect(c.slower.map((s) => [s.id, Math.round(s.worsePct), s.pastThreshold])).toEqual([
      ['time', 50, true],
      ['ratio', 10, false],
    ]);
    expect(c.missing).toEqual(['gone']);
  });
});

describe('npm run bench -- --quick', () => {
  it('writes a row per goal asked for, and --compare fails past the threshold', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-bench-test-'));
    try {
      const out = path.join(dir, 'bench.json');
      const r = cli(['--quick', '--out', out, 'heap', 'main-job']);
      expect(r.status, r.stderr).toBe(0);
      const file = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchFile;
      expect(file.quick).toBe(true);
      expect(file.rows.map((x) => x.id)).toEqual(['heap', 'main-job']);
      expect(file.rows[1]).toMatchObject({ met: null, note: 'not run with --quick' });
      expect(r.stdout).toContain('| benchmark | goal | measured: median (min–max) | rounds | met |');
      // compared with a run that needed 10 KiB of heap (this one needs megabytes): past any threshold
      const better = structuredClone(file);
      better.rows[0].measured = { median: 0.01, min: 0.01, max: 0.01, values: [0.01] };
      fs.writeFileSync(path.join(dir, 'better.json'), JSON.stringify(better));
      const c = cli(['--quick', '--out', out, '--compare', path.join(dir, 'better.json'), 'heap']);
      expect(c.stdout).toMatch(/SLOWER \d+(\.\d)?%: heap/);
      expect(c.status).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
