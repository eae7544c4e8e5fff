import { text } from '../../contract/versions.ts';
import type { BlockBackend, BlockNode } from '../block/graph.ts';
import type { SimCore } from '../core/core.ts';
import { jobsOf } from '../jobs/job.ts';
import { generic } from '../util/qmp-error.ts';

/**
 * blk_by_name: a named BlockBackend (-drive, or -device drive=ID with a legacy drive). Guest devices made
 * with -blockdev + -device (the only kind the simulator has) sit on anonymous backends: their qdev id is
 * no device name.
 */
export function namedBlk(core: SimCore, name: string): BlockBackend | undefined {
  for (const b of core.blks) if (b.name !== undefined && b.name === name) return b;
  return undefined;
}

/** bdrv_lookup_bs(device, node_name): a device (named BlockBackend) name or a node name */
export function lookupBs(core: SimCore, device: string | undefined, nodeName: string | undefined): BlockNode {
  if (device !== undefined) {
    const blk = namedBlk(core, device);
    if (blk?.bs) return blk.bs;
    if (blk) throw generic(`Device '${device}' has no medium`);
  }
  if (nodeName !== undefined) {
    const n = core.graph.find(nodeName);
    if (n) return n;
  }
  throw generic(text(core.version, 'node.notFoundDeviceOrNode', device ?? '', nodeName ?? ''));
}

/** id_wellformed (util/id.c) */
export function idWellformed(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9\-._]*$/.test(id);
}

/** job_create's id checks */
export function checkJobId(core: SimCore, id: string): void {
  if (!idWellformed(id)) throw generic(text(core.version, 'job.invalidId', id));
  if (jobsOf(core).has(id)) throw generic(text(core.version, 'job.idInUse', id));
}

/** bdrv_get_device_name: the name of the named BlockBackend on a node, or '' */
export function deviceName(_core: SimCore, node: BlockNode): string {
  for (const p of node.parents)
    if (p.parent.kind === 'blk' && p.parent.blk.name !== undefined) return p.parent.blk.name;
  return '';
}
