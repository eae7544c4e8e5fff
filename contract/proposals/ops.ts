import { z } from 'zod';

/**
 * The operations one run of the property checker is made of. They are plain data, so that a run can be
 * saved, shrunk and replayed on another target: sessions and disks are picked by index among those that
 * exist when the operation runs, so every sub-sequence of a run is a valid run too.
 */
const n = z.number().int().min(0);

/** a guest write the checker slips in after the `after`-th QMP command of a call sequence */
export const injectSchema = z
  .object({ after: n, disk: n, offset: n, length: z.number().int().positive(), pattern: n.max(255) })
  .strict();
export type Inject = z.infer<typeof injectSchema>;

export const MISUSE_KINDS = {
  illegal: 'a call the live session’s state does not accept',
  ended: 'a call on a session that has ended',
  'unknown-id': 'a call naming a job id the API never handed out',
  'missing-disk': 'a start naming a disk the domain does not have',
  'second-start': 'a start while the one job an API allows is alive',
} as const;
export type MisuseKind = keyof typeof MISUSE_KINDS;

export const opSchema = z.discriminatedUnion('op', [
  z
    .object({
      op: z.literal('write'),
      disk: n,
      offset: n,
      length: z.number().int().positive(),
      pattern: n.max(255),
    })
    .strict(),
  z.object({ op: z.literal('start'), disks: z.array(n).min(1), inject: z.array(injectSchema) }).strict(),
  z
    .object({ op: z.literal('read'), session: n, disk: n, offset: n, length: z.number().int().positive() })
    .strict(),
  /** the session's `event`-th accepted call (its machine says which calls its state accepts) */
  z
    .object({ op: z.literal('call'), session: n, event: n, inject: z.array(injectSchema).optional() })
    .strict(),
  z.object({ op: z.literal('stop'), session: n, inject: z.array(injectSchema).optional() }).strict(),
  /** time passes with nobody calling (a mirror job gets ready, say) */
  z.object({ op: z.literal('wait'), ms: z.number().int().min(1).max(60_000) }).strict(),
  /** a checkpoint in one of two chains (two backup destinations) */
  z.object({ op: z.literal('checkpoint'), chain: n.max(1) }).strict(),
  /** delete the `checkpoint`-th live checkpoint */
  z.object({ op: z.literal('delete-checkpoint'), checkpoint: n }).strict(),
  /** an incremental pull backup from the `checkpoint`-th live checkpoint: begin, read its dirty maps, end */
  z.object({ op: z.literal('incremental'), checkpoint: n, disks: z.array(n).min(1) }).strict(),
  /** QEMU quits and starts again on the same images, or is killed (kill -9) and started again */
  z.object({ op: z.literal('restart'), crash: z.boolean() }).strict(),
  z
    .object({
      op: z.literal('misuse'),
      kind: z.enum(Object.keys(MISUSE_KINDS) as [MisuseKind, ...MisuseKind[]]),
      session: n,
      event: n,
    })
    .strict(),
]);
export type OpSpec = z.infer<typeof opSchema>;

/**
 * Operations as saved before sessions had machines: `stats` was the one call on a live session; it is the
 * session's first accepted call now.
 */
export const savedOpSchema = z.preprocess(
  (v) =>
    v !== null && typeof v === 'object' && (v as { op?: unknown }).op === 'stats'
      ? { op: 'call', session: (v as { session?: unknown }).session, event: 0 }
      : v,
  opSchema,
);
