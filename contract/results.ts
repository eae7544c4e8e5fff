import { z } from 'zod';

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

/** A zod issue's path on one line ("checks.3.status"; keys with control characters escaped). */
export function issuePath(p: (string | number)[]): string {
  return oneLine(p.join('.')) || '(top)';
}

/** control characters (newlines...) escaped, so a message stays on one line */
export function oneLine(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Parse a results file with a one-line error naming the field that is wrong. */
export function parseResults(raw: unknown, where: string): Results {
  const p = results.safeParse(raw);
  if (!p.success) {
    const i = p.error.issues[0];
    throw new Error(`${where}: ${issuePath(i.path)}: ${oneLine(i.message)}`);
  }
  return p.data;
}
