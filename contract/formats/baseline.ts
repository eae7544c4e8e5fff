import { type CheckStatus, type Results, readResults } from './results.ts';

/**
 * A baseline file is a results file (conform --json) kept as the expected outcome of a target, e.g.
 * reports/baseline/sim-7.2.json; `conform --baseline F` reads it.
 */
export function readBaseline(file: string): Results {
  return readResults(file);
}

/**
 * Gating against a baseline: each check's expected status. A check that got worse fails the run; one that
 * got better is reported (so the baseline can be tightened). A check the baseline does not know yet is held
 * to "pass or skip": a new check that fails is worse than nothing, not invisible.
 */
const RANK: Record<CheckStatus, number> = { pass: 3, xfail: 2, skip: 1, fail: 0 };

export interface BaselineVerdict {
  worse: { id: string; was: CheckStatus; now: CheckStatus; reason?: string }[];
  better: { id: string; was: CheckStatus; now: CheckStatus }[];
  missing: string[];
  /** checks the baseline does not list */
  added: { id: string; now: CheckStatus }[];
}

export function compareToBaseline(now: Results, baseline: Results): BaselineVerdict {
  const was = new Map(baseline.checks.map((c) => [c.id, c.status]));
  const out: BaselineVerdict = { worse: [], better: [], missing: [], added: [] };
  const seen = new Set<string>();
  for (const c of now.checks) {
    seen.add(c.id);
    const w = was.get(c.id);
    if (w === undefined) {
      out.added.push({ id: c.id, now: c.status });
      if (c.status === 'fail') out.worse.push({ id: c.id, was: 'pass', now: c.status, reason: c.reason });
      continue;
    }
    if (RANK[c.status] < RANK[w]) out.worse.push({ id: c.id, was: w, now: c.status, reason: c.reason });
    else if (RANK[c.status] > RANK[w]) out.better.push({ id: c.id, was: w, now: c.status });
  }
  for (const id of was.keys()) if (!seen.has(id)) out.missing.push(id);
  return out;
}
