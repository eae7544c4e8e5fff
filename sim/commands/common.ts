import { text } from '../../spec/versions.ts';
import type { SimCore } from '../core.ts';
import type { BlockNode } from '../graph.ts';
import { generic } from '../qmp-error.ts';

/** bdrv_lookup_bs(device, node_name): a device (BlockBackend) name or a node name */
export function lookupBs(core: SimCore, device: string | undefined, nodeName: string | undefined): BlockNode {
  if (device !== undefined) {
    const dev = core.devices.get(device);
    if (dev?.blk.bs) return dev.blk.bs;
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
  if (core.jobs.has(id)) throw generic(text(core.version, 'job.idInUse', id));
}

/** bdrv_get_device_name: the BlockBackend name of a node, or '' */
export function deviceName(core: SimCore, node: BlockNode): string {
  for (const d of core.devices.values()) if (d.blk.bs === node) return d.id;
  return '';
}
