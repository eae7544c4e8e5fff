import { z } from 'zod';
import { targetFileStem } from './file-names.ts';
import { parseWith } from './parse-with.ts';

/**
 * The results file of the known-bug probes (`fleece-lab probe --json`): for each probe of the catalogue
 * (checks/probes), whether this QEMU build carries the fix, told from its behaviour alone, and the step and
 * reply that decided it. A file names the target, the QEMU version and package it reported, and copies each
 * probe's bug and fix, so it reads on its own.
 */
export const probeStatus = z.enum([
  /** behaves as with the fix */
  'fixed',
  /** behaves as before the fix: the bug is there */
  'present',
  /** neither: the fix's code shows, but the target misbehaves there (a broken backport) */
  'broken',
  /** the feature the bug is in is absent: the step that uses it was refused */
  'not-applicable',
  /** the run said nothing either way (setup refused, the target died): see the evidence */
  'inconclusive',
]);
export type ProbeStatus = z.infer<typeof probeStatus>;

export const probeFix = z.object({
  commit: z.string(),
  title: z.string(),
  /** the first upstream release with the fix */
  release: z.string(),
  /** stable releases it was backported to */
  backports: z.array(z.string()).default([]),
});
export type ProbeFix = z.infer<typeof probeFix>;

export const probeEvidence = z.object({
  /** the runbook step that decided (null: none did, e.g. the run broke) */
  step: z.number().int().nullable(),
  /** that step's request, in short */
  request: z.string(),
  /** what the target answered there: the reply, the bytes or extents, the events */
  saw: z.string(),
  /** why that decides the status */
  why: z.string(),
});
export type ProbeEvidence = z.infer<typeof probeEvidence>;

export const probeResult = z.object({
  id: z.string(),
  bug: z.string(),
  kind: z.enum(['bug', 'cve', 'change']),
  fix: probeFix,
  affected: z.string(),
  runbook: z.string(),
  status: probeStatus,
  evidence: probeEvidence,
  durationMs: z.number().nonnegative(),
});
export type ProbeResult = z.infer<typeof probeResult>;

export const probeResults = z.object({
  tool: z.literal('fleece-lab'),
  kind: z.literal('probes'),
  target: z.string(),
  /** the QEMU version the target reported (or the simulator's profile) and its package string */
  qemu: z.object({ version: z.string(), package: z.string() }),
  /** simulator targets: features switched the other way than the version table has them */
  switched: z.array(z.string()).default([]),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  probes: z.array(probeResult),
});
export type ProbeResults = z.infer<typeof probeResults>;

/** Parse a probe results file with a one-line error naming the field that is wrong. */
/** `probes-qemu_7.2.22.json`: a target's probe results, beside its results file */
export function probesFileName(target: string, suffix = ''): string {
  return `probes-${targetFileStem(target)}${suffix}.json`;
}

export function parseProbeResults(raw: unknown, where: string): ProbeResults {
  return parseWith(probeResults, raw, where);
}

/** "fixes carried": how many probes found the fix, of those that apply */
export function fixesCarried(r: ProbeResults): Record<ProbeStatus, number> & { applicable: number } {
  const out = { fixed: 0, present: 0, broken: 0, 'not-applicable': 0, inconclusive: 0, applicable: 0 };
  for (const p of r.probes) {
    out[p.status]++;
    if (p.status !== 'not-applicable') out.applicable++;
  }
  return out;
}
