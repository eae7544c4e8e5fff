import type { Port } from '../../contract/port.ts';
import { PROPERTY_IDS, type PropertyId } from '../../contract/properties.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { type OpSpec, Violation, World } from './world.ts';

/**
 * The outcome of one run of operations: the first property it broke (of those watched), none, or unknown —
 * the QEMU did not start, died, or a wait ran out: that says nothing about a property.
 */
export interface Outcome {
  violated?: PropertyId;
  detail?: string;
  unknown?: string;
  /** the properties the run reached a check of */
  exercised: PropertyId[];
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
    return { unknown: `the target did not start: ${firstLine(e)}`, exercised: [] };
  }
  const w = new World(proposal, port, { disks: 2, diskSize: 256 * 1024, focus });
  const exercised = () => [...w.exercised];
  try {
    await w.setup();
    for (const op of ops) await w.run(op);
    await w.finish();
    return { exercised: exercised() };
  } catch (e) {
    if (e instanceof Violation) return { violated: e.property, detail: e.detail, exercised: exercised() };
    return { unknown: firstLine(e), exercised: exercised() };
  } finally {
    await port.close().catch(() => {});
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
