import type { DivergenceClass, SimVsRealClass } from '../../contract/formats/divergence-classes.ts';

/**
 * What is known about a difference between two sides, by whoever found it; classify turns it into the
 * difference's class (contract/formats/divergence-classes.ts). The one place the classes are decided.
 */
export type Evidence = Unestablished | SimVsReal | RealVsReal;

/**
 * Nothing shows the difference to be behaviour: it did not happen again when replayed, a real run broke or
 * differs from its own recording, or there is nothing to compare but statuses that disagree.
 */
export interface Unestablished {
  established: false;
}

/** The simulator against the real QEMU of its version. */
export interface SimVsReal {
  established: true;
  pair: 'sim-vs-real';
  /** where they differ, other real versions answer unlike this version's real QEMU... */
  realVersionsDiffer?: boolean;
  /** ...and one of them answers as the simulator does: the profile has another version's behaviour */
  simAnswersAsAnotherVersion?: boolean;
}

/** Two real versions against each other. */
export interface RealVsReal {
  established: true;
  pair: 'real-vs-real';
  /** the simulator profiles that differ from their own real QEMU at that point */
  simWrongAt: string[];
}

export function classify(e: Unestablished | SimVsReal): SimVsRealClass;
export function classify(e: Evidence): DivergenceClass;
export function classify(e: Evidence): DivergenceClass {
  if (!e.established) return 'unexplained';
  if (e.pair === 'sim-vs-real')
    return e.realVersionsDiffer && e.simAnswersAsAnotherVersion ? 'versions-differ' : 'simulator-wrong';
  return e.simWrongAt.length > 0 ? 'both' : 'versions-differ';
}
