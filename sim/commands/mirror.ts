import type { CommandArgs } from '../../contract/qapi/generated/commands.ts';
import { text } from '../../contract/versions.ts';
import type { BlockNode } from '../block/graph.ts';
import { checkOpBlocked } from '../block/op-blockers.ts';
import type { SimCore } from '../core/core.ts';
import { MirrorJob } from '../jobs/mirror.ts';
import { generic } from '../util/qmp-error.ts';
import { checkJobId, deviceName, lookupBs } from './common.ts';

/** qmp_get_root_bs: a mirror's source must be a root node (only BlockBackends above it) */
function rootBs(core: SimCore, name: string): BlockNode {
  const bs = lookupBs(core, name, name);
  if (bs.parents.some((p) => p.parent.kind !== 'blk' || p.stayAtNode))
    throw generic('Need a root block node');
  return bs;
}

/** blockdev-mirror (blockdev_mirror_common + mirror_start_job) */
export function blockdevMirror(core: SimCore, a: CommandArgs<'blockdev-mirror'>): void {
  const bs = rootBs(core, a.device);
  const target = lookupBs(core, a.target, a.target);
  const granularity = a.granularity ?? 65536;
  if (a.granularity !== undefined) {
    if (granularity < 512 || granularity > 64 * 1048576)
      throw generic("Parameter 'granularity' expects a value in range [512B, 64MB]");
    if ((granularity & (granularity - 1)) !== 0)
      throw generic(text(core.version, 'mirror.granularityPowerOf2'));
  }
  checkOpBlocked(bs, 'mirror-source');
  checkOpBlocked(target, 'mirror-target');
  if (bs === target) throw generic("Can't mirror node into itself");
  if (a.sync === 'incremental' || a.sync === 'bitmap')
    throw generic("Sync mode '" + a.sync + "' not supported");
  const sync = a.sync === 'top' && !bs.backing ? 'full' : a.sync;
  const id = a['job-id'] ?? deviceName(core, bs);
  const job = MirrorJob.create(core, {
    id,
    autoFinalize: a['auto-finalize'] ?? true,
    autoDismiss: a['auto-dismiss'] ?? true,
    speed: 0,
    source: bs,
    target,
    sync,
    zeroTarget: a.sync === 'full',
    granularity,
    bufSize: a['buf-size'] ?? 16 * 1048576,
    filterNodeName: a['filter-node-name'],
    ownsTarget: false,
    copyMode: a['copy-mode'],
  });
  try {
    checkJobId(core, id);
  } catch (e) {
    job.txn.jobs.length = 0;
    job.earlyFail();
    throw e;
  }
  job.create();
  try {
    job.attach();
    core.refreshPerms();
    if (a.speed !== undefined) {
      if (a.speed < 0) throw generic("Parameter 'speed' expects a non-negative value");
      job.speed = a.speed;
    }
  } catch (e) {
    job.txn.jobs.length = 0;
    job.earlyFail();
    job.dismiss();
    throw e;
  }
  job.start();
}
