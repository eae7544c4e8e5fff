import { z } from 'zod';
import { savedOpSchema } from '../proposals/ops.ts';
import { divergenceClass } from './divergence-classes.ts';
import { parseWith } from './parse-with.ts';

/**
 * The report of `fleece-lab replay --traces DIR --versions ...` (differential replay): how many saved runs of
 * `fleece-lab check` were replayed on each version (simulator profile and real QEMU), and every divergence
 * with its class, a minimal trace, both sides' QMP traces and a command that replays it.
 */
export const divergenceSchema = z.object({
  id: z.string(),
  class: divergenceClass,
  /** the two sides compared: real:V and sim:V, or real:V1 and real:V2 */
  pair: z.tuple([z.string(), z.string()]),
  /** the same divergence on other pairs ('real:7.2 vs sim:7.2') */
  alsoOn: z.array(z.string()),
  signature: z.string(),
  step: z.string(),
  stepIndex: z.number().int(),
  a: z.unknown(),
  b: z.unknown(),
  path: z.string(),
  traces: z.number().int(),
  example: z.string(),
  proposal: z.string(),
  /** reports made before the VM domain replayed qemu-storage-daemon runs */
  domain: z.enum(['vm', 'qsd']).default('qsd'),
  minimal: z.array(savedOpSchema),
  shrunkFrom: z.number().int(),
  shrinkReplays: z.number().int(),
  simWrongAt: z.array(z.string()),
  note: z.string().optional(),
  qmp: z.object({ a: z.array(z.string()), b: z.array(z.string()) }),
  /** the minimal trace as a file `fleece-lab replay` reads, and the command */
  file: z.string().optional(),
  replay: z.string(),
});

export const differentialSchema = z.object({
  tool: z.literal('fleece-lab'),
  kind: z.literal('differential'),
  createdAt: z.string(),
  traceSource: z.string(),
  /** saved runs found, and replayed (the rest did not fit the time budget or --limit) */
  traces: z.number().int(),
  replayed: z.number().int(),
  proposals: z.record(z.number().int()),
  versions: z.array(
    z.object({
      version: z.string(),
      /** QEMU's own version string and Debian package of the real side */
      real: z.object({ target: z.string(), version: z.string(), package: z.string() }).optional(),
      replayed: z.number().int(),
      simReplayed: z.number().int(),
      skipped: z.number().int(),
      skipReasons: z.record(z.number().int()),
      broken: z.number().int(),
    }),
  ),
  outcome: z.string(),
  noiseKeys: z.array(z.string()),
  divergences: z.array(divergenceSchema),
  broken: z.array(z.object({ side: z.string(), source: z.string(), reason: z.string() })),
  durationMs: z.number(),
  shrinkMs: z.number(),
  jobs: z.number().int(),
});
export type DifferentialReport = z.infer<typeof differentialSchema>;
export type DivergenceEntry = DifferentialReport['divergences'][number];

export function parseDifferential(raw: unknown, where: string): DifferentialReport {
  return parseWith(differentialSchema, raw, where);
}
