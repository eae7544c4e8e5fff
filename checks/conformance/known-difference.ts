import { type Difference, differences, show } from '../../contract/formats/json-diff.ts';
import type { KnownDifference } from './runbooks/define.ts';

/**
 * A check's verdict against the recording of real QEMU, with the runbook's known difference for that
 * profile (an xfail). A known difference excuses exactly the step and the paths it names: any other
 * difference in the runbook fails the check, and so does a known difference that no longer shows where it
 * says (then the entry is wrong, or the simulator was fixed there: pass means delete the entry).
 */
export type Verdict = { status: 'pass' } | { status: 'xfail' | 'fail'; reason: string };

/** A recording-shaped transcript: `steps[i].step` is the runbook's step number of the i-th entry. */
interface Recorded {
  steps?: { step?: number; request?: unknown }[];
}

/** `p` is `prefix` or lies under it (`.steps.3.reply` covers `.steps.3.reply.error.desc`). */
export function under(p: string, prefix: string): boolean {
  return p === prefix || p.startsWith(`${prefix}.`);
}

/** What a known difference says it excuses, in words. */
export function excusedText(k: KnownDifference): string {
  return `step ${k.step}, ${k.paths.join(', ')}`;
}

function differenceText(d: Difference): string {
  return `${d.path}: got ${JSON.stringify(d.a)?.slice(0, 300)}, recorded ${JSON.stringify(d.b)?.slice(0, 300)}`;
}

/**
 * Where the first path of a known difference points must be the step it names, in the recording: the paths
 * count transcript entries, the step counts runbook steps. '' when they agree, else why not.
 */
export function knownStepMismatch(k: KnownDifference, recorded: unknown): string {
  const m = /^\.steps\.(\d+)(?:\.|$)/.exec(k.paths[0] ?? '');
  if (!m) return `its first path ${k.paths[0] ?? '(none)'} is not in a step (.steps.N…)`;
  const entry = (recorded as Recorded).steps?.[Number(m[1])];
  if (entry?.step !== k.step)
    return `it names step ${k.step}, but ${m[0].replace(/\.$/, '')} is step ${entry?.step ?? '(none)'} in the recording`;
  return '';
}

export function judge(transcript: unknown, recorded: unknown, known?: KnownDifference): Verdict {
  const all = differences(transcript, recorded);
  if (all.length === 0) return { status: 'pass' };
  if (!known) return { status: 'fail', reason: differenceText(all[0]) };
  const mismatch = knownStepMismatch(known, recorded);
  if (mismatch) return { status: 'fail', reason: `the known difference is misplaced: ${mismatch}` };
  const other = all.filter((d) => !known.paths.some((p) => under(d.path, p)));
  if (other.length > 0)
    return {
      status: 'fail',
      reason: `${differenceText(other[0])} (not excused: the known difference excuses only ${excusedText(known)})`,
    };
  if (!all.some((d) => under(d.path, known.paths[0])))
    return {
      status: 'fail',
      reason: `the known difference at ${known.paths[0]} did not show, yet ${all[0].path} differs: got ${show(all[0].a)}, recorded ${show(all[0].b)}`,
    };
  return { status: 'xfail', reason: `${known.reason} (excused: ${excusedText(known)})` };
}
