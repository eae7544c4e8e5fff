import { z } from 'zod';
import { FEATURES, PROFILES } from '../../../contract/versions.ts';

/**
 * A runbook is a conformance check written like QEMU's iotests: steps in order, each request and reply
 * logged, expected errors written down. The same runbook runs on the simulator and on a real QEMU, and the
 * two normalised transcripts must be equal.
 */
const json = z.record(z.unknown());

export const fileSpec = z.object({
  /** file name inside the scratch folder; arguments refer to it as "@name" */
  name: z.string(),
  format: z.enum(['raw', 'qcow2']).default('raw'),
  size: z.number().int().positive(),
  /** qcow2 only: backing file (another of these files) and its format */
  backing: z.string().optional(),
  backingFormat: z.enum(['raw', 'qcow2']).optional(),
  /** data written with qemu-io before the run: pattern byte at offset, length bytes */
  writes: z
    .array(z.object({ offset: z.number().int(), length: z.number().int(), pattern: z.number().int() }))
    .default([]),
});
export type FileSpec = z.input<typeof fileSpec>;

export const step = z.union([
  z
    .object({
      qmp: z.string(),
      args: json.optional(),
      note: z.string().optional(),
      /**
       * a target that has not answered within this many ms is recorded as stuck (the reply is
       * `{stuck: "no reply within N ms"}`) and the run ends there: for a command known to hang some versions
       */
      stuckAfterMs: z.number().int().positive().optional(),
    })
    .strict(),
  /** wait (bounded) for an event not yet waited for; data must match where given */
  z
    .object({
      wait: z.object({ event: z.string(), data: json.optional() }),
      timeoutMs: z.number().optional(),
    })
    .strict(),
  /** I/O through HMP qemu-io on a node (qemu-system only), e.g. "write -P 0x11 0 64k" */
  z.object({ io: z.string(), node: z.string() }).strict(),
  /**
   * The guest's own I/O: HMP `qemu-io -d ID/virtio-backend` on a device's BlockBackend (qemu-system only);
   * `qdev` names the qdev path verbatim (`qemu-io -d QDEV`), for the forms QEMU refuses.
   */
  z.object({ io: z.string(), device: z.string() }).strict(),
  z.object({ io: z.string(), qdev: z.string() }).strict(),
  /**
   * QEMU goes away and starts again, paused, on the same files with the same command line: `quit` (every
   * image closes; qcow2 stores its persistent bitmaps) or `kill` (SIGKILL: nothing is written back). Events
   * of the going away are not recorded (a real QMP connection may not see them).
   */
  z.object({ restart: z.enum(['quit', 'kill']) }).strict(),
  /** the persistent bitmaps of a qcow2 file, read from the image itself (`qemu-img info -U`) */
  z.object({ imageBitmaps: z.string() }).strict(),
  /** let time pass on both sides (real milliseconds; simulated ones on the simulator) */
  z.object({ sleepMs: z.number() }).strict(),
  /**
   * An NBD client: ours connects to an export over the runbook's unix socket, makes the writes, reads
   * each [offset, length] (and, with `context`, asks block status for it), then disconnects. The bytes are
   * recorded run-length encoded ("0x11*61440 0x22*4096"), an error by its NBD name and the server's text.
   */
  z
    .object({
      nbd: z
        .object({
          socket: z.string(),
          export: z.string(),
          /** [offset, length, pattern byte] written first: a guest writing through an export */
          writes: z
            .array(
              z.tuple([
                z.number().int().min(0),
                z.number().int().positive(),
                z.number().int().min(0).max(255),
              ]),
            )
            .optional(),
          reads: z.array(z.tuple([z.number().int().min(0), z.number().int().positive()])).default([]),
          context: z.string().optional(),
        })
        .strict(),
    })
    .strict(),
  /**
   * Raw NBD connections named `name` that read the server's greeting and then say nothing (a client that
   * never negotiates), opened one after the other; each waits at most `waitMs` for its greeting. Recorded:
   * how many were greeted. They stay open until the run ends.
   */
  z
    .object({
      nbdHold: z
        .object({
          socket: z.string(),
          name: z.string(),
          count: z.number().int().positive().default(1),
          waitMs: z.number().int().positive().default(1000),
        })
        .strict(),
    })
    .strict(),
  /**
   * How many of the connections `name` the server has closed: waits (target time, bounded by `withinMs`)
   * until all are closed. Recorded: how many were closed by then.
   */
  z
    .object({ nbdHeld: z.object({ name: z.string(), withinMs: z.number().int().positive() }).strict() })
    .strict(),
]);
export type Step = z.infer<typeof step>;

export const knownDifference = z
  .object({
    profile: z.enum(PROFILES),
    reason: z.string(),
    /** the runbook step where the simulator first differs (the recording's `step` number) */
    step: z.number().int().nonnegative(),
    /**
     * the places in the transcript it excuses, as conform reports a difference (`.steps.9.reply`,
     * `.events.22`); the first is in the named step, the rest are what follows from it
     */
    paths: z.array(z.string().regex(/^\.(steps|events)\.\d+(\.[^.]+)*$/)).min(1),
  })
  .strict();
export type KnownDifference = z.infer<typeof knownDifference>;

export const runbookSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9./-]*$/),
  title: z.string(),
  /** which program: qemu-storage-daemon, or qemu-system-x86_64 (HMP, devices) */
  flavour: z.enum(['qsd', 'system']).default('qsd'),
  needs: z.array(z.enum(FEATURES)).default([]),
  files: z.array(fileSpec).default([]),
  /** qemu-system guest disks: -blockdev JSON + -device virtio-blk-pci,drive=NODE,id=ID */
  devices: z.array(z.object({ id: z.string(), blockdev: json })).default([]),
  steps: z.array(step),
  /**
   * Differences from real QEMU the simulator does not (yet) reproduce, one per profile: the simulator's
   * check is xfail when it differs from the recording only in the step and paths named here, and fails on
   * any other difference (checks/conformance/known-difference.ts). The runbook still runs and is recorded.
   */
  known: z.array(knownDifference).default([]),
});
export type Runbook = z.input<typeof runbookSchema>;
export type ParsedRunbook = z.infer<typeof runbookSchema>;

export function defineRunbook(r: Runbook): ParsedRunbook {
  const parsed = runbookSchema.safeParse(r);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new Error(`runbook ${r.id ?? '?'}: ${i.path.join('.')}: ${i.message}`);
  }
  return parsed.data;
}
