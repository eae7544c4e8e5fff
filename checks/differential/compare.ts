/**
 * What the differentials compare: two sides' observations, step by step. Values are compared with the one
 * JSON diff (contract/formats/json-diff.ts); what arrives at its own pace (events) as a multiset.
 */
export interface StepDifference<V = unknown> {
  /** index of the step */
  step: number;
  /** what the step is: 'op 2: write', 'blockdev-add' */
  label: string;
  /** what differs, the same for the same kind of divergence: `qmp block-export-del: .reply.error.desc` */
  signature: string;
  /** where in the value (contract/formats/json-diff.ts), '' where the two sides did different things */
  path: string;
  a: V;
  b: V;
}

/** The members of `a` that `b` lacks and those of `b` that `a` lacks, counting repeats; in their order. */
export function multisetGap<T>(
  a: T[],
  b: T[],
  key: (x: T) => string = (x) => JSON.stringify(x),
): {
  a: T[];
  b: T[];
} {
  const rest = b.map((x) => ({ k: key(x), x }));
  const onlyA: T[] = [];
  for (const x of a) {
    const k = key(x);
    const i = rest.findIndex((r) => r.k === k);
    if (i >= 0) rest.splice(i, 1);
    else onlyA.push(x);
  }
  return { a: onlyA, b: rest.map((r) => r.x) };
}
