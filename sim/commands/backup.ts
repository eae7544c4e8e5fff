import type { CommandArgs } from '../../contract/qapi/generated/commands.ts';
import type { BlockNode } from '../block/graph.ts';
import { checkOpBlocked } from '../block/op-blockers.ts';
import type { SimCore } from '../core/core.ts';
import type { OnCbwError } from '../drivers/copy-before-write.ts';
import { FileDriver } from '../drivers/file.ts';
import { openImplicitNode } from '../drivers/open-node.ts';
import { FsError } from '../host/fs.ts';
import { BackupJob, type BitmapMode, type SyncMode } from '../jobs/backup.ts';
import type { JobTxn } from '../jobs/job.ts';
import { generic } from '../util/qmp-error.ts';
import { checkJobId, deviceName, lookupBs } from './common.ts';

export interface PreparedJob {
  job: BackupJob;
  abort(): void;
}

/** a backup as a transaction action: blockdev-backup, or drive-backup (which opens its target itself) */
export type BackupAction =
  | { type: 'blockdev-backup'; data: CommandArgs<'blockdev-backup'> }
  | { type: 'drive-backup'; data: CommandArgs<'drive-backup'> };

/**
 * blockdev-backup / drive-backup as a transaction action (blockdev.c do_backup_common + backup_job_create +
 * block_job_create), in QEMU's order of checks. The job is created, not started.
 */
export function prepareBackup(core: SimCore, action: BackupAction, txn?: JobTxn): PreparedJob {
  const a = action.data;
  const bs = lookupBs(core, a.device, a.device);
  let target: BlockNode;
  let ownsTarget = false;
  if (action.type === 'blockdev-backup') target = lookupBs(core, a.target, a.target);
  else {
    target = openDriveBackupTarget(core, bs, action.data);
    ownsTarget = true;
  }
  const dropOwned = () => {
    if (ownsTarget) core.graph.collect(target);
  };
  try {
    let sync: SyncMode = a.sync;
    let bitmapMode: BitmapMode | undefined = a['bitmap-mode'];
    if ((sync === 'bitmap' || sync === 'incremental') && a.bitmap === undefined)
      throw generic(`must provide a valid bitmap name for '${sync}' sync mode`);
    if (sync === 'incremental') {
      if (bitmapMode !== undefined && bitmapMode !== 'on-success')
        throw generic("Bitmap sync mode must be 'on-success' when using sync mode 'incremental'");
      bitmapMode = 'on-success';
      sync = 'bitmap';
    }
    let bitmap: import('../block/bitmaps.ts').Bitmap | undefined;
    if (a.bitmap !== undefined) {
      bitmap = bs.bitmaps.get(a.bitmap);
      if (!bitmap) throw generic(`Bitmap '${a.bitmap}' could not be found`);
      if (bitmapMode === undefined) throw generic('Bitmap sync mode must be given when providing a bitmap');
      if (bitmap.busy)
        throw generic(`Bitmap '${a.bitmap}' is currently in use by another operation and cannot be used`);
      if (sync === 'none') throw generic(`sync mode '${sync}' does not produce meaningful bitmap outputs`);
      if (bitmapMode === 'never' && sync !== 'bitmap')
        throw generic(
          `Bitmap sync mode 'never' has no meaningful effect when combined with sync mode '${sync}'`,
        );
    }
    if (a.bitmap === undefined && bitmapMode !== undefined)
      throw generic('Cannot specify bitmap sync mode without a bitmap');

    // backup_job_create
    if (bs === target) throw generic('Source and target cannot be the same');
    checkOpBlocked(bs, 'backup-source');
    checkOpBlocked(target, 'backup-target');
    const perf = a['x-perf'] ?? {};
    const maxWorkers = perf['max-workers'] ?? 64;
    if (maxWorkers < 1 || maxWorkers > 2147483647)
      throw generic('max-workers must be between 1 and 2147483647');
    const maxChunk = perf['max-chunk'] ?? 0;
    if (maxChunk < 0) throw generic('max-chunk must be zero (which means no limit) or positive');
    if (bs.size !== target.size) throw generic('Source and target image have different sizes');
    const id = a['job-id'] ?? deviceName(core, bs);
    const setup = {
      id,
      autoFinalize: a['auto-finalize'] ?? true,
      autoDismiss: a['auto-dismiss'] ?? true,
      speed: 0,
      source: bs,
      target,
      sync,
      bitmap,
      bitmapMode: bitmapMode ?? 'on-success',
      filterNodeName: a['filter-node-name'],
      onTargetError: a['on-target-error'] ?? 'report',
      onSourceError: a['on-source-error'] ?? 'report',
      onCbwError: a['on-cbw-error'] as OnCbwError | undefined,
      discardSource: a['discard-source'] === true,
      ownsTarget,
    };
    const job = BackupJob.create(core, setup, txn);
    try {
      if (maxChunk && maxChunk < job.bcs.clusterSize)
        throw generic(
          `Required max-chunk (${maxChunk}) is less than backup cluster size (${job.bcs.clusterSize})`,
        );
      checkJobId(core, id);
    } catch (e) {
      job.txn.jobs.splice(job.txn.jobs.indexOf(job), 1);
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
      // job_early_fail
      job.txn.jobs.splice(job.txn.jobs.indexOf(job), 1);
      job.earlyFail();
      job.dismiss();
      throw e;
    }
    if (bitmap) bitmap.busy = true;
    return {
      job,
      abort: () => job.cancel(true),
    };
  } catch (e) {
    dropOwned();
    throw e;
  }
}

/** drive-backup creates (mode absolute-paths) or opens (mode existing) its target image. */
function openDriveBackupTarget(core: SimCore, bs: BlockNode, a: CommandArgs<'drive-backup'>): BlockNode {
  const mode = a.mode ?? 'absolute-paths';
  const file = a.target;
  let format = a.format;
  const srcFormat = bs.driver.name;
  if (format !== undefined && !['raw', 'qcow2'].includes(format))
    throw generic(`Unknown file format '${format}'`);
  if (mode === 'absolute-paths') {
    format ??= srcFormat === 'qcow2' ? 'qcow2' : 'raw';
    const sourceFile = bs.file?.driver instanceof FileDriver ? bs.file.driver.filename : undefined;
    try {
      if (format === 'qcow2') {
        const backing = a.sync === 'none' || a.sync === 'top' ? sourceFile : undefined;
        core.fs.createQcow2(file, {
          size: bs.size,
          clusterSize: 65536,
          backingFile: backing,
          backingFormat: backing ? srcFormat : undefined,
        });
      } else core.fs.createRaw(file, bs.size);
    } catch (e) {
      if (e instanceof FsError) throw generic(`Could not create '${file}': ${e.reason}`);
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') throw generic(`Could not create '${file}': No such file or directory`);
      throw e;
    }
  } else if (!core.fs.exists(file)) {
    throw generic(`Could not open '${file}': No such file or directory`);
  }
  if (format === undefined) {
    const probe = core.fs.openQcow2(file, true);
    format = probe ? 'qcow2' : 'raw';
    probe?.store.close();
  }
  // sync=none: BDRV_O_NO_BACKING, then the source itself becomes the target's backing (bdrv_set_backing_hd)
  const opts: Record<string, unknown> = { driver: format, file: { driver: 'file', filename: file } };
  if (a.sync === 'none' && format === 'qcow2') opts.backing = bs.nodeName;
  const node = openImplicitNode(core, opts);
  // An implicit node: not the monitor's, gone with the job.
  node.monitorOwned = false;
  return node;
}
