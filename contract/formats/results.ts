import { z } from 'zod';
import { readJsonFile } from '../json-text.ts';
import { targetFileStem } from './file-names.ts';
import { parseWith } from './parse-with.ts';

/** The results file of a conformance run (fleece-lab conform --json): what CI gates on and reports read. */
export const checkStatus = z.enum(['pass', 'fail', 'skip', 'xfail']);
export type CheckStatus = z.infer<typeof checkStatus>;

export const checkResult = z.object({
  id: z.string(),
  title: z.string().optional(),
  status: checkStatus,
  reason: z.string().optional(),
  durationMs: z.number().nonnegative(),
});
export type CheckResult = z.infer<typeof checkResult>;

export const results = z.object({
  tool: z.literal('fleece-lab'),
  kind: z.literal('conformance'),
  target: z.string(),
  /** the QEMU version the target reported (or the simulator's profile) and its package string */
  qemu: z.object({ version: z.string(), package: z.string() }),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  checks: z.array(checkResult),
});
export type Results = z.infer<typeof results>;

export function summarize(r: Results): Record<CheckStatus, number> {
  const out: Record<CheckStatus, number> = { pass: 0, fail: 0, skip: 0, xfail: 0 };
  for (const c of r.checks) out[c.status]++;
  return out;
}

/** Parse a results file with a one-line error naming the field that is wrong. */
export function parseResults(raw: unknown, where: string): Results {
  return parseWith(results, raw, where);
}

/** A results file from disk: one line naming the file and the line:column (not JSON) or the field. */
export function readResults(file: string): Results {
  return parseResults(readJsonFile(file), file);
}

/** `results-qemu_7.2.22.json`, `results-sim_7.2.shard-1-of-2.json`: a target's results file in a run folder */
export function resultsFileName(target: string, suffix = ''): string {
  return `results-${targetFileStem(target)}${suffix}.json`;
}
