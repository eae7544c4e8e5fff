import { defineRunbook, type Runbook } from './define.ts';

/**
 * What an NBD reader of a point in time gets, byte for byte, after the guest has written: whole clusters,
 * part of a cluster, writes across a cluster boundary (two adjacent clusters), and writes into a region
 * that was zeroes at the point in time. qcow2 clusters are 64 KiB here, so 100k+4k is inside the second
 * cluster and 124k+8k straddles the second and third.
 */
const KiB = 1024;
const MiB = 1 << 20;

/** a 4 MiB raw disk: 0x11 in the first 3 MiB, zeroes (a hole) in the last one */
const SOURCE = {
  name: 'src.raw',
  format: 'raw' as const,
  size: 4 * MiB,
  writes: [{ offset: 0, length: 3 * MiB, pattern: 0x11 }],
};

const addSource = (node = 'source', file = 'src.raw') => ({
  qmp: 'blockdev-add',
  args: { driver: 'raw', 'node-name': node, file: { driver: 'file', filename: `@${file}` } },
});
const addTemp = (node: string, file: string, backing?: string) => ({
  qmp: 'blockdev-add',
  args: {
    driver: 'qcow2',
    'node-name': node,
    file: { driver: 'file', filename: `@${file}` },
    ...(backing ? { backing } : {}),
  },
});
const nbdStart = { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } };
const exportNode = (id: string, node: string, name: string) => ({
  qmp: 'block-export-add',
  args: { type: 'nbd', id, 'node-name': node, name },
});
const unexport = (id: string) => [
  { qmp: 'block-export-del', args: { id } },
  { wait: { event: 'BLOCK_EXPORT_DELETED', data: { id } } },
];

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
const nbdRead = (name: string, reads = READS) => ({ nbd: { socket: '@nbd.sock', export: name, reads } });

const rb = (r: Runbook) => defineRunbook(r);

export const legacyNbd = rb({
  id: 'fleecing-data/legacy-nbd-reads',
  title: 'legacy recipe: NBD reads of the overlay after guest writes (partial, adjacent, zero clusters)',
  flavour: 'system',
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2', 'source'),
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    nbdStart,
    exportNode('e1', 'temp', 'fleece'),
    nbdRead('fleece', [[0, 4 * MiB]]),
    ...guestWrites('fl'),
    nbdRead('fleece'),
    { io: 'write -P 0x77 0 4M', node: 'fl' },
    nbdRead('fleece', [[0, 4 * MiB]]),
    nbdRead('nosuch', [[0, 512]]),
    ...unexport('e1'),
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
    exportNode('e2', 'source', 'live'),
    nbdRead('live', [[0, 4 * MiB]]),
    ...unexport('e2'),
    { qmp: 'nbd-server-stop' },
  ],
});

export const cbwNbd = rb({
  id: 'fleecing-data/cbw-nbd-reads',
  title: 'copy-before-write + snapshot-access: NBD reads of the point in time after guest writes',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2'),
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'source', target: 'temp' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } },
    nbdStart,
    exportNode('e1', 'acc', 'fleece'),
    ...guestWrites('cbw'),
    nbdRead('fleece'),
    { io: 'write -P 0x77 0 4M', node: 'cbw' },
    nbdRead('fleece', [[0, 4 * MiB]]),
    ...unexport('e1'),
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
    { qmp: 'nbd-server-stop' },
  ],
});

/**
 * Three points in time on one disk: each new copy-before-write filter goes on top of the last one, the
 * guest writes through the top filter, and each snapshot-access node shows its own moment.
 */
export const threePoints = rb({
  id: 'fleecing-data/three-points-in-time',
  title: 'three points in time on one disk: stacked copy-before-write filters, each read over NBD',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [
    SOURCE,
    { name: 't1.qcow2', format: 'qcow2', size: 4 * MiB },
    { name: 't2.qcow2', format: 'qcow2', size: 4 * MiB },
    { name: 't3.qcow2', format: 'qcow2', size: 4 * MiB },
  ],
  steps: [
    addSource(),
    addTemp('t1', 't1.qcow2'),
    addTemp('t2', 't2.qcow2'),
    addTemp('t3', 't3.qcow2'),
    nbdStart,
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'c1', file: 'source', target: 't1' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'a1', file: 'c1' } },
    exportNode('e1', 'a1', 'pit1'),
    { io: 'write -P 0x22 0 64k', node: 'c1' },
    { io: 'write -P 0x23 1M 4k', node: 'c1' },
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'c2', file: 'c1', target: 't2' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'a2', file: 'c2' } },
    exportNode('e2', 'a2', 'pit2'),
    { io: 'write -P 0x33 32k 64k', node: 'c2' },
    { io: 'write -P 0x34 1M 2k', node: 'c2' },
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'c3', file: 'c2', target: 't3' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'a3', file: 'c3' } },
    exportNode('e3', 'a3', 'pit3'),
    { io: 'write -P 0x44 0 4M', node: 'c3' },
    nbdRead('pit1', [
      [0, 128 * KiB],
      [1 * MiB, 8 * KiB],
      [0, 4 * MiB],
    ]),
    nbdRead('pit2', [
      [0, 128 * KiB],
      [1 * MiB, 8 * KiB],
      [0, 4 * MiB],
    ]),
    nbdRead('pit3', [
      [0, 128 * KiB],
      [1 * MiB, 8 * KiB],
      [0, 4 * MiB],
    ]),
    { qmp: 'query-block-exports' },
    ...unexport('e1'),
    { qmp: 'blockdev-del', args: { 'node-name': 'a1' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'c1' }, note: 'c2 still sits on it' },
    nbdRead('pit2', [[0, 128 * KiB]]),
    ...unexport('e3'),
    ...unexport('e2'),
    { qmp: 'blockdev-del', args: { 'node-name': 'a3' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'c3' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'a2' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'c2' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'c1' } },
    { qmp: 'nbd-server-stop' },
  ],
});

/** Two disks, one point in time: both backups start in one transaction, then the guest writes both. */
export const twoDisks = rb({
  id: 'fleecing-data/two-disks-one-transaction',
  title: 'two disks fleeced in one transaction: both exports show the same moment over NBD',
  flavour: 'system',
  files: [
    SOURCE,
    {
      name: 'src2.raw',
      format: 'raw',
      size: 2 * MiB,
      writes: [{ offset: 0, length: 2 * MiB, pattern: 0x61 }],
    },
    { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB },
    { name: 'temp2.qcow2', format: 'qcow2', size: 2 * MiB },
  ],
  steps: [
    addSource(),
    addSource('source2', 'src2.raw'),
    addTemp('temp', 'temp.qcow2', 'source'),
    addTemp('temp2', 'temp2.qcow2', 'source2'),
    {
      qmp: 'transaction',
      args: {
        actions: [
          {
            type: 'blockdev-backup',
            data: {
              'job-id': 'f1',
              device: 'source',
              target: 'temp',
              sync: 'none',
              'filter-node-name': 'fl1',
            },
          },
          {
            type: 'blockdev-backup',
            data: {
              'job-id': 'f2',
              device: 'source2',
              target: 'temp2',
              sync: 'none',
              'filter-node-name': 'fl2',
            },
          },
        ],
      },
    },
    ...guestWrites('fl1'),
    { io: 'write -P 0x62 0 2M', node: 'fl2' },
    nbdStart,
    exportNode('e1', 'temp', 'disk1'),
    exportNode('e2', 'temp2', 'disk2'),
    nbdRead('disk1'),
    nbdRead('disk2', [
      [0, 2 * MiB],
      [2 * MiB - 512, 512],
    ]),
    ...unexport('e1'),
    ...unexport('e2'),
    { qmp: 'block-job-cancel', args: { device: 'f1' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'f1', status: 'null' } } },
    { qmp: 'block-job-cancel', args: { device: 'f2' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'f2', status: 'null' } } },
    { qmp: 'nbd-server-stop' },
  ],
});

/** libvirt's old teardown order: the job goes first while the overlay is still exported. */
export const unsafeNbd = rb({
  id: 'fleecing-data/unsafe-teardown-reader-sees-new-data',
  title: 'cancel before unexport: an NBD reader of the overlay then reads what the guest wrote after',
  flavour: 'system',
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2', 'source'),
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    nbdStart,
    exportNode('e1', 'temp', 'fleece'),
    { io: 'write -P 0x22 0 64k', node: 'fl' },
    nbdRead('fleece', [
      [0, 128 * KiB],
      [2 * MiB, 64 * KiB],
    ]),
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
    { io: 'write -P 0x44 32k 64k', node: 'source' },
    { io: 'write -P 0x45 2M 64k', node: 'source' },
    nbdRead('fleece', [
      [0, 128 * KiB],
      [2 * MiB, 64 * KiB],
    ]),
    ...unexport('e1'),
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
    { qmp: 'nbd-server-stop' },
  ],
});

/**
 * Bitmap-limited access: a copy-before-write filter with a bitmap copies (and lets snapshot-access read)
 * only what the bitmap marks; the reader sees the point in time there and an error elsewhere.
 */
export const bitmapLimited = rb({
  id: 'fleecing-data/bitmap-limited-access',
  title: 'copy-before-write with a bitmap: the point in time is readable only where the bitmap is set',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2'),
    { qmp: 'block-dirty-bitmap-add', args: { node: 'source', name: 'b0', granularity: 65536 } },
    { io: 'write -P 0x12 64k 64k', node: 'source' },
    { io: 'write -P 0x13 1M 4k', node: 'source' },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'source',
        target: 'temp',
        bitmap: { node: 'source', name: 'b0' },
      },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } },
    nbdStart,
    exportNode('e1', 'acc', 'fleece'),
    { io: 'write -P 0x22 0 256k', node: 'cbw' },
    { io: 'write -P 0x23 1M 64k', node: 'cbw' },
    nbdRead('fleece', [
      [64 * KiB, 64 * KiB],
      [1 * MiB, 64 * KiB],
      [0, 64 * KiB],
      [64 * KiB - 512, 1 * KiB],
      [2 * MiB, 4 * KiB],
    ]),
    ...unexport('e1'),
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
    { qmp: 'nbd-server-stop' },
  ],
});

/** An export of a qcow2 image that is mostly unallocated: block status over NBD, and zeroes where nothing was written. */
export const sparseOverlay = rb({
  id: 'fleecing-data/overlay-allocation-over-nbd',
  title: 'the fleecing overlay over NBD with qemu:allocation-depth: what was copied, what reads through',
  flavour: 'system',
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2', 'source'),
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    ...guestWrites('fl'),
    nbdStart,
    {
      qmp: 'block-export-add',
      args: { type: 'nbd', id: 'e1', 'node-name': 'temp', name: 'fleece', 'allocation-depth': true },
    },
    {
      nbd: {
        socket: '@nbd.sock',
        export: 'fleece',
        context: 'qemu:allocation-depth',
        reads: [
          [0, 256 * KiB],
          [3 * MiB - 64 * KiB, 256 * KiB],
        ],
      },
    },
    ...unexport('e1'),
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
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
export const qsdCbwWriter = rb({
  id: 'fleecing-data/qsd-cbw-nbd-writer-and-reader',
  title: 'qemu-storage-daemon: an NBD writer through copy-before-write, an NBD reader of snapshot-access',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2'),
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'source', target: 'temp' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } },
    nbdStart,
    {
      qmp: 'block-export-add',
      args: { type: 'nbd', id: 'g', 'node-name': 'cbw', name: 'guest', writable: true },
    },
    exportNode('e1', 'acc', 'fleece'),
    { nbd: { socket: '@nbd.sock', export: 'guest', writes: NBD_GUEST_WRITES, reads: [[0, 256 * KiB]] } },
    nbdRead('fleece'),
    { nbd: { socket: '@nbd.sock', export: 'fleece', writes: [[0, 512, 0x99]], reads: [[0, 512]] } },
    { nbd: { socket: '@nbd.sock', export: 'guest', writes: [[0, 4 * MiB, 0x77]], reads: [[0, 4 * MiB]] } },
    nbdRead('fleece', [[0, 4 * MiB]]),
    { qmp: 'query-block-exports' },
    ...unexport('e1'),
    ...unexport('g'),
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
    { qmp: 'nbd-server-stop' },
  ],
});

export const qsdLegacyWriter = rb({
  id: 'fleecing-data/qsd-legacy-nbd-writer-and-reader',
  title: 'qemu-storage-daemon: an NBD writer through the backup filter, an NBD reader of the overlay',
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2', 'source'),
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    nbdStart,
    {
      qmp: 'block-export-add',
      args: { type: 'nbd', id: 'g', 'node-name': 'fl', name: 'guest', writable: true },
    },
    exportNode('e1', 'temp', 'fleece'),
    { nbd: { socket: '@nbd.sock', export: 'guest', writes: NBD_GUEST_WRITES, reads: [[0, 256 * KiB]] } },
    nbdRead('fleece'),
    ...unexport('e1'),
    ...unexport('g'),
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
    { qmp: 'nbd-server-stop' },
  ],
});

/** base:allocation as a reader sees it: data, holes of the host file, a qcow2 overlay over its backing */
export const allocationMap = rb({
  id: 'fleecing-data/base-allocation-over-nbd',
  title: 'base:allocation over NBD: a raw disk with a hole, a new raw file, a qcow2 overlay',
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB, backing: 'src.raw' }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2', 'source'),
    nbdStart,
    {
      qmp: 'block-export-add',
      args: { type: 'nbd', id: 'e1', 'node-name': 'source', name: 'raw', writable: true },
    },
    exportNode('e2', 'temp', 'overlay'),
    {
      nbd: {
        socket: '@nbd.sock',
        export: 'raw',
        context: 'base:allocation',
        reads: [
          [0, 4 * MiB],
          [3 * MiB - 4 * KiB, 8 * KiB],
          [3 * MiB + 512, 4 * KiB],
        ],
      },
    },
    {
      nbd: {
        socket: '@nbd.sock',
        export: 'raw',
        context: 'base:allocation',
        writes: [
          [3 * MiB + 64 * KiB, 512, 0x5a],
          [3 * MiB + 128 * KiB, 8 * KiB, 0x00],
        ],
        reads: [[3 * MiB, 1 * MiB]],
      },
    },
    { nbd: { socket: '@nbd.sock', export: 'overlay', context: 'base:allocation', reads: [[0, 4 * MiB]] } },
    {
      qmp: 'blockdev-create',
      args: { 'job-id': 'c', options: { driver: 'file', filename: '@new.raw', size: 1 * MiB } },
    },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'c', status: 'concluded' } } },
    { qmp: 'job-dismiss', args: { id: 'c' } },
    addSource('fresh', 'new.raw'),
    exportNode('e3', 'fresh', 'fresh'),
    {
      nbd: {
        socket: '@nbd.sock',
        export: 'fresh',
        context: 'base:allocation',
        reads: [
          [0, 1 * MiB],
          [0, 8 * KiB],
        ],
      },
    },
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
export const acrossCopied = rb({
  id: 'fleecing-data/snapshot-reads-across-copied-clusters',
  title: 'snapshot-access reads that span copied and uncopied clusters (the 7.x hbitmap_status bug)',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [SOURCE, { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    addSource(),
    addTemp('temp', 'temp.qcow2'),
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'source', target: 'temp' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } },
    nbdStart,
    {
      qmp: 'block-export-add',
      args: { type: 'nbd', id: 'g', 'node-name': 'cbw', name: 'guest', writable: true },
    },
    exportNode('e1', 'acc', 'fleece'),
    {
      nbd: {
        socket: '@nbd.sock',
        export: 'guest',
        writes: [
          [0, 4 * KiB, 0x22],
          [200 * KiB, 4 * KiB, 0x23],
          [3 * MiB + 8 * KiB, 4 * KiB, 0x24],
        ],
        reads: [[0, 4 * KiB]],
      },
    },
    {
      nbd: {
        socket: '@nbd.sock',
        export: 'fleece',
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
      },
    },
    ...unexport('e1'),
    ...unexport('g'),
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
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
