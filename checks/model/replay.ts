import type { OpSpec } from '../../contract/formats/saved-runs.ts';
import type { Port } from '../../contract/port.ts';
import { PROPERTY_IDS, type PropertyId } from '../../contract/properties.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { runOps } from './check.ts';
import { Violation } from './world.ts';

/** The outcome of one run of operations: the first property it broke (of those watched), or none. */
export interface Outcome {
  violated?: PropertyId;
  detail?: string;
}

export async function replayOps(
  proposal: Proposal,
  port: Port,
  ops: OpSpec[],
  watch?: PropertyId[],
): Promise<Outcome> {
  const focus = new Set<PropertyId>(watch ?? PROPERTY_IDS);
  try {
    await runOps(proposal, port, ops, focus);
    return {};
  } catch (e) {
    if (e instanceof Violation) return { violated: e.property, detail: e.detail };
    throw e;
  } finally {
    await port.close();
  }
}
