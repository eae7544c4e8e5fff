import { defineRunbook } from './define.ts';
import {
  backup,
  bitmapAdd,
  blockdevDel,
  cancelAndWait,
  cbwFleecing,
  cbwNode,
  createFile,
  KiB,
  legacyFleecing,
  MiB,
  nbdClient,
  nbdExport,
  nbdStart,
  pattern,
  qcow2File,
  qcow2Node,
  rawFile,
  rawNode,
  snapshotAccess,
  transaction,
  unexport,
  waitJob,
} from './steps.ts';

/**
 * What an NBD reader of a point in time gets, byte for byte, after the guest has written: whole clusters,
 * part of a cluster, writes across a cluster boundary (two adjacent clusters), and writes into a region
 * that was zeroes at the point in time. qcow2 clusters are 64 KiB here, so 100k+4k is inside the second
 * cluster and 124k+8k straddles the second and third.
 */

/** a 4 MiB raw disk: 0x11 in the first 3 MiB, zeroes (a hole) in the last one */
const SOURCE = rawFile('src.raw', 4 * MiB, [pattern(0x11, 0, 3 * MiB)]);

/** the guest's writes after the point in time: a cluster, part of one, two adjacent ones, a zero region */
const guestWrites = (node: string, p = 0x22) => [
  { io: `write -P ${p} 0 64k`, node },
  { io: `write -P ${p + 1} 100k 4k`, node },
  { io: `write -P ${p + 2} 124k 8k`, node },
  { io: `write -P ${p + 3} 3M 64k`, node },
  { io: `write -P ${p + 4} 3100k 1k`, node },
];

/** reads that cover each kind of write, their neighbours, and the whole disk */
const READS: [number, number][] = [
  [0, 64 * KiB],
  [64 * KiB, 64 * KiB],
  [96 * KiB, 40 * KiB],
  [100 * KiB, 4 * KiB],
  [120 * KiB, 16 * KiB],
  [128 * KiB, 64 * KiB],
  [3 * MiB - 4 * KiB, 72 * KiB],
  [3100 * KiB - 512, 2 * KiB],
  [0, 4 * MiB],
];

export const legacyNbd = defineRunbook({
  id: 'fleecing-data/legacy-nbd-reads',
  title: 'legacy recipe: NBD reads of the overlay after guest writes (partial, adjacent, zero clusters)',
  flavour: 'system',
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...legacyFleecing(),
    nbdStart,
    nbdExport('e1', 'temp', { name: 'fleece' }),
    nbdClient('fleece', { reads: [[0, 4 * MiB]] }),
    ...guestWrites('fl'),
    nbdClient('fleece', { reads: READS }),
    { io: 'write -P 0x77 0 4M', node: 'fl' },
    nbdClient('fleece', { reads: [[0, 4 * MiB]] }),
    nbdClient('nosuch', { reads: [[0, 512]] }),
    ...unexport('e1'),
    ...cancelAndWait('fleece'),
    blockdevDel('temp'),
    nbdExport('e2', 'source', { name: 'live' }),
    nbdClient('live', { reads: [[0, 4 * MiB]] }),
    ...unexport('e2'),
    { qmp: 'nbd-server-stop' },
  ],
});

export const cbwNbd = defineRunbook({
  id: 'fleecing-data/cbw-nbd-reads',
  title: 'copy-before-write + snapshot-access: NBD reads of the point in time after guest writes',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...cbwFleecing(),
    nbdStart,
    nbdExport('e1', 'acc', { name: 'fleece' }),
    ...guestWrites('cbw'),
    nbdClient('fleece', { reads: READS }),
    { io: 'write -P 0x77 0 4M', node: 'cbw' },
    nbdClient('fleece', { reads: [[0, 4 * MiB]] }),
    ...unexport('e1'),
    blockdevDel('acc'),
    blockdevDel('cbw'),
    blockdevDel('temp'),
    { qmp: 'nbd-server-stop' },
  ],
});

/**
 * Three points in time on one disk: each new copy-before-write filter goes on top of the last one, the
 * guest writes through the top filter, and each snapshot-access node shows its own moment.
 */
/** each point in time: the guest's writes to it and beside them, and the whole disk */
const PIT_READS: [number, number][] = [
  [0, 128 * KiB],
  [1 * MiB, 8 * KiB],
  [0, 4 * MiB],
];
export const threePoints = defineRunbook({
  id: 'fleecing-data/three-points-in-time',
  title: 'three points in time on one disk: stacked copy-before-write filters, each read over NBD',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [
    SOURCE,
    qcow2File('t1.qcow2', 4 * MiB),
    qcow2File('t2.qcow2', 4 * MiB),
    qcow2File('t3.qcow2', 4 * MiB),
  ],
  steps: [
    rawNode('source', '@src.raw'),
    qcow2Node('t1', '@t1.qcow2'),
    qcow2Node('t2', '@t2.qcow2'),
    qcow2Node('t3', '@t3.qcow2'),
    nbdStart,
    cbwNode('c1', 'source', 't1'),
    snapshotAccess('a1', 'c1'),
    nbdExport('e1', 'a1', { name: 'pit1' }),
    { io: 'write -P 0x22 0 64k', node: 'c1' },
    { io: 'write -P 0x23 1M 4k', node: 'c1' },
    cbwNode('c2', 'c1', 't2'),
    snapshotAccess('a2', 'c2'),
    nbdExport('e2', 'a2', { name: 'pit2' }),
    { io: 'write -P 0x33 32k 64k', node: 'c2' },
    { io: 'write -P 0x34 1M 2k', node: 'c2' },
    cbwNode('c3', 'c2', 't3'),
    snapshotAccess('a3', 'c3'),
    nbdExport('e3', 'a3', { name: 'pit3' }),
    { io: 'write -P 0x44 0 4M', node: 'c3' },
    nbdClient('pit1', { reads: PIT_READS }),
    nbdClient('pit2', { reads: PIT_READS }),
    nbdClient('pit3', { reads: PIT_READS }),
    { qmp: 'query-block-exports' },
    ...unexport('e1'),
    blockdevDel('a1'),
    { ...blockdevDel('c1'), note: 'c2 still sits on it' },
    nbdClient('pit2', { reads: [[0, 128 * KiB]] }),
    ...unexport('e3'),
    ...unexport('e2'),
    blockdevDel('a3'),
    blockdevDel('c3'),
    blockdevDel('a2'),
    blockdevDel('c2'),
    blockdevDel('c1'),
    { qmp: 'nbd-server-stop' },
  ],
});

/** Two disks, one point in time: both backups start in one transaction, then the guest writes both. */
export const twoDisks = defineRunbook({
  id: 'fleecing-data/two-disks-one-transaction',
  title: 'two disks fleeced in one transaction: both exports show the same moment over NBD',
  flavour: 'system',
  files: [
    SOURCE,
    rawFile('src2.raw', 2 * MiB, [pattern(0x61, 0, 2 * MiB)]),
    qcow2File('temp.qcow2', 4 * MiB),
    qcow2File('temp2.qcow2', 2 * MiB),
  ],
  steps: [
    rawNode('source', '@src.raw'),
    rawNode('source2', '@src2.raw'),
    qcow2Node('temp', '@temp.qcow2', { backing: 'source' }),
    qcow2Node('temp2', '@temp2.qcow2', { backing: 'source2' }),
    transaction([
      backup('f1', 'source', 'temp', 'none', { 'filter-node-name': 'fl1' }),
      backup('f2', 'source2', 'temp2', 'none', { 'filter-node-name': 'fl2' }),
    ]),
    ...guestWrites('fl1'),
    { io: 'write -P 0x62 0 2M', node: 'fl2' },
    nbdStart,
    nbdExport('e1', 'temp', { name: 'disk1' }),
    nbdExport('e2', 'temp2', { name: 'disk2' }),
    nbdClient('disk1', { reads: READS }),
    nbdClient('disk2', {
      reads: [
        [0, 2 * MiB],
        [2 * MiB - 512, 512],
      ],
    }),
    ...unexport('e1'),
    ...unexport('e2'),
    ...cancelAndWait('f1'),
    ...cancelAndWait('f2'),
    { qmp: 'nbd-server-stop' },
  ],
});

/** libvirt's old teardown order: the job goes first while the overlay is still exported. */
export const unsafeNbd = defineRunbook({
  id: 'fleecing-data/unsafe-teardown-reader-sees-new-data',
  title: 'cancel before unexport: an NBD reader of the overlay then reads what the guest wrote after',
  flavour: 'system',
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...legacyFleecing(),
    nbdStart,
    nbdExport('e1', 'temp', { name: 'fleece' }),
    { io: 'write -P 0x22 0 64k', node: 'fl' },
    nbdClient('fleece', {
      reads: [
        [0, 128 * KiB],
        [2 * MiB, 64 * KiB],
      ],
    }),
    ...cancelAndWait('fleece'),
    { io: 'write -P 0x44 32k 64k', node: 'source' },
    { io: 'write -P 0x45 2M 64k', node: 'source' },
    nbdClient('fleece', {
      reads: [
        [0, 128 * KiB],
        [2 * MiB, 64 * KiB],
      ],
    }),
    ...unexport('e1'),
    blockdevDel('temp'),
    { qmp: 'nbd-server-stop' },
  ],
});

/**
 * Bitmap-limited access: a copy-before-write filter with a bitmap copies (and lets snapshot-access read)
 * only what the bitmap marks; the reader sees the point in time there and an error elsewhere.
 */
export const bitmapLimited = defineRunbook({
  id: 'fleecing-data/bitmap-limited-access',
  title: 'copy-before-write with a bitmap: the point in time is readable only where the bitmap is set',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    rawNode('source', '@src.raw'),
    qcow2Node('temp', '@temp.qcow2'),
    bitmapAdd('source', 'b0', { granularity: 65536 }),
    { io: 'write -P 0x12 64k 64k', node: 'source' },
    { io: 'write -P 0x13 1M 4k', node: 'source' },
    cbwNode('cbw', 'source', 'temp', { bitmap: { node: 'source', name: 'b0' } }),
    snapshotAccess('acc', 'cbw'),
    nbdStart,
    nbdExport('e1', 'acc', { name: 'fleece' }),
    { io: 'write -P 0x22 0 256k', node: 'cbw' },
    { io: 'write -P 0x23 1M 64k', node: 'cbw' },
    nbdClient('fleece', {
      reads: [
        [64 * KiB, 64 * KiB],
        [1 * MiB, 64 * KiB],
        [0, 64 * KiB],
        [64 * KiB - 512, 1 * KiB],
        [2 * MiB, 4 * KiB],
      ],
    }),
    ...unexport('e1'),
    blockdevDel('acc'),
    blockdevDel('cbw'),
    { qmp: 'nbd-server-stop' },
  ],
});

/** An export of a qcow2 image that is mostly unallocated: block status over NBD, and zeroes where nothing was written. */
export const sparseOverlay = defineRunbook({
  id: 'fleecing-data/overlay-allocation-over-nbd',
  title: 'the fleecing overlay over NBD with qemu:allocation-depth: what was copied, what reads through',
  flavour: 'system',
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...legacyFleecing(),
    ...guestWrites('fl'),
    nbdStart,
    nbdExport('e1', 'temp', { name: 'fleece', 'allocation-depth': true }),
    nbdClient('fleece', {
      context: 'qemu:allocation-depth',
      reads: [
        [0, 256 * KiB],
        [3 * MiB - 64 * KiB, 256 * KiB],
      ],
    }),
    ...unexport('e1'),
    ...cancelAndWait('fleece'),
    { qmp: 'nbd-server-stop' },
  ],
});

/** NBD writes that a guest would make: a cluster, part of one, two adjacent ones, the zero region */
const NBD_GUEST_WRITES: [number, number, number][] = [
  [0, 64 * KiB, 0x22],
  [100 * KiB, 4 * KiB, 0x23],
  [124 * KiB, 8 * KiB, 0x24],
  [3 * MiB, 64 * KiB, 0x25],
  [3100 * KiB, 1 * KiB, 0x26],
];

/**
 * On qemu-storage-daemon there is no guest: the "guest" is an NBD client writing through a writable export
 * of the filter, while another client reads the point in time.
 */
export const qsdCbwWriter = defineRunbook({
  id: 'fleecing-data/qsd-cbw-nbd-writer-and-reader',
  title: 'qemu-storage-daemon: an NBD writer through copy-before-write, an NBD reader of snapshot-access',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...cbwFleecing(),
    nbdStart,
    nbdExport('g', 'cbw', { name: 'guest', writable: true }),
    nbdExport('e1', 'acc', { name: 'fleece' }),
    nbdClient('guest', { writes: NBD_GUEST_WRITES, reads: [[0, 256 * KiB]] }),
    nbdClient('fleece', { reads: READS }),
    nbdClient('fleece', { writes: [[0, 512, 0x99]], reads: [[0, 512]] }),
    nbdClient('guest', { writes: [[0, 4 * MiB, 0x77]], reads: [[0, 4 * MiB]] }),
    nbdClient('fleece', { reads: [[0, 4 * MiB]] }),
    { qmp: 'query-block-exports' },
    ...unexport('e1'),
    ...unexport('g'),
    blockdevDel('acc'),
    blockdevDel('cbw'),
    { qmp: 'nbd-server-stop' },
  ],
});

export const qsdLegacyWriter = defineRunbook({
  id: 'fleecing-data/qsd-legacy-nbd-writer-and-reader',
  title: 'qemu-storage-daemon: an NBD writer through the backup filter, an NBD reader of the overlay',
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...legacyFleecing(),
    nbdStart,
    nbdExport('g', 'fl', { name: 'guest', writable: true }),
    nbdExport('e1', 'temp', { name: 'fleece' }),
    nbdClient('guest', { writes: NBD_GUEST_WRITES, reads: [[0, 256 * KiB]] }),
    nbdClient('fleece', { reads: READS }),
    ...unexport('e1'),
    ...unexport('g'),
    ...cancelAndWait('fleece'),
    { qmp: 'nbd-server-stop' },
  ],
});

/** base:allocation as a reader sees it: data, holes of the host file, a qcow2 overlay over its backing */
export const allocationMap = defineRunbook({
  id: 'fleecing-data/base-allocation-over-nbd',
  title: 'base:allocation over NBD: a raw disk with a hole, a new raw file, a qcow2 overlay',
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB, { backing: 'src.raw' })],
  steps: [
    rawNode('source', '@src.raw'),
    qcow2Node('temp', '@temp.qcow2', { backing: 'source' }),
    nbdStart,
    nbdExport('e1', 'source', { name: 'raw', writable: true }),
    nbdExport('e2', 'temp', { name: 'overlay' }),
    nbdClient('raw', {
      context: 'base:allocation',
      reads: [
        [0, 4 * MiB],
        [3 * MiB - 4 * KiB, 8 * KiB],
        [3 * MiB + 512, 4 * KiB],
      ],
    }),
    nbdClient('raw', {
      context: 'base:allocation',
      writes: [
        [3 * MiB + 64 * KiB, 512, 0x5a],
        [3 * MiB + 128 * KiB, 8 * KiB, 0x00],
      ],
      reads: [[3 * MiB, 1 * MiB]],
    }),
    nbdClient('overlay', { context: 'base:allocation', reads: [[0, 4 * MiB]] }),
    createFile('c', '@new.raw', 1 * MiB),
    waitJob('c', 'concluded'),
    { qmp: 'job-dismiss', args: { id: 'c' } },
    rawNode('fresh', '@new.raw'),
    nbdExport('e3', 'fresh', { name: 'fresh' }),
    nbdClient('fresh', {
      context: 'base:allocation',
      reads: [
        [0, 1 * MiB],
        [0, 8 * KiB],
      ],
    }),
    ...unexport('e1'),
    ...unexport('e2'),
    ...unexport('e3'),
    { qmp: 'nbd-server-stop' },
  ],
});

/**
 * Reads that cross from copied clusters into uncopied ones and back. QEMU 7.0 to 7.2 read the copied
 * part of such a request from the live disk (hbitmap_status() reported it as not copied); 8.0 fixed it.
 */
export const acrossCopied = defineRunbook({
  id: 'fleecing-data/snapshot-reads-across-copied-clusters',
  title: 'snapshot-access reads that span copied and uncopied clusters (the 7.x hbitmap_status bug)',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, qcow2File('temp.qcow2', 4 * MiB)],
  steps: [
    ...cbwFleecing(),
    nbdStart,
    nbdExport('g', 'cbw', { name: 'guest', writable: true }),
    nbdExport('e1', 'acc', { name: 'fleece' }),
    nbdClient('guest', {
      writes: [
        [0, 4 * KiB, 0x22],
        [200 * KiB, 4 * KiB, 0x23],
        [3 * MiB + 8 * KiB, 4 * KiB, 0x24],
      ],
      reads: [[0, 4 * KiB]],
    }),
    nbdClient('fleece', {
      context: 'base:allocation',
      reads: [
        [0, 64 * KiB],
        [0, 128 * KiB],
        [32 * KiB, 64 * KiB],
        [64 * KiB, 192 * KiB],
        [192 * KiB, 64 * KiB],
        [0, 256 * KiB],
        [3 * MiB, 128 * KiB],
        [3 * MiB - 64 * KiB, 192 * KiB],
      ],
    }),
    ...unexport('e1'),
    ...unexport('g'),
    blockdevDel('acc'),
    blockdevDel('cbw'),
    { qmp: 'nbd-server-stop' },
  ],
});

export const FLEECING_DATA = [
  legacyNbd,
  cbwNbd,
  threePoints,
  twoDisks,
  unsafeNbd,
  bitmapLimited,
  sparseOverlay,
  qsdCbwWriter,
  qsdLegacyWriter,
  allocationMap,
  acrossCopied,
];
