import { BITMAPS } from './bitmaps.ts';
import { CHECKPOINTS } from './checkpoints.ts';
import type { ParsedRunbook } from './define.ts';
import { ERRORS } from './errors.ts';
import { EXPORTS } from './exports.ts';
import { FAULTS } from './faults.ts';
import { FAULTS_VM } from './faults-vm.ts';
import { FLEECING } from './fleecing.ts';
import { FLEECING_DATA } from './fleecing-data.ts';
import { JOB_VERB_RUNBOOKS } from './job-verbs.ts';
import { JOBS } from './jobs.ts';
import { PROBE_RUNBOOKS } from './probes.ts';
import { REGRESSIONS } from './regressions.ts';
import { TRANSACTIONS } from './transactions.ts';
import { VM } from './vm.ts';

/** Every runbook of the suite, in order. */
export const RUNBOOKS: ParsedRunbook[] = [
  ...FLEECING,
  ...FLEECING_DATA,
  ...ERRORS,
  ...BITMAPS,
  ...EXPORTS,
  ...JOB_VERB_RUNBOOKS,
  ...JOBS,
  ...TRANSACTIONS,
  ...FAULTS,
  ...FAULTS_VM,
  ...REGRESSIONS,
  ...VM,
  ...CHECKPOINTS,
  ...PROBE_RUNBOOKS,
];

// The catalogue checks itself: ids are unique.
{
  const seen = new Set<string>();
  for (const r of RUNBOOKS) {
    if (seen.has(r.id)) throw new Error(`runbook id ${r.id} is used twice`);
    seen.add(r.id);
  }
}
