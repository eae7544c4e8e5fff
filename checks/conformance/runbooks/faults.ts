import { defineRunbook, type Runbook } from './define.ts';
import {
  backup,
  blockdevAdd,
  blockdevDel,
  cancelAndWait,
  cbwNode,
  type Json,
  KiB,
  MiB,
  nbdClient,
  nbdExport,
  nbdStart,
  qcow2File,
  queryNodes,
  rawFile,
  rawNode,
  SOURCE_DISK,
  snapshotAccess,
  throttleNode,
  waitJob,
} from './steps.ts';

/**
 * Faults, the same on both sides (issue 7): I/O errors injected on the copy target with blkdebug (errno 5 =
 * EIO, 28 = ENOSPC), a slow target, and what each outcome looks like: a failed guest write, a broken
 * snapshot, a backup job's BLOCK_JOB_ERROR and what it then does per on-target-error / on-source-error.
 * The simulator's seeded fault options reproduce the same outcomes without blkdebug
 * (conformance/faults-equivalence.test.ts).
 */

const tempRaw = rawFile('temp.raw', 4 * MiB);
const tempQcow2 = qcow2File('temp.qcow2', 4 * MiB);

/** a blkdebug node `dbg` under the format driver of `name`: the format driver raises write_aio/read_aio */
export function onBlkdebug(
  format: 'raw' | 'qcow2',
  name: string,
  file: string,
  rules: Json[],
  extra: Json = {},
) {
  return blockdevAdd({
    driver: format,
    'node-name': name,
    file: {
      driver: 'blkdebug',
      'node-name': `${name}-dbg`,
      image: { driver: 'file', filename: file },
      'inject-error': rules,
    },
    ...extra,
  });
}

/** every data write of the target fails with EIO (what the simulator's error rates of 1 are) */
const eioAlways = { event: 'write_aio', errno: 5 };

const cbwTeardown = [blockdevDel('acc'), blockdevDel('cbw'), blockdevDel('temp'), queryNodes];

export const cbwEioBreakGuestWrite = defineRunbook({
  id: 'faults/cbw-eio-break-guest-write',
  title:
    'copy-before-write, every target write fails with EIO, on-cbw-error=break-guest-write: guest writes fail, the snapshot stays',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access', 'cbw-on-cbw-error'],
  files: [SOURCE_DISK, tempRaw],
  steps: [
    rawNode('source', '@src.raw'),
    onBlkdebug('raw', 'temp', '@temp.raw', [eioAlways]),
    cbwNode('cbw', 'source', 'temp', { 'on-cbw-error': 'break-guest-write' }),
    snapshotAccess('acc', 'cbw'),
    { io: 'write -P 0x22 0 64k', node: 'cbw' },
    { io: 'read -P 0x11 0 64k', node: 'source' },
    { io: 'read -P 0x11 0 64k', node: 'acc' },
    { io: 'write -P 0x22 1M 4k', node: 'cbw' },
    { io: 'read -P 0x11 1M 64k', node: 'source' },
    { io: 'read -P 0x11 1M 64k', node: 'acc' },
    ...cbwTeardown,
  ],
});

export const cbwEioBreakSnapshot = defineRunbook({
  id: 'faults/cbw-eio-break-snapshot',
  title:
    'copy-before-write, target write fails once with EIO, on-cbw-error=break-snapshot: the guest write succeeds, every snapshot read fails',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access', 'cbw-on-cbw-error'],
  files: [SOURCE_DISK, tempRaw],
  steps: [
    rawNode('source', '@src.raw'),
    onBlkdebug('raw', 'temp', '@temp.raw', [eioAlways]),
    cbwNode('cbw', 'source', 'temp', { 'on-cbw-error': 'break-snapshot' }),
    snapshotAccess('acc', 'cbw'),
    { io: 'read -P 0x11 0 64k', node: 'acc' },
    { io: 'write -P 0x22 0 64k', node: 'cbw' },
    { io: 'read -P 0x22 0 64k', node: 'source' },
    { io: 'read -P 0x11 0 64k', node: 'acc' },
    { io: 'read -P 0x11 1M 64k', node: 'acc' },
    { io: 'write -P 0x33 1M 64k', node: 'cbw' },
    { io: 'read -P 0x33 1M 64k', node: 'source' },
    { io: 'read 2M 4k', node: 'acc' },
    ...cbwTeardown,
  ],
});

export const cbwEnospcQcow2 = defineRunbook({
  id: 'faults/cbw-enospc-qcow2-break-guest-write',
  title:
    'copy-before-write into a qcow2 target whose data write fails with ENOSPC: the guest write fails with ENOSPC',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE_DISK, tempQcow2],
  steps: [
    rawNode('source', '@src.raw'),
    onBlkdebug('qcow2', 'temp', '@temp.qcow2', [{ event: 'write_aio', errno: 28, once: true }]),
    cbwNode('cbw', 'source', 'temp'),
    snapshotAccess('acc', 'cbw'),
    { io: 'write -P 0x22 64k 4k', node: 'cbw' },
    { io: 'read -P 0x11 0 128k', node: 'acc' },
    { io: 'read -P 0x11 0 128k', node: 'source' },
    { io: 'write -P 0x22 64k 4k', node: 'cbw' },
    { io: 'read -P 0x11 0 128k', node: 'acc' },
    ...cbwTeardown,
  ],
});

export const cbwEioOneCluster = defineRunbook({
  id: 'faults/cbw-eio-sector-break-guest-write',
  title:
    'a lasting EIO on one sector of the target: only guest writes whose copy touches it fail, every time',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE_DISK, tempRaw],
  steps: [
    rawNode('source', '@src.raw'),
    onBlkdebug('raw', 'temp', '@temp.raw', [{ event: 'write_aio', errno: 5, sector: 2048 }]),
    cbwNode('cbw', 'source', 'temp'),
    snapshotAccess('acc', 'cbw'),
    { io: 'write -P 0x22 0 64k', node: 'cbw' },
    { io: 'write -P 0x22 1M 4k', node: 'cbw' },
    { io: 'write -P 0x22 1M 4k', node: 'cbw' },
    { io: 'write -P 0x22 1032k 4k', node: 'cbw' },
    { io: 'read -P 0x11 0 64k', node: 'acc' },
    { io: 'read -P 0x11 1M 64k', node: 'acc' },
    { io: 'read -P 0x11 1M 64k', node: 'source' },
    ...cbwTeardown,
  ],
});

/** legacy recipe (FACTS §4a) with the overlay's data writes failing */
export const legacyTargetEio = defineRunbook({
  id: 'faults/backup-sync-none-target-eio',
  title:
    "legacy fleecing, the overlay's writes fail with EIO: guest writes fail, the job runs on without an event",
  flavour: 'system',
  files: [SOURCE_DISK, tempQcow2],
  steps: [
    rawNode('source', '@src.raw'),
    onBlkdebug('qcow2', 'temp', '@temp.qcow2', [eioAlways], { backing: 'source' }),
    backup('fleece', 'source', 'temp', 'none', { 'filter-node-name': 'fl' }),
    { io: 'write -P 0x22 0 64k', node: 'fl' },
    { io: 'read -P 0x11 0 64k', node: 'source' },
    { io: 'read -P 0x11 0 64k', node: 'temp' },
    { qmp: 'query-jobs' },
    { io: 'write -P 0x22 2M 4k', node: 'fl' },
    { io: 'read -P 0x11 2M 64k', node: 'temp' },
    ...cancelAndWait('fleece'),
    blockdevDel('temp'),
  ],
});

/** backup sync=full into a target whose first data write fails with `errno` */
function backupToFailing(
  id: string,
  title: string,
  errno: number,
  onTargetError: string | undefined,
  tail: Runbook['steps'],
  once = true,
): Runbook {
  const onError = onTargetError ? { 'on-target-error': onTargetError } : {};
  return {
    id,
    title,
    files: [SOURCE_DISK, tempRaw],
    steps: [
      rawNode('source', '@src.raw'),
      onBlkdebug('raw', 'temp', '@temp.raw', [
        once ? { event: 'write_aio', errno, once } : { event: 'write_aio', errno },
      ]),
      backup('j', 'source', 'temp', 'full', { 'auto-dismiss': false, ...onError }),
      ...tail,
    ],
  };
}

const concluded = [
  waitJob('j', 'concluded'),
  { qmp: 'query-jobs' },
  { qmp: 'query-block-jobs' },
  { qmp: 'job-dismiss', args: { id: 'j' } },
  waitJob('j', 'null'),
];

export const backupReport = defineRunbook(
  backupToFailing(
    'faults/backup-target-eio-report',
    'backup to a target whose writes fail with EIO, on-target-error=report (default): BLOCK_JOB_ERROR, the job ends with the error',
    5,
    undefined,
    concluded,
    false,
  ),
);

export const backupIgnore = defineRunbook(
  backupToFailing(
    'faults/backup-target-eio-ignore',
    'on-target-error=ignore: BLOCK_JOB_ERROR action ignore, the job retries and completes',
    5,
    'ignore',
    concluded,
  ),
);

const stopped = [
  waitJob('j', 'paused'),
  { qmp: 'query-block-jobs' },
  { qmp: 'query-jobs' },
  { qmp: 'block-job-resume', args: { device: 'j' } },
  ...concluded,
];

export const backupStop = defineRunbook(
  backupToFailing(
    'faults/backup-target-eio-stop',
    'on-target-error=stop: BLOCK_JOB_ERROR action stop, the job pauses with io-status failed; resumed, it completes',
    5,
    'stop',
    stopped,
  ),
);

export const backupEnospcEio = defineRunbook(
  backupToFailing(
    'faults/backup-target-eio-enospc',
    'on-target-error=enospc with EIO: reported like report',
    5,
    'enospc',
    concluded,
  ),
);

export const backupEnospcEnospc = defineRunbook(
  backupToFailing(
    'faults/backup-target-enospc-enospc',
    'on-target-error=enospc with ENOSPC: the job stops with io-status nospace; resumed, it completes',
    28,
    'enospc',
    stopped,
  ),
);

export const backupSourceEio = defineRunbook({
  id: 'faults/backup-source-eio-report',
  title: 'backup whose source read fails with EIO: BLOCK_JOB_ERROR operation read',
  files: [SOURCE_DISK, tempRaw],
  steps: [
    onBlkdebug('raw', 'source', '@src.raw', [{ event: 'read_aio', errno: 5, once: true }]),
    rawNode('temp', '@temp.raw'),
    backup('j', 'source', 'temp', 'full', { 'auto-dismiss': false }),
    ...concluded,
  ],
});

/**
 * A slow target: a throttle filter over the copy target, its throttle group limited to 1 KiB/s of writes.
 * One 64 KiB write straight to the throttle node fills the bucket first, so every copy the filter makes
 * afterwards would wait about a minute, far past cbw-timeout=1 (s): no copy finishes in time, on any
 * machine. (The copy goes on in the background; removing the filter drains it.)
 */
function slowTargetSteps(onCbwError: 'break-guest-write' | 'break-snapshot'): Runbook['steps'] {
  return [
    rawNode('source', '@src.raw'),
    rawNode('temp', '@temp.raw'),
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg0', limits: { 'bps-write': 16384 } } },
    throttleNode('slow', 'tg0', 'temp'),
    { io: 'write -P 0 0 64k', node: 'slow' },
    cbwNode('cbw', 'source', 'slow', { 'cbw-timeout': 1, 'on-cbw-error': onCbwError }),
    snapshotAccess('acc', 'cbw'),
  ];
}
const slowTeardown = [
  blockdevDel('acc'),
  blockdevDel('cbw'),
  blockdevDel('slow'),
  { qmp: 'object-del', args: { id: 'tg0' } },
  blockdevDel('temp'),
];

export const cbwTimeoutBreakGuestWrite = defineRunbook({
  id: 'faults/cbw-timeout-break-guest-write',
  title:
    'a copy slower than cbw-timeout, on-cbw-error=break-guest-write: the guest write fails with ETIMEDOUT, the snapshot stays',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access', 'cbw-timeout'],
  files: [SOURCE_DISK, tempRaw],
  steps: [
    ...slowTargetSteps('break-guest-write'),
    { io: 'write -P 0x22 1M 64k', node: 'cbw' },
    { io: 'read -P 0x11 1M 64k', node: 'source' },
    { io: 'read -P 0x11 1M 64k', node: 'acc' },
    { io: 'read -P 0x11 2M 64k', node: 'acc' },
    ...slowTeardown,
  ],
});

export const cbwTimeoutBreakSnapshot = defineRunbook({
  id: 'faults/cbw-timeout-break-snapshot',
  title:
    'a copy slower than cbw-timeout, on-cbw-error=break-snapshot: the guest write succeeds, the snapshot is broken',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access', 'cbw-timeout'],
  files: [SOURCE_DISK, tempRaw],
  steps: [
    ...slowTargetSteps('break-snapshot'),
    { io: 'read -P 0x11 1M 64k', node: 'acc' },
    { io: 'write -P 0x22 1M 64k', node: 'cbw' },
    { io: 'read -P 0x22 1M 64k', node: 'source' },
    { io: 'read -P 0x11 1M 64k', node: 'acc' },
    { io: 'read -P 0x11 2M 64k', node: 'acc' },
    ...slowTeardown,
  ],
});

/**
 * What NBD clients see (qemu-storage-daemon, no devices): the guest's view is the filter exported writable
 * as "disk", the point in time is snapshot-access exported as "fleece".
 */
function nbdFleecing(id: string, title: string, cbwOpts: Json, rules: Json[]) {
  return defineRunbook({
    id,
    title,
    needs: ['copy-before-write', 'snapshot-access', 'cbw-on-cbw-error'],
    files: [SOURCE_DISK, tempRaw],
    steps: [
      rawNode('source', '@src.raw'),
      onBlkdebug('raw', 'temp', '@temp.raw', rules),
      cbwNode('cbw', 'source', 'temp', cbwOpts),
      snapshotAccess('acc', 'cbw'),
      nbdStart,
      nbdExport('e-disk', 'cbw', { name: 'disk', writable: true }),
      nbdExport('e-fleece', 'acc', { name: 'fleece' }),
      nbdClient('fleece', { reads: [[0, 64 * KiB]] }),
      nbdClient('disk', {
        writes: [[0, 64 * KiB, 0x22]],
        reads: [
          [0, 64 * KiB],
          [MiB, 64 * KiB],
        ],
      }),
      nbdClient('fleece', {
        reads: [
          [0, 64 * KiB],
          [MiB, 64 * KiB],
        ],
      }),
      // no teardown: the exports go with the process (a deletion waits for the readers to hang up)
    ],
  });
}

export const nbdBreakGuestWrite = nbdFleecing(
  'faults/nbd-cbw-eio-break-guest-write',
  "over NBD, target writes failing with EIO and break-guest-write: the guest's NBD write fails, the reader sees the point in time",
  { 'on-cbw-error': 'break-guest-write' },
  [eioAlways],
);

export const nbdBreakSnapshot = nbdFleecing(
  'faults/nbd-cbw-eio-break-snapshot',
  "over NBD, target writes failing with EIO and break-snapshot: the guest's NBD write succeeds, the reader's reads fail",
  { 'on-cbw-error': 'break-snapshot' },
  [eioAlways],
);

export const FAULTS = [
  cbwEioBreakGuestWrite,
  cbwEioBreakSnapshot,
  cbwEnospcQcow2,
  cbwEioOneCluster,
  legacyTargetEio,
  backupReport,
  backupIgnore,
  backupStop,
  backupEnospcEio,
  backupEnospcEnospc,
  backupSourceEio,
  cbwTimeoutBreakGuestWrite,
  cbwTimeoutBreakSnapshot,
  nbdBreakGuestWrite,
  nbdBreakSnapshot,
];
