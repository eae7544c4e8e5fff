import { defineRunbook } from './define.ts';
import {
  bitmapAdd,
  blockdevAdd,
  blockdevDel,
  cbwNode,
  fileNode,
  MiB,
  nullNode,
  pattern,
  qcow2File,
  qcow2Node,
  queryNodes,
  rawFile,
  rawNode,
  waitEvent,
  waitJob,
} from './steps.ts';

/**
 * Divergences the randomized differential (conformance/qmp-differential.ts) found between the simulator and
 * real QEMU, each kept as a deterministic check once fixed.
 */
const FILES = [
  rawFile('a.raw', 4 * MiB, [pattern(0x11, 0, 65536)]),
  qcow2File('b.qcow2', 4 * MiB, { writes: [pattern(0x22, MiB, 131072)] }),
  qcow2File('c.qcow2', 4 * MiB, { backing: 'a.raw', backingFormat: 'raw' }),
  qcow2File('t.qcow2', 4 * MiB),
  rawFile('t.raw', 4 * MiB),
];

export const openOrder = defineRunbook({
  id: 'regressions/open-order',
  title:
    "blockdev-add: a format's 'file' child opens before its node name is taken, detect-zeroes is checked before the name, a backing error is prefixed",
  files: FILES,
  steps: [
    fileNode('fa', '@a.raw'),
    // bdrv_open_inherit opens 'file' first: the missing child is reported, not the duplicate name
    blockdevAdd({ driver: 'qcow2', 'node-name': 'fa', file: 'nope' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'fa', file: 'nope' }),
    blockdevAdd({ driver: 'throttle', 'node-name': 'fa', file: 'nope', 'throttle-group': 'tg0' }),
    // ... and a protocol driver takes its name first
    blockdevAdd({ driver: 'blkdebug', 'node-name': 'fa', image: 'nope' }),
    // bdrv_parse_detect_zeroes runs before bdrv_open_driver (the throttle group lookup, the node name)
    blockdevAdd({
      driver: 'throttle',
      'node-name': 'thr',
      file: 'fa',
      'throttle-group': 'tg0',
      'detect-zeroes': 'unmap',
    }),
    blockdevAdd({ driver: 'raw', 'node-name': 'fa', file: 'fa', 'detect-zeroes': 'unmap' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r0', file: 'fa', 'detect-zeroes': 'unmap', discard: 'unmap' }),
    // bdrv_open_backing_file prefixes what fails
    qcow2Node('qb', '@b.qcow2', { backing: 'nope' }),
    // an empty cache dict is left over after the driver consumed its options
    fileNode('fb', '@t.raw', { cache: {} }),
    rawNode('r1', '@t.qcow2', { cache: {} }),
    blockdevDel('r0'),
    blockdevDel('fa'),
  ],
});

export const readOnlyFile = defineRunbook({
  id: 'regressions/qcow2-on-read-only-file',
  title: 'a writable qcow2 over a read-only file node takes WRITE on it before reading the header',
  files: FILES,
  steps: [
    fileNode('fb', '@b.qcow2', { 'read-only': true }),
    fileNode('fa', '@a.raw', { 'read-only': true }),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'qb', file: 'fb' }),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'qa', file: 'fa' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r0', file: 'fa' }),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'qb', file: 'fb', 'read-only': true }),
    queryNodes,
  ],
});

export const cbwBitmap = defineRunbook({
  id: 'regressions/cbw-bitmap-lookup',
  title:
    "copy-before-write's bitmap: an unknown node is 'not found' before its bitmap; the node being opened has none",
  needs: ['copy-before-write'],
  files: FILES,
  steps: [
    fileNode('fa', '@a.raw'),
    nullNode('n0', 4 * MiB),
    cbwNode('cbw', 'fa', 'n0', { bitmap: { node: 'nope', name: 'b0' } }),
    cbwNode('cbw', 'fa', 'n0', { bitmap: { node: 'fa', name: 'b0' } }),
    cbwNode('cbw', 'fa', 'n0', { bitmap: { node: 'cbw', name: 'b0' } }),
    // the leftover-option check comes after cbw_open parsed its bitmap
    cbwNode('cbw', 'fa', 'n0', { bitmap: { node: 'nope', name: 'b0' }, cache: {} }),
    cbwNode('cbw', 'fa', 'n0', { cache: {} }),
  ],
});

export const cycles = defineRunbook({
  id: 'regressions/attach-cycle',
  title: 'a node named as its own child (after its name is taken) is a cycle',
  needs: ['attach-cycle-check'],
  files: FILES,
  steps: [
    nullNode('n0', 4 * MiB),
    blockdevAdd({ driver: 'blkdebug', 'node-name': 'dbg', image: 'dbg' }),
    cbwNode('c', 'n0', 'c'),
    qcow2Node('q', '@b.qcow2', { backing: 'q' }),
    // a format's file opens before the name: not found
    blockdevAdd({ driver: 'raw', 'node-name': 'r', file: 'r' }),
  ],
});

export const filenames = defineRunbook({
  id: 'regressions/query-filenames',
  title:
    'query-named-block-nodes: json: file names (strong options, non-protocol children, throttle, overridden backing), blkdebug: names, cluster-size through raw, cache flags',
  files: FILES,
  steps: [
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg0', limits: {} } },
    nullNode('n0', 4 * MiB),
    blockdevAdd({ driver: 'null-co', 'node-name': 'n1' }),
    fileNode('fb', '@b.qcow2', { cache: { 'no-flush': true } }),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'qb', file: 'fb' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r0', file: 'qb' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r1', file: 'n1' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r2', file: 'n0' }),
    blockdevAdd({ driver: 'throttle', 'node-name': 't0', file: 'n1', 'throttle-group': 'tg0' }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r3', file: 't0' }),
    blockdevAdd({ driver: 'blkdebug', 'node-name': 'd0', image: 't0' }),
    blockdevAdd({ driver: 'blkdebug', 'node-name': 'd1', image: 'qb' }),
    blockdevAdd({ driver: 'blkdebug', 'node-name': 'd2', image: 'fb' }),
    rawNode('r4', '@a.raw', { offset: 512 }),
    qcow2Node('qc', '@c.qcow2', { backing: null, cache: { 'no-flush': true } }),
    queryNodes,
  ],
});

export const fileLocks = defineRunbook({
  id: 'regressions/image-locking',
  title: 'two file nodes on one image lock it against each other (file-posix OFD locks)',
  files: FILES,
  steps: [
    qcow2Node('qb', '@b.qcow2'),
    // wants write, which qb's file unshares
    qcow2Node('qb2', '@b.qcow2'),
    // read-only: unshares write, which qb's file holds
    blockdevAdd({
      driver: 'qcow2',
      'node-name': 'qb3',
      'read-only': true,
      file: { driver: 'file', filename: '@b.qcow2' },
    }),
    // a file node without parents takes no lock
    fileNode('fb', '@b.qcow2'),
    blockdevDel('qb'),
    qcow2Node('qb2', '@b.qcow2'),
    // locking=off takes none
    blockdevAdd({
      driver: 'raw',
      'node-name': 'r0',
      file: { driver: 'file', filename: '@b.qcow2', locking: 'off' },
    }),
  ],
});

export const jobFilters = defineRunbook({
  id: 'regressions/job-filter-names',
  title:
    "filter-node-name taken: mirror fails before the job id check; backup's copy-before-write says 'Could not create node'; backup x-perf checks",
  files: FILES,
  steps: [
    fileNode('fa', '@a.raw'),
    nullNode('n0', 4 * MiB),
    nullNode('n1', 4 * MiB),
    { qmp: 'blockdev-mirror', args: { device: 'fa', target: 'n0', sync: 'full', 'filter-node-name': 'fa' } },
    { qmp: 'blockdev-mirror', args: { device: 'fa', target: 'n0', sync: 'full', 'filter-node-name': '1x' } },
    { qmp: 'blockdev-backup', args: { device: 'fa', target: 'n0', sync: 'none', 'filter-node-name': 'n1' } },
    {
      qmp: 'blockdev-backup',
      args: { device: 'fa', target: 'n0', sync: 'none', 'job-id': 'j', 'filter-node-name': 'n1' },
    },
    // a permission conflict while the filter attaches its target
    { qmp: 'blockdev-backup', args: { device: 'n1', target: 'n0', sync: 'none', 'job-id': 'j0' } },
    { qmp: 'blockdev-backup', args: { device: 'fa', target: 'n1', sync: 'none', 'job-id': 'j1' } },
    { qmp: 'block-job-cancel', args: { device: 'j0' } },
    waitEvent('BLOCK_JOB_CANCELLED'),
  ],
});

export const backupPerf = defineRunbook({
  id: 'regressions/backup-x-perf',
  title:
    "blockdev-backup x-perf: max-workers and max-chunk are checked, max-chunk against the filter's cluster size",
  needs: ['copy-before-write'],
  files: FILES,
  steps: [
    fileNode('fa', '@a.raw'),
    nullNode('n0', 4 * MiB),
    {
      qmp: 'blockdev-backup',
      args: { device: 'fa', target: 'n0', sync: 'full', 'x-perf': { 'max-workers': 0 } },
    },
    {
      qmp: 'blockdev-backup',
      args: { device: 'fa', target: 'n0', sync: 'full', 'x-perf': { 'max-chunk': -1 } },
    },
    {
      qmp: 'blockdev-backup',
      args: { device: 'fa', target: 'n0', sync: 'full', 'x-perf': { 'max-chunk': 1000 } },
    },
    queryNodes,
  ],
});

export const syncTop = defineRunbook({
  id: 'regressions/sync-top-allocation',
  title:
    'sync=top copies what the source allocates: a mirror without backing runs as full but unzeroed, a null-co source allocates nothing',
  files: FILES,
  steps: [
    qcow2Node('qb', '@b.qcow2'),
    rawNode('r0', '@t.raw'),
    nullNode('n0', 4 * MiB),
    nullNode('n1', 4 * MiB, { 'read-zeroes': true }),
    { qmp: 'blockdev-mirror', args: { device: 'qb', target: 'r0', sync: 'top', 'job-id': 'm0' } },
    waitEvent('BLOCK_JOB_READY'),
    { qmp: 'job-cancel', args: { id: 'm0' } },
    waitJob('m0', 'null'),
    { qmp: 'blockdev-mirror', args: { device: 'n0', target: 'r0', sync: 'top', 'job-id': 'm1' } },
    waitEvent('BLOCK_JOB_READY'),
    { qmp: 'job-cancel', args: { id: 'm1' } },
    waitJob('m1', 'null'),
    { qmp: 'blockdev-backup', args: { device: 'n0', target: 'r0', sync: 'top', 'job-id': 'b0' } },
    waitJob('b0', 'null'),
    { qmp: 'blockdev-backup', args: { device: 'n1', target: 'r0', sync: 'top', 'job-id': 'b1' } },
    waitJob('b1', 'null'),
    { qmp: 'blockdev-backup', args: { device: 'qb', target: 'r0', sync: 'top', 'job-id': 'b2' } },
    waitJob('b2', 'null'),
  ],
});

export const mirrorTarget = defineRunbook({
  id: 'regressions/mirror-full-target',
  title:
    "mirror sync=full: zeroes are written as zeroes (the qcow2 target's file stays small), the job's dirty bitmap shows in queries, an already-zero target is not pre-zeroed (10.1+)",
  files: FILES,
  steps: [
    qcow2Node('qb', '@b.qcow2'),
    qcow2Node('qt', '@t.qcow2'),
    qcow2Node('qc', '@c.qcow2', { backing: null }),
    nullNode('n0', 4 * MiB),
    bitmapAdd('qb', 'x'),
    {
      qmp: 'blockdev-mirror',
      args: {
        device: 'qb',
        target: 'qt',
        sync: 'full',
        'job-id': 'm0',
        'filter-node-name': 'mflt',
        granularity: 131072,
      },
    },
    waitEvent('BLOCK_JOB_READY'),
    queryNodes,
    { qmp: 'job-cancel', args: { id: 'm0' } },
    waitJob('m0', 'null'),
    queryNodes,
    { qmp: 'blockdev-mirror', args: { device: 'qc', target: 'n0', sync: 'full', 'job-id': 'm1' } },
    waitEvent('BLOCK_JOB_READY'),
    { qmp: 'job-cancel', args: { id: 'm1' } },
    waitJob('m1', 'null'),
  ],
});

export const mirrorTargetPerms = defineRunbook({
  id: 'regressions/mirror-target-perms',
  title:
    "mirror's target BlockBackend is unnamed and takes WRITE (on 5.2 too), its source is a job node: conflicts, busy nodes, granularity texts",
  files: FILES,
  steps: [
    fileNode('fa', '@a.raw'),
    qcow2Node('qb', '@b.qcow2'),
    nullNode('n0', 4 * MiB),
    {
      qmp: 'blockdev-mirror',
      args: { device: 'fa', target: 'qb', sync: 'full', 'job-id': 'j0', granularity: 1000 },
    },
    {
      qmp: 'blockdev-mirror',
      args: { device: 'fa', target: 'qb', sync: 'full', 'job-id': 'j0', granularity: 256 },
    },
    { qmp: 'blockdev-mirror', args: { device: 'fa', target: 'qb', sync: 'full', 'job-id': 'j0' } },
    waitEvent('BLOCK_JOB_READY'),
    blockdevAdd({ driver: 'raw', 'node-name': 'r0', file: 'qb' }),
    { qmp: 'blockdev-backup', args: { device: 'n0', target: 'qb', sync: 'none', 'job-id': 'j1' } },
    cbwNode('cbw', 'n0', 'qb', { bitmap: { node: 'n0', name: 'x' } }),
    // the mirror blocks its source ("source" job node) for other jobs, not only its filter and target
    { qmp: 'blockdev-mirror', args: { device: 'n0', target: 'fa', sync: 'full', 'job-id': 'j2' } },
    { qmp: 'job-cancel', args: { id: 'j0' } },
    waitJob('j0', 'null'),
  ],
});

export const REGRESSIONS = [
  openOrder,
  readOnlyFile,
  cbwBitmap,
  cycles,
  filenames,
  fileLocks,
  jobFilters,
  backupPerf,
  syncTop,
  mirrorTarget,
  mirrorTargetPerms,
];
