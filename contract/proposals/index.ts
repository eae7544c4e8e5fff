import backupBegin from './backup-begin-6.0.ts';
import blockcopy from './blockcopy-2012.ts';
import checkpointChains from './checkpoint-chains.ts';
import checkpoints from './checkpoints-6.0.ts';
import type { Proposal } from './define.ts';
import jobIds from './job-ids.ts';
import jobIdsOverlay from './job-ids-overlay.ts';
import seed from './seed-2013.ts';

/** The bundled proposals, in the order the design thread met them. */
export const BUNDLED: Proposal[] = [
  seed,
  blockcopy,
  backupBegin,
  jobIdsOverlay,
  jobIds,
  checkpoints,
  checkpointChains,
];

export function bundled(name: string): Proposal | undefined {
  return BUNDLED.find((p) => p.name === name);
}
