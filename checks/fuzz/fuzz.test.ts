/**
 * The short fuzz run of CI: every target for a few hundred inputs (bounded in time), no crash, no hang,
 * and the counts printed are the counts run. And the runner itself: a target with a deliberately broken
 * invariant, and one that hangs, are caught, with a replay command that reproduces the failing input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Breach, type FuzzTarget, formatReport, inputAt, replayCommand, runTarget } from './core.ts';
import { expectShortRun } from './expect-short-run.ts';
import { TARGETS } from './targets/index.ts';

const SHORT: Record<string, number> = {
  proposals: 1000,
  'results-files': 600,
  'trace-files': 600,
  'qmp-server': 600,
  'qmp-client': 300,
  'nbd-server': 300,
  'nbd-client': 300,
};

describe('npm run fuzz, short', () => {
  it('has a count for every target', () => {
    expect(TARGETS.map((t) => t.name).sort()).toEqual(Object.keys(SHORT).sort());
  });

  for (const t of TARGETS) {
    it(
      `${t.name}: ${SHORT[t.name]} inputs, no crash, no hang`,
      () => expectShortRun(t, SHORT[t.name]),
      60_000,
    );
  }
});

describe('the runner', () => {
  let executed = 0;
  /** breaks its invariant on every input divisible by 7; hangs on input 12 */
  const broken: FuzzTarget<number, { seen: number[] }> = {
    name: 'broken',
    what: 'a target whose invariant breaks',
    input: fc.nat({ max: 1000 }),
    timeoutMs: 100,
    async setup() {
      return { seen: [] };
    },
    exec(st, n) {
      executed++;
      st.seen.push(n);
      if (n === inputAt(fc.nat({ max: 1000 }), 3, 12)) return new Promise<string>(() => {});
      if (n % 7 === 0) throw new Breach(`${n} is divisible by 7`);
      return n % 2 === 0 ? 'even' : 'odd';
    },
    async teardown() {},
  };

  it('counts what it ran, and catches a broken invariant and a hang, with a replay command', async () => {
    const lines: string[] = [];
    executed = 0;
    const r = await runTarget(broken, { count: 200, seconds: 30, seed: 3, log: (l) => lines.push(l) });
    expect(r.inputs).toBe(200);
    expect(executed).toBe(200);
    const hv = inputAt(broken.input, 3, 12);
    const values = [...Array(200).keys()].map((k) => inputAt(broken.input, 3, k));
    const sevens = values.filter((v) => v !== hv && v % 7 === 0).length;
    expect(sevens).toBeGreaterThan(0);
    expect(r.crashes).toBe(sevens);
    expect(r.hangs).toBe(values.filter((v) => v === hv).length);
    expect(r.classes.even + r.classes.odd).toBe(200 - r.crashes - r.hangs);
    const crash = r.failures.find((f) => f.kind === 'crash')!;
    expect(lines.some((l) => l.includes(replayCommand('broken', 3, crash.index)))).toBe(true);
    expect(r.failures.some((f) => f.kind === 'hang' && f.index === 12)).toBe(true);

    // --replay K runs exactly that input, and it fails the same way
    const again: string[] = [];
    const one = await runTarget(broken, {
      count: 1,
      seconds: 5,
      seed: 3,
      replay: crash.index,
      log: (l) => again.push(l),
    });
    expect(one.inputs).toBe(1);
    expect(one.crashes).toBe(1);
    expect(again.join('\n')).toContain('divisible by 7');
  });

  it('stops at the time cap and says so', async () => {
    const slow: FuzzTarget<number, null> = {
      name: 'slow',
      what: 'slow',
      input: fc.nat(),
      async setup() {
        return null;
      },
      exec: () => new Promise((r) => setTimeout(() => r('ok'), 20)),
      async teardown() {},
    };
    const r = await runTarget(slow, { count: 1_000_000, seconds: 1, seed: 1 });
    expect(r.stoppedBy).toBe('time');
    expect(r.inputs).toBeGreaterThan(10);
    expect(r.inputs).toBeLessThan(100);
    expect(formatReport(r)[0]).toContain('(time cap)');
  });
});
