import type { ParsedRunbook } from '../runbook.ts';
import { FLEECING } from './fleecing.ts';

/** Every runbook of the suite, in order. */
export const RUNBOOKS: ParsedRunbook[] = [...FLEECING];

// The catalogue checks itself: ids are unique.
{
  const seen = new Set<string>();
  for (const r of RUNBOOKS) {
    if (seen.has(r.id)) throw new Error(`runbook id ${r.id} is used twice`);
    seen.add(r.id);
  }
}
