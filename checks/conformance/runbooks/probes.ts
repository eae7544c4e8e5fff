import { defineRunbook } from './define.ts';
import {
  backup,
  bitmapAdd,
  cbwFleecing,
  cbwNode,
  GROUPED,
  KiB,
  MiB,
  mirror,
  nbdClient,
  nbdExport,
  nbdHeld,
  nbdHold,
  nbdStart,
  nullNode,
  pattern,
  qcow2File,
  rawFile,
  rawNode,
  SLOW,
  SOURCE_DISK,
  throttleNode,
  transaction,
  waitJob,
} from './steps.ts';

/**
 * The runbooks of the known-bug probes (checks/probes): each tells from behaviour alone whether a QEMU
 * build carries one fix. They need no feature: on a QEMU without the feature under test the first step that
 * uses it is refused, and that refusal is the "not applicable" answer, recorded like everything else. No
 * teardown: what they create goes with the process.
 */

/** a 4 MiB raw disk: 0x11 in the first 3 MiB, zeroes (a hole) in the last one */
const HOLE_AT_3M = rawFile('src.raw', 4 * MiB, [pattern(0x11, 0, 3 * MiB)]);

/**
 * hbitmap_status() (7.0 to 7.2, fixed by a4d5224c2c in 8.0): the guest writes 4 KiB into the hole, so the
 * copy-before-write filter copies that cluster (zeroes) before the write; block status of the point in time
 * over the copied cluster and the uncopied one after it is answered from the live disk, where the guest's
 * data now is. The point in time is all hole there.
 */
export const hbitmapStatus = defineRunbook({
  id: 'probes/snapshot-block-status-across-copied-cluster',
  title:
    'probe: block status of a point in time across a copied and an uncopied cluster (hbitmap_status fix)',
  files: [HOLE_AT_3M, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...cbwFleecing(),
    nbdStart,
    nbdExport('g', 'cbw', { name: 'guest', writable: true }),
    nbdExport('e1', 'acc', { name: 'fleece' }),
    nbdClient('guest', { writes: [[3 * MiB + 8 * KiB, 4 * KiB, 0x24]], reads: [] }),
    nbdClient('fleece', { context: 'base:allocation', reads: [[3 * MiB, 128 * KiB]] }),
  ],
});

/**
 * cbw-timeout in nanoseconds as a uint32 (7.1 to 9.0, fixed by 10b1e09ed3 in 9.1): 5 s wraps to 0.705 s.
 * The copy target is a throttle filter at 16 KiB/s whose bucket a 48 KiB write has just filled, so the copy
 * the guest's write needs waits about 2.9 s: within 5 s, past 0.705 s (margins of about 2 s each way).
 */
export const cbwTimeout = defineRunbook({
  id: 'probes/cbw-timeout-above-4s',
  title: 'probe: a copy slower than 0.7 s but well within cbw-timeout=5 (cbw-timeout uint32 fix)',
  files: [SOURCE_DISK, rawFile('temp.raw', 4 * MiB)],
  steps: [
    rawNode('source', '@src.raw'),
    rawNode('temp', '@temp.raw'),
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg0', limits: { 'bps-write': 16384 } } },
    throttleNode('slow', 'tg0', 'temp'),
    cbwNode('cbw', 'source', 'slow', { 'on-cbw-error': 'break-guest-write', 'cbw-timeout': 5 }),
    nbdStart,
    nbdExport('f', 'slow', { name: 'fill', writable: true }),
    nbdClient('fill', { writes: [[2 * MiB, 48 * KiB, 0x00]], reads: [] }),
    nbdExport('g', 'cbw', { name: 'guest', writable: true }),
    nbdClient('guest', { writes: [[1 * MiB, 64 * KiB, 0x22]], reads: [[1 * MiB, 64 * KiB]] }),
  ],
});

/** a 1 MiB null-co node exported as "e": an NBD server with something to serve */
const SERVER = [nullNode('n0', MiB), nbdStart, nbdExport('e', 'n0', { name: 'e' })];

/**
 * CVE-2024-7409 (3e7ef738c8, 9.1.0, 9.0.3, 8.2.7, 7.2.14): nbd-server-stop while a client is still in the
 * handshake. Fixed, the server closes it; before, it stayed connected to a server that was gone. Some builds
 * never answer nbd-server-stop then (7.2.22): that is recorded as stuck, after 5 s (it answers in
 * milliseconds elsewhere).
 */
export const strayClient = defineRunbook({
  id: 'probes/nbd-server-stop-stray-client',
  title: 'probe: nbd-server-stop closes a client still in the handshake (CVE-2024-7409)',
  steps: [...SERVER, nbdHold('idle'), { qmp: 'nbd-server-stop', stuckAfterMs: 5000 }, nbdHeld('idle', 2000)],
});

/**
 * CVE-2024-7409 (b9b72cb3ce, same releases): a client that never negotiates is dropped after 10 s. Still
 * connected after 5 s, closed by 13 s: fixed; still connected after 13 s: not.
 */
export const handshakeLimit = defineRunbook({
  id: 'probes/nbd-handshake-limit',
  title: 'probe: a client that never negotiates is dropped after 10 s (CVE-2024-7409)',
  steps: [...SERVER, nbdHold('idle'), nbdHeld('idle', 5000), nbdHeld('idle', 8000)],
});

/**
 * CVE-2024-7409 (c8a76dbd90, same releases): nbd-server-start without max-connections takes 100 clients, the
 * rest wait in the listen backlog without a greeting; before, there was no cap. The clients come one after
 * the other, so a small listen backlog (5.2's) refuses none of them.
 */
export const maxConnections = defineRunbook({
  id: 'probes/nbd-default-max-connections',
  title: 'probe: nbd-server-start without max-connections greets 100 clients, not 101 (CVE-2024-7409)',
  steps: [...SERVER, nbdHold('crowd', 101, 1000)],
});

/**
 * qmp_transaction on the transaction API (c85f34cf89 "blockdev: transaction: refactor handling transaction
 * properties", 8.1): completion-mode=grouped is refused for a non-backup action before any action is
 * prepared. Before, the backup action before it was prepared first, so the refused transaction sent
 * JOB_STATUS_CHANGE events of a job the caller never got, and `abort` was not refused as an action.
 */
export const groupedUpFront = defineRunbook({
  id: 'probes/transaction-grouped-refused-up-front',
  title: 'probe: a grouped transaction with a non-backup action is refused before any job exists',
  steps: [
    nullNode('s1', MiB),
    nullNode('t1', MiB),
    nullNode('s2', MiB),
    transaction([backup('gb', 's1', 't1', 'full', { speed: SLOW }), bitmapAdd('s2', 'b0')], GROUPED),
    transaction([{ type: 'abort', data: {} }], GROUPED),
    { qmp: 'query-jobs' },
  ],
});

/**
 * block_job_ratelimit_sleep (018e5987b5 "blockjob: Adhere to rate limit even when reentered early", 8.1): a
 * rate-limited job woken before its delay is over sleeps out the rest. Before, each early wake (here a
 * raised speed, which kicks the sleeping job) let it copy another chunk at once. The mirror copies 64 KiB a
 * time at 32 KiB/s, so four kicks 50 ms apart within its first two seconds copy four more chunks, or none.
 */
export const ratelimitKicks = defineRunbook({
  id: 'probes/mirror-rate-limit-early-wakeups',
  title: 'probe: a rate-limited mirror woken early by set-speed does not copy more (rate limit fix)',
  files: [SOURCE_DISK],
  steps: [
    rawNode('source', '@src.raw'),
    nullNode('tgt', 4 * MiB),
    mirror('m', 'source', 'tgt', 'full', { speed: 32768, granularity: 65536, 'buf-size': 65536 }),
    waitJob('m', 'running'),
    { sleepMs: 100 },
    ...[32769, 32770, 32771, 32772].flatMap((speed) => [
      { qmp: 'block-job-set-speed', args: { device: 'm', speed } },
      { sleepMs: 50 },
    ]),
    { qmp: 'query-block-jobs' },
  ],
});

export const PROBE_RUNBOOKS = [
  hbitmapStatus,
  cbwTimeout,
  strayClient,
  handshakeLimit,
  maxConnections,
  groupedUpFront,
  ratelimitKicks,
];
