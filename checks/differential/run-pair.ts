import type { StepDifference } from './compare.ts';
import type { Pair, Side } from './side.ts';

/**
 * A differential: how an input runs on one side, and how two sides' observations compare. The QMP
 * differential runs command sequences, the differential replay the operations of saved runs.
 */
export interface Differential<I, O, V = unknown> {
  run(side: Side, input: I): Promise<O>;
  /** every difference, first first */
  compare(a: O, b: O): StepDifference<V>[];
  /** a side that could not run at all (QEMU did not start): it says nothing about behaviour */
  broken?(o: O): string | undefined;
}

export interface PairRun<O, V> {
  a: O;
  b: O;
  differences: StepDifference<V>[];
}

/** One input on both sides of a pair, A first; undefined when a side broke. */
export async function runPair<I, O, V>(
  d: Differential<I, O, V>,
  pair: Pair,
  input: I,
): Promise<PairRun<O, V> | undefined> {
  const a = await d.run(pair[0], input);
  const b = await d.run(pair[1], input);
  if (d.broken?.(a) || d.broken?.(b)) return undefined;
  return { a, b, differences: d.compare(a, b) };
}
