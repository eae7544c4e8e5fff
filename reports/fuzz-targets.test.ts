/** The renderers' fuzz targets, short, as checks/fuzz/fuzz.test.ts runs the checks' own. */
import { describe, expect, it } from 'vitest';
import { expectShortRun } from '../checks/fuzz/expect-short-run.ts';
import { REPORT_FUZZ_TARGETS } from './fuzz-targets.ts';

const SHORT: Record<string, number> = { 'results-reports': 600, 'trace-pages': 600 };

describe('report fuzz targets, short', () => {
  it('has a count for every target', () => {
    expect(REPORT_FUZZ_TARGETS.map((t) => t.name).sort()).toEqual(Object.keys(SHORT).sort());
  });

  for (const t of REPORT_FUZZ_TARGETS) {
    it(
      `${t.name}: ${SHORT[t.name]} inputs, no crash, no hang`,
      () => expectShortRun(t, SHORT[t.name]),
      60_000,
    );
  }
});
