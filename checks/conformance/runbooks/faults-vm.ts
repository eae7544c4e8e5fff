import { defineRunbook, type Runbook, type Step } from './define.ts';
import { onBlkdebug } from './faults.ts';
import {
  backup,
  blockdevDel,
  cancelAndWait,
  KiB,
  MiB,
  NBD_SOCKET,
  nbdExport,
  nbdStart,
  qcow2File,
  SOURCE_DISK,
} from './steps.ts';
import { VD0 } from './vm-machine.ts';

/**
 * A full scratch file during a pull backup of a running VM, as libvirt 9.0 lowers virDomainBackupBegin: a
 * qcow2 scratch overlay backed by the guest's disk node, blockdev-backup sync=none into it, the overlay
 * exported over NBD. The scratch's data writes fail with ENOSPC (blkdebug errno 28). Recorded separately:
 * what the guest gets for its write and then reads (its device's own BlockBackend, HMP qemu-io -d), and what
 * the backup's reader gets over NBD, under each on-cbw-error. qemu-io on the device does not go through
 * virtio-blk's werror policy: a real guest's ENOSPC would stop the VM (werror=enospc, the default) where
 * here the write only fails.
 */
const SCRATCH = qcow2File('scratch.qcow2', 4 * MiB);
const guest = (cmd: string): Step => ({ io: cmd, device: 'vd0' });
const reader: Step = {
  nbd: { socket: NBD_SOCKET, export: 'vda', reads: [[0, 128 * KiB]] },
};

function pullBackupEnospc(onCbwError?: 'break-guest-write' | 'break-snapshot'): Runbook['steps'] {
  return [
    { qmp: 'cont' },
    onBlkdebug('qcow2', 'scratch', '@scratch.qcow2', [{ event: 'write_aio', errno: 28 }], {
      backing: 'source',
    }),
    backup('backup-vda', 'source', 'scratch', 'none', onCbwError ? { 'on-cbw-error': onCbwError } : {}),
    nbdStart,
    nbdExport('e', 'scratch', { name: 'vda' }),
    reader,
    guest('write -P 0x22 64k 4k'),
    guest('read -v 64k 16'),
    reader,
    { qmp: 'query-jobs' },
    { qmp: 'query-block-exports' },
    guest('write -P 0x23 64k 4k'),
    reader,
    { qmp: 'block-export-del', args: { id: 'e' } },
    { sleepMs: 100 },
    // a version without backup's on-cbw-error refuses the job: no job to wait for (the live 7.2 run)
    ...(onCbwError
      ? [{ qmp: 'block-job-cancel', args: { device: 'backup-vda' } }, { sleepMs: 200 }]
      : cancelAndWait('backup-vda')),
    blockdevDel('scratch'),
    guest('read -v 64k 16'),
  ];
}

export const pullBackupScratchEnospc = defineRunbook({
  id: 'faults/vm-pull-backup-scratch-enospc',
  title:
    "a VM's pull backup (libvirt's lowering) whose qcow2 scratch is full (ENOSPC): the guest's write fails, its disk keeps the old data, the reader keeps its point in time",
  flavour: 'system',
  files: [SOURCE_DISK, SCRATCH],
  devices: [VD0],
  steps: pullBackupEnospc(),
});

export const pullBackupScratchEnospcBreakSnapshot = defineRunbook({
  id: 'faults/vm-pull-backup-scratch-enospc-break-snapshot',
  title:
    "the same with on-cbw-error=break-snapshot: the guest's write succeeds; what the backup's reader then gets",
  flavour: 'system',
  needs: ['backup-on-cbw-error'],
  files: [SOURCE_DISK, SCRATCH],
  devices: [VD0],
  steps: pullBackupEnospc('break-snapshot'),
});

export const FAULTS_VM = [pullBackupScratchEnospc, pullBackupScratchEnospcBreakSnapshot];
