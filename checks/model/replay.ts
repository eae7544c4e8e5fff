import type { Port } from '../../contract/port.ts';
import { PROPERTY_IDS, type PropertyId } from '../../contract/properties.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { runOps } from './check.ts';
import { type OpSpec, Violation } from './world.ts';

/**
 * The outcome of one run of operations: the first property it broke (of those watched), none, or unknown —
 * the QEMU did not start, died, or a wait ran out: that says nothing about a property.
 */
export interface Outcome {
  violated?: PropertyId;
  detail?: string;
  unknown?: string;
}

export async function replayOps(
  proposal: Proposal,
  start: () => Promise<Port>,
  ops: OpSpec[],
  watch?: PropertyId[],
): Promise<Outcome> {
  const focus = new Set<PropertyId>(watch ?? PROPERTY_IDS);
  let port: Port;
  try {
    port = await start();
  } catch (e) {
    return { unknown: `the target did not start: ${firstLine(e)}` };
  }
  try {
    await runOps(proposal, port, ops, focus);
    return {};
  } catch (e) {
    if (e instanceof Violation) return { violated: e.property, detail: e.detail };
    return { unknown: firstLine(e) };
  } finally {
    await port.close().catch(() => {});
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
