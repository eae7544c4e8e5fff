import { z } from 'zod';

/**
 * Faults the simulator can inject, named with their units and zero by default (TigerBeetle-style): a run
 * with no faults given is a faithful QEMU; every injected fault is drawn from the run's seed.
 */
export const faultsSchema = z
  .object({
    /** probability (0..1) that a copy-before-write copy into the target fails with EIO */
    cbwErrorRate: z.number().min(0).max(1).default(0),
    /** probability (0..1) that a job's write to its target fails with EIO */
    jobTargetErrorRate: z.number().min(0).max(1).default(0),
    /** extra simulated time (ns) every target write of a copy takes; past cbw-timeout it counts as failed */
    writeLatencyNs: z.number().int().min(0).default(0),
  })
  .strict();
export type Faults = z.infer<typeof faultsSchema>;
export const NO_FAULTS: Faults = faultsSchema.parse({});
