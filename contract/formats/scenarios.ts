import { z } from 'zod';
import { parseJsonText } from '../json-text.ts';
import { type OpSpec, savedOpSchema } from '../proposals/ops.ts';
import { parseWith } from './parse-with.ts';

/**
 * A scenario: a run of the property checker written down by hand, with the outcome it must have on every
 * version it names — the property it breaks, or none, and the properties it must reach (a run that breaks
 * nothing proves something only about the properties it reached). `fleece-lab replay SCENARIO --target T`
 * runs one; checks/model/replay.qemu.test.ts runs them all on the simulator and real qemu-system.
 */
export const scenarioSchema = z.object({
  scenario: z.string().min(1),
  proposal: z.string(),
  domain: z.enum(['vm', 'qsd']),
  /** the property the run breaks; absent: none does */
  fails: z.string().optional(),
  reaches: z.array(z.string()).default([]),
  /** the QEMU versions it is meant for (5.2 lacks copy-before-write, for instance) */
  versions: z.array(z.string()).min(1),
  ops: z.array(savedOpSchema),
});
export type Scenario = z.infer<typeof scenarioSchema> & { ops: OpSpec[] };

export function isScenario(raw: unknown): boolean {
  return typeof raw === 'object' && raw !== null && 'scenario' in raw;
}

/** A scenario file, or one line naming the file and the field that is wrong. */
export function parseScenario(text: string, file: string): Scenario {
  return parseWith(scenarioSchema, parseJsonText(text, file), file) as Scenario;
}
