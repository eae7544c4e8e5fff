import { z } from 'zod';

/**
 * The one list of classes a difference between two sides gets (differential replay, version matrix):
 * - simulator-wrong: the simulator differs from the real QEMU of its version;
 * - versions-differ: real versions differ from each other, and the simulator is not the one at fault;
 * - both: real versions differ, and a simulator profile also differs from its own real QEMU there;
 * - unexplained: nothing shows the difference to be behaviour (it did not happen again, or a real run broke
 *   or differs from its own recording).
 * checks/differential/classify.ts decides between them.
 */
export const DIVERGENCE_CLASSES = ['simulator-wrong', 'versions-differ', 'both', 'unexplained'] as const;
export const divergenceClass = z.enum(DIVERGENCE_CLASSES);
export type DivergenceClass = z.infer<typeof divergenceClass>;

/**
 * The classes that fail a gate by default (CI, `replay --fail-on`, `matrix`): every class in which some
 * simulator profile differs from its own real QEMU, and every difference nobody can explain. Only
 * "versions differ" passes: there each simulator profile answers as its own real QEMU does.
 */
export const FAILING_CLASSES: readonly DivergenceClass[] = ['simulator-wrong', 'both', 'unexplained'];

/** The classes of a simulator-against-real comparison (the matrix): `both` needs two real versions. */
export const simVsRealClass = divergenceClass.exclude(['both']);
export type SimVsRealClass = z.infer<typeof simVsRealClass>;

/** each class in words, as the reports and the command line say it */
export const CLASS_TEXT: Record<DivergenceClass, string> = {
  'simulator-wrong': 'simulator wrong',
  'versions-differ': 'versions differ',
  both: 'versions differ and simulator wrong',
  unexplained: 'unexplained',
};
