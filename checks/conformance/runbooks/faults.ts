import { defineRunbook, type Runbook } from './define.ts';

/**
 * Faults, the same on both sides (issue 7): I/O errors injected on the copy target with blkdebug (errno 5 =
 * EIO, 28 = ENOSPC), a slow target, and what each outcome looks like: a failed guest write, a broken
 * snapshot, a backup job's BLOCK_JOB_ERROR and what it then does per on-target-error / on-source-error.
 * The simulator's seeded fault options reproduce the same outcomes without blkdebug
 * (conformance/faults-equivalence.test.ts).
 */
const MiB = 1 << 20;

type Json = Record<string, unknown>;

/** the 4 MiB disk the guest writes, full of 0x11 */
const srcFile = {
  name: 'src.raw',
  format: 'raw' as const,
  size: 4 * MiB,
  writes: [{ offset: 0, length: 4 * MiB, pattern: 0x11 }],
};
const tempRaw = { name: 'temp.raw', format: 'raw' as const, size: 4 * MiB };
const tempQcow2 = { name: 'temp.qcow2', format: 'qcow2' as const, size: 4 * MiB };

const addSource = {
  qmp: 'blockdev-add',
  args: { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: '@src.raw' } },
};

/** a blkdebug node `dbg` under the format driver of `name`: the format driver raises write_aio/read_aio */
function onBlkdebug(format: 'raw' | 'qcow2', name: string, file: string, rules: Json[], extra: Json = {}) {
  return {
    qmp: 'blockdev-add',
    args: {
      driver: format,
      'node-name': name,
      file: {
        driver: 'blkdebug',
        'node-name': `${name}-dbg`,
        image: { driver: 'file', filename: file },
        'inject-error': rules,
      },
      ...extra,
    },
  };
}

/** every data write of the target fails with EIO (what the simulator's error rates of 1 are) */
const eioAlways = { event: 'write_aio', errno: 5 };

function cbw(extra: Json = {}) {
  return {
    qmp: 'blockdev-add',
    args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'source', target: 'temp', ...extra },
  };
}
const acc = { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } };

const cbwTeardown = [
  { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
  { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
  { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
  { qmp: 'query-named-block-nodes', args: { flat: true } },
];

export const cbwEioBreakGuestWrite = defineRunbook({
  id: 'faults/cbw-eio-break-guest-write',
  title:
    'copy-before-write, every target write fails with EIO, on-cbw-error=break-guest-write: guest writes fail, the snapshot stays',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access', 'cbw-on-cbw-error'],
  files: [srcFile, tempRaw],
  steps: [
    addSource,
    onBlkdebug('raw', 'temp', '@temp.raw', [eioAlways]),
    cbw({ 'on-cbw-error': 'break-guest-write' }),
    acc,
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
  files: [srcFile, tempRaw],
  steps: [
    addSource,
    onBlkdebug('raw', 'temp', '@temp.raw', [eioAlways]),
    cbw({ 'on-cbw-error': 'break-snapshot' }),
    acc,
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
  files: [srcFile, tempQcow2],
  steps: [
    addSource,
    onBlkdebug('qcow2', 'temp', '@temp.qcow2', [{ event: 'write_aio', errno: 28, once: true }]),
    cbw(),
    acc,
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
  files: [srcFile, tempRaw],
  steps: [
    addSource,
    onBlkdebug('raw', 'temp', '@temp.raw', [{ event: 'write_aio', errno: 5, sector: 2048 }]),
    cbw(),
    acc,
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
  files: [srcFile, tempQcow2],
  steps: [
    addSource,
    onBlkdebug('qcow2', 'temp', '@temp.qcow2', [eioAlways], { backing: 'source' }),
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    { io: 'write -P 0x22 0 64k', node: 'fl' },
    { io: 'read -P 0x11 0 64k', node: 'source' },
    { io: 'read -P 0x11 0 64k', node: 'temp' },
    { qmp: 'query-jobs' },
    { io: 'write -P 0x22 2M 4k', node: 'fl' },
    { io: 'read -P 0x11 2M 64k', node: 'temp' },
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
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
  const opts: Json = { 'job-id': 'j', device: 'source', target: 'temp', sync: 'full', 'auto-dismiss': false };
  if (onTargetError) opts['on-target-error'] = onTargetError;
  return {
    id,
    title,
    files: [srcFile, tempRaw],
    steps: [
      addSource,
      onBlkdebug('raw', 'temp', '@temp.raw', [
        once ? { event: 'write_aio', errno, once } : { event: 'write_aio', errno },
      ]),
      { qmp: 'blockdev-backup', args: opts },
      ...tail,
    ],
  };
}

const concluded = [
  { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'concluded' } } },
  { qmp: 'query-jobs' },
  { qmp: 'query-block-jobs' },
  { qmp: 'job-dismiss', args: { id: 'j' } },
  { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
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
  { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'paused' } } },
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
  files: [srcFile, tempRaw],
  steps: [
    onBlkdebug('raw', 'source', '@src.raw', [{ event: 'read_aio', errno: 5, once: true }]),
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'temp', file: { driver: 'file', filename: '@temp.raw' } },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'source', target: 'temp', sync: 'full', 'auto-dismiss': false },
    },
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
    addSource,
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'temp', file: { driver: 'file', filename: '@temp.raw' } },
    },
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg0', limits: { 'bps-write': 16384 } } },
    {
      qmp: 'blockdev-add',
      args: { driver: 'throttle', 'node-name': 'slow', 'throttle-group': 'tg0', file: 'temp' },
    },
    { io: 'write -P 0 0 64k', node: 'slow' },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'source',
        target: 'slow',
        'cbw-timeout': 1,
        'on-cbw-error': onCbwError,
      },
    },
    acc,
  ];
}
const slowTeardown = [
  { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
  { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
  { qmp: 'blockdev-del', args: { 'node-name': 'slow' } },
  { qmp: 'object-del', args: { id: 'tg0' } },
  { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
];

export const cbwTimeoutBreakGuestWrite = defineRunbook({
  id: 'faults/cbw-timeout-break-guest-write',
  title:
    'a copy slower than cbw-timeout, on-cbw-error=break-guest-write: the guest write fails with ETIMEDOUT, the snapshot stays',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access', 'cbw-timeout'],
  files: [srcFile, tempRaw],
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
  files: [srcFile, tempRaw],
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
    files: [srcFile, tempRaw],
    steps: [
      addSource,
      onBlkdebug('raw', 'temp', '@temp.raw', rules),
      cbw(cbwOpts),
      acc,
      { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
      {
        qmp: 'block-export-add',
        args: { type: 'nbd', id: 'e-disk', 'node-name': 'cbw', name: 'disk', writable: true },
      },
      { qmp: 'block-export-add', args: { type: 'nbd', id: 'e-fleece', 'node-name': 'acc', name: 'fleece' } },
      { nbd: { socket: '@nbd.sock', export: 'fleece', reads: [[0, 64 * 1024]] } },
      {
        nbd: {
          socket: '@nbd.sock',
          export: 'disk',
          writes: [[0, 64 * 1024, 0x22]],
          reads: [
            [0, 64 * 1024],
            [MiB, 64 * 1024],
          ],
        },
      },
      {
        nbd: {
          socket: '@nbd.sock',
          export: 'fleece',
          reads: [
            [0, 64 * 1024],
            [MiB, 64 * 1024],
          ],
        },
      },
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
