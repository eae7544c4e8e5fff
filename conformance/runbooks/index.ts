import type { ParsedRunbook } from '../runbook.ts';
import { FLEECING } from './fleecing.ts';
import { JOB_VERB_RUNBOOKS } from './job-verbs.ts';

/** Every runbook of the suite, in order. */
export const RUNBOOKS: ParsedRunbook[] = [...FLEECING, ...JOB_VERB_RUNBOOKS];

// The catalogue checks itself: ids are unique.
{
  const seen = new Set<string>();
  for (const r of RUNBOOKS) {
    if (seen.has(r.id)) throw new Error(`runbook id ${r.id} is used twice`);
    seen.add(r.id);
  }
}
