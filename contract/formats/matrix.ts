import { z } from 'zod';
import { simVsRealClass } from './divergence-classes.ts';
import { parseWith } from './parse-with.ts';
import { checkStatus } from './results.ts';

/**
 * The version matrix file (fleece-lab matrix): check × QEMU version, the real QEMU's status and the
 * simulator's (same profile), whether they agree, and for every disagreement a class and a reason; and per
 * check, whether consecutive real versions behave the same.
 */
export const matrixCell = z.object({
  real: checkStatus.optional(),
  sim: checkStatus.optional(),
  /** null: not compared (one side did not run) */
  agree: z.boolean().nullable(),
  class: simVsRealClass.optional(),
  reason: z.string().optional(),
});
export type MatrixCell = z.infer<typeof matrixCell>;

export const versionStep = z.object({
  from: z.string(),
  to: z.string(),
  /** null: one of the two real transcripts is missing */
  same: z.boolean().nullable(),
  where: z.string().optional(),
});
export type VersionStep = z.infer<typeof versionStep>;

export const matrixRow = z.object({
  id: z.string(),
  title: z.string().optional(),
  cells: z.record(z.string(), matrixCell),
  /** the differential comparison of real transcripts between consecutive versions */
  versions: z.array(versionStep),
});
export type MatrixRow = z.infer<typeof matrixRow>;

const targetInfo = z.object({ target: z.string(), version: z.string(), package: z.string() });

export const matrixSchema = z.object({
  tool: z.literal('fleece-lab'),
  kind: z.literal('matrix'),
  createdAt: z.string(),
  shard: z.string().optional(),
  versions: z.array(
    z.object({ version: z.string(), real: targetInfo.optional(), sim: targetInfo.optional() }),
  ),
  rows: z.array(matrixRow),
});
export type Matrix = z.infer<typeof matrixSchema>;

export function parseMatrix(raw: unknown, where: string): Matrix {
  return parseWith(matrixSchema, raw, where);
}
