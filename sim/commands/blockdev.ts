import { text } from '../../contract/versions.ts';
import { checkOpBlocked } from '../block/op-blockers.ts';
import type { SimCore } from '../core/core.ts';
import { blockdevAdd } from '../drivers/open-node.ts';
import { generic } from '../util/qmp-error.ts';

export { blockdevAdd };

/** qmp_blockdev_del */
export function blockdevDel(core: SimCore, nodeName: string): void {
  const bs = core.graph.find(nodeName);
  if (!bs) throw generic(text(core.version, 'node.delNotFound', nodeName));
  if (core.graph.hasBlk(bs)) throw generic(`Node ${nodeName} is in use`);
  checkOpBlocked(bs, 'drive-del');
  if (!bs.monitorOwned) throw generic(`Node ${nodeName} is not owned by the monitor`);
  // refcnt > 1: another node or a job still holds it
  if (bs.parents.length > 0 || bs.extraRefs > 0) throw generic(`Block device ${nodeName} is in use`);
  bs.monitorOwned = false;
  core.graph.collect(bs);
  core.refreshPerms();
}
