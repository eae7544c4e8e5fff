import { z } from 'zod';

/**
 * Faults the simulator can inject, named with their units and zero by default (TigerBeetle-style): a run
 * with no faults given is a faithful QEMU; every injected fault is drawn from the run's seed.
 */
export const faultsSchema = z
  .object({
    /**
     * probability (0..1) that a copy-before-write filter's copy into its target fails with EIO, as a
     * blkdebug write_aio rule with errno 5 under the target makes it on QEMU: per on-cbw-error the guest
     * write fails (break-guest-write) or the snapshot breaks and its reads fail with EACCES (break-snapshot)
     */
    cbwErrorRate: z.number().min(0).max(1).default(0),
    /**
     * probability (0..1) that a backup job's write to its target fails with EIO (its own copies, which end in
     * BLOCK_JOB_ERROR and the on-target-error action, and its filter's, which fail the guest write)
     */
    jobTargetErrorRate: z.number().min(0).max(1).default(0),
    /**
     * extra simulated time (ns) every target write of a copy-before-write copy takes; a copy slower than the
     * filter's cbw-timeout fails with ETIMEDOUT per on-cbw-error (QEMU: a throttled target)
     */
    writeLatencyNs: z.number().int().min(0).default(0),
  })
  .strict();
export type Faults = z.infer<typeof faultsSchema>;
export const NO_FAULTS: Faults = faultsSchema.parse({});
