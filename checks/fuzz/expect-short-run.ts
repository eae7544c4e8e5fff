import { expect } from 'vitest';
import { type FuzzTarget, formatReport, runTarget } from './core.ts';

/**
 * The short fuzz run of CI for one target (tests only): `count` inputs from seed 7 within 40 s, no crash,
 * no hang, the classes account for every input and the printed line says what was run.
 */
// biome-ignore lint/suspicious/noExplicitAny: any target, whatever its input and state
export async function expectShortRun(t: FuzzTarget<any, any>, count: number): Promise<void> {
  const lines: string[] = [];
  const r = await runTarget(t, { count, seconds: 40, seed: 7, log: (l) => lines.push(l) });
  expect(lines.filter((l) => /CRASH|HANG/.test(l))).toEqual([]);
  expect(r.crashes).toBe(0);
  expect(r.hangs).toBe(0);
  expect(r.stoppedBy).toBe('count');
  expect(r.inputs).toBe(count);
  // the classes account for every input, and the printed line says what was run
  expect(Object.values(r.classes).reduce((a, b) => a + b, 0)).toBe(r.inputs);
  expect(formatReport(r)[0]).toMatch(
    new RegExp(
      `^${t.name}: ${r.inputs} inputs, ${Object.keys(r.classes).length} outcome classes, 0 crashes, 0 hangs`,
    ),
  );
  expect(Object.keys(r.classes).length).toBeGreaterThan(1);
}
