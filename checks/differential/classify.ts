import {
  type DivergenceClass,
  FAILING_CLASSES,
  type SimVsRealClass,
} from '../../contract/formats/divergence-classes.ts';

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

/**
 * The simulator against the real QEMU of its own version, and they differ: the simulator is wrong, whatever
 * other real versions answer there (a profile with another version's behaviour is still a wrong profile).
 */
export interface SimVsReal {
  established: true;
  pair: 'sim-vs-real';
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
  if (e.pair === 'sim-vs-real') return 'simulator-wrong';
  // "versions differ" only where every simulator profile equals its own real QEMU at that point
  return e.simWrongAt.length > 0 ? 'both' : 'versions-differ';
}

/** The divergences that fail a run: those of a class in `failOn` (by default FAILING_CLASSES). */
export function failingDivergences<T extends { class: DivergenceClass }>(
  ds: readonly T[],
  failOn: readonly string[] = FAILING_CLASSES,
): T[] {
  return ds.filter((d) => failOn.includes(d.class));
}
