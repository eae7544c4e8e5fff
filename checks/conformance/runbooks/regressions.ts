import { defineRunbook } from './define.ts';

/**
 * Divergences the randomized differential (conformance/qmp-differential.ts) found between the simulator and
 * real QEMU, each kept as a deterministic check once fixed.
 */
const MiB = 1 << 20;

const add = (args: Record<string, unknown>) => ({ qmp: 'blockdev-add', args });
const file = (name: string, filename: string, extra: Record<string, unknown> = {}) =>
  add({ driver: 'file', 'node-name': name, filename, ...extra });
const nullNode = (name: string, extra: Record<string, unknown> = {}) =>
  add({ driver: 'null-co', 'node-name': name, size: 4 * MiB, ...extra });
const nodes = { qmp: 'query-named-block-nodes', args: { flat: true } };
const FILES = [
  {
    name: 'a.raw',
    format: 'raw' as const,
    size: 4 * MiB,
    writes: [{ offset: 0, length: 65536, pattern: 0x11 }],
  },
  {
    name: 'b.qcow2',
    format: 'qcow2' as const,
    size: 4 * MiB,
    writes: [{ offset: MiB, length: 131072, pattern: 0x22 }],
  },
  {
    name: 'c.qcow2',
    format: 'qcow2' as const,
    size: 4 * MiB,
    backing: 'a.raw',
    backingFormat: 'raw' as const,
  },
  { name: 't.qcow2', format: 'qcow2' as const, size: 4 * MiB },
  { name: 't.raw', format: 'raw' as const, size: 4 * MiB },
];

export const openOrder = defineRunbook({
  id: 'regressions/open-order',
  title:
    "blockdev-add: a format's 'file' child opens before its node name is taken, detect-zeroes is checked before the name, a backing error is prefixed",
  files: FILES,
  steps: [
    file('fa', '@a.raw'),
    // bdrv_open_inherit opens 'file' first: the missing child is reported, not the duplicate name
    add({ driver: 'qcow2', 'node-name': 'fa', file: 'nope' }),
    add({ driver: 'raw', 'node-name': 'fa', file: 'nope' }),
    add({ driver: 'throttle', 'node-name': 'fa', file: 'nope', 'throttle-group': 'tg0' }),
    // ... and a protocol driver takes its name first
    add({ driver: 'blkdebug', 'node-name': 'fa', image: 'nope' }),
    // bdrv_parse_detect_zeroes runs before bdrv_open_driver (the throttle group lookup, the node name)
    add({
      driver: 'throttle',
      'node-name': 'thr',
      file: 'fa',
      'throttle-group': 'tg0',
      'detect-zeroes': 'unmap',
    }),
    add({ driver: 'raw', 'node-name': 'fa', file: 'fa', 'detect-zeroes': 'unmap' }),
    add({ driver: 'raw', 'node-name': 'r0', file: 'fa', 'detect-zeroes': 'unmap', discard: 'unmap' }),
    // bdrv_open_backing_file prefixes what fails
    add({
      driver: 'qcow2',
      'node-name': 'qb',
      file: { driver: 'file', filename: '@b.qcow2' },
      backing: 'nope',
    }),
    // an empty cache dict is left over after the driver consumed its options
    add({ driver: 'file', 'node-name': 'fb', filename: '@t.raw', cache: {} }),
    add({ driver: 'raw', 'node-name': 'r1', file: { driver: 'file', filename: '@t.qcow2' }, cache: {} }),
    { qmp: 'blockdev-del', args: { 'node-name': 'r0' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'fa' } },
  ],
});

export const readOnlyFile = defineRunbook({
  id: 'regressions/qcow2-on-read-only-file',
  title: 'a writable qcow2 over a read-only file node takes WRITE on it before reading the header',
  files: FILES,
  steps: [
    file('fb', '@b.qcow2', { 'read-only': true }),
    file('fa', '@a.raw', { 'read-only': true }),
    add({ driver: 'qcow2', 'node-name': 'qb', file: 'fb' }),
    add({ driver: 'qcow2', 'node-name': 'qa', file: 'fa' }),
    add({ driver: 'raw', 'node-name': 'r0', file: 'fa' }),
    add({ driver: 'qcow2', 'node-name': 'qb', file: 'fb', 'read-only': true }),
    nodes,
  ],
});

export const cbwBitmap = defineRunbook({
  id: 'regressions/cbw-bitmap-lookup',
  title:
    "copy-before-write's bitmap: an unknown node is 'not found' before its bitmap; the node being opened has none",
  needs: ['copy-before-write'],
  files: FILES,
  steps: [
    file('fa', '@a.raw'),
    nullNode('n0'),
    add({
      driver: 'copy-before-write',
      'node-name': 'cbw',
      file: 'fa',
      target: 'n0',
      bitmap: { node: 'nope', name: 'b0' },
    }),
    add({
      driver: 'copy-before-write',
      'node-name': 'cbw',
      file: 'fa',
      target: 'n0',
      bitmap: { node: 'fa', name: 'b0' },
    }),
    add({
      driver: 'copy-before-write',
      'node-name': 'cbw',
      file: 'fa',
      target: 'n0',
      bitmap: { node: 'cbw', name: 'b0' },
    }),
    // the leftover-option check comes after cbw_open parsed its bitmap
    add({
      driver: 'copy-before-write',
      'node-name': 'cbw',
      file: 'fa',
      target: 'n0',
      bitmap: { node: 'nope', name: 'b0' },
      cache: {},
    }),
    add({ driver: 'copy-before-write', 'node-name': 'cbw', file: 'fa', target: 'n0', cache: {} }),
  ],
});

export const cycles = defineRunbook({
  id: 'regressions/attach-cycle',
  title: 'a node named as its own child (after its name is taken) is a cycle',
  needs: ['attach-cycle-check'],
  files: FILES,
  steps: [
    nullNode('n0'),
    add({ driver: 'blkdebug', 'node-name': 'dbg', image: 'dbg' }),
    add({ driver: 'copy-before-write', 'node-name': 'c', file: 'n0', target: 'c' }),
    add({ driver: 'qcow2', 'node-name': 'q', file: { driver: 'file', filename: '@b.qcow2' }, backing: 'q' }),
    // a format's file opens before the name: not found
    add({ driver: 'raw', 'node-name': 'r', file: 'r' }),
  ],
});

export const filenames = defineRunbook({
  id: 'regressions/query-filenames',
  title:
    'query-named-block-nodes: json: file names (strong options, non-protocol children, throttle, overridden backing), blkdebug: names, cluster-size through raw, cache flags',
  files: FILES,
  steps: [
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg0', limits: {} } },
    nullNode('n0'),
    add({ driver: 'null-co', 'node-name': 'n1' }),
    file('fb', '@b.qcow2', { cache: { 'no-flush': true } }),
    add({ driver: 'qcow2', 'node-name': 'qb', file: 'fb' }),
    add({ driver: 'raw', 'node-name': 'r0', file: 'qb' }),
    add({ driver: 'raw', 'node-name': 'r1', file: 'n1' }),
    add({ driver: 'raw', 'node-name': 'r2', file: 'n0' }),
    add({ driver: 'throttle', 'node-name': 't0', file: 'n1', 'throttle-group': 'tg0' }),
    add({ driver: 'raw', 'node-name': 'r3', file: 't0' }),
    add({ driver: 'blkdebug', 'node-name': 'd0', image: 't0' }),
    add({ driver: 'blkdebug', 'node-name': 'd1', image: 'qb' }),
    add({ driver: 'blkdebug', 'node-name': 'd2', image: 'fb' }),
    add({ driver: 'raw', 'node-name': 'r4', file: { driver: 'file', filename: '@a.raw' }, offset: 512 }),
    add({
      driver: 'qcow2',
      'node-name': 'qc',
      file: { driver: 'file', filename: '@c.qcow2' },
      backing: null,
      cache: { 'no-flush': true },
    }),
    nodes,
  ],
});

export const fileLocks = defineRunbook({
  id: 'regressions/image-locking',
  title: 'two file nodes on one image lock it against each other (file-posix OFD locks)',
  files: FILES,
  steps: [
    add({ driver: 'qcow2', 'node-name': 'qb', file: { driver: 'file', filename: '@b.qcow2' } }),
    // wants write, which qb's file unshares
    add({ driver: 'qcow2', 'node-name': 'qb2', file: { driver: 'file', filename: '@b.qcow2' } }),
    // read-only: unshares write, which qb's file holds
    add({
      driver: 'qcow2',
      'node-name': 'qb3',
      'read-only': true,
      file: { driver: 'file', filename: '@b.qcow2' },
    }),
    // a file node without parents takes no lock
    file('fb', '@b.qcow2'),
    { qmp: 'blockdev-del', args: { 'node-name': 'qb' } },
    add({ driver: 'qcow2', 'node-name': 'qb2', file: { driver: 'file', filename: '@b.qcow2' } }),
    // locking=off takes none
    add({
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
    file('fa', '@a.raw'),
    nullNode('n0'),
    nullNode('n1'),
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
    { wait: { event: 'BLOCK_JOB_CANCELLED' } },
  ],
});

export const backupPerf = defineRunbook({
  id: 'regressions/backup-x-perf',
  title:
    "blockdev-backup x-perf: max-workers and max-chunk are checked, max-chunk against the filter's cluster size",
  needs: ['copy-before-write'],
  files: FILES,
  steps: [
    file('fa', '@a.raw'),
    nullNode('n0'),
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
    { qmp: 'query-named-block-nodes', args: { flat: true } },
  ],
});

export const syncTop = defineRunbook({
  id: 'regressions/sync-top-allocation',
  title:
    'sync=top copies what the source allocates: a mirror without backing runs as full but unzeroed, a null-co source allocates nothing',
  files: FILES,
  steps: [
    add({ driver: 'qcow2', 'node-name': 'qb', file: { driver: 'file', filename: '@b.qcow2' } }),
    add({ driver: 'raw', 'node-name': 'r0', file: { driver: 'file', filename: '@t.raw' } }),
    nullNode('n0'),
    nullNode('n1', { 'read-zeroes': true }),
    { qmp: 'blockdev-mirror', args: { device: 'qb', target: 'r0', sync: 'top', 'job-id': 'm0' } },
    { wait: { event: 'BLOCK_JOB_READY' } },
    { qmp: 'job-cancel', args: { id: 'm0' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'm0', status: 'null' } } },
    { qmp: 'blockdev-mirror', args: { device: 'n0', target: 'r0', sync: 'top', 'job-id': 'm1' } },
    { wait: { event: 'BLOCK_JOB_READY' } },
    { qmp: 'job-cancel', args: { id: 'm1' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'm1', status: 'null' } } },
    { qmp: 'blockdev-backup', args: { device: 'n0', target: 'r0', sync: 'top', 'job-id': 'b0' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'b0', status: 'null' } } },
    { qmp: 'blockdev-backup', args: { device: 'n1', target: 'r0', sync: 'top', 'job-id': 'b1' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'b1', status: 'null' } } },
    { qmp: 'blockdev-backup', args: { device: 'qb', target: 'r0', sync: 'top', 'job-id': 'b2' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'b2', status: 'null' } } },
  ],
});

export const mirrorTarget = defineRunbook({
  id: 'regressions/mirror-full-target',
  title:
    "mirror sync=full: zeroes are written as zeroes (the qcow2 target's file stays small), the job's dirty bitmap shows in queries, an already-zero target is not pre-zeroed (10.1+)",
  files: FILES,
  steps: [
    add({ driver: 'qcow2', 'node-name': 'qb', file: { driver: 'file', filename: '@b.qcow2' } }),
    add({ driver: 'qcow2', 'node-name': 'qt', file: { driver: 'file', filename: '@t.qcow2' } }),
    add({
      driver: 'qcow2',
      'node-name': 'qc',
      file: { driver: 'file', filename: '@c.qcow2' },
      backing: null,
    }),
    nullNode('n0'),
    { qmp: 'block-dirty-bitmap-add', args: { node: 'qb', name: 'x' } },
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
    { wait: { event: 'BLOCK_JOB_READY' } },
    nodes,
    { qmp: 'job-cancel', args: { id: 'm0' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'm0', status: 'null' } } },
    nodes,
    { qmp: 'blockdev-mirror', args: { device: 'qc', target: 'n0', sync: 'full', 'job-id': 'm1' } },
    { wait: { event: 'BLOCK_JOB_READY' } },
    { qmp: 'job-cancel', args: { id: 'm1' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'm1', status: 'null' } } },
  ],
});

export const mirrorTargetPerms = defineRunbook({
  id: 'regressions/mirror-target-perms',
  title:
    "mirror's target BlockBackend is unnamed and takes WRITE (RESIZE too on 5.2), its source is a job node: conflicts, busy nodes, granularity texts",
  files: FILES,
  steps: [
    add({ driver: 'file', 'node-name': 'fa', filename: '@a.raw' }),
    add({ driver: 'qcow2', 'node-name': 'qb', file: { driver: 'file', filename: '@b.qcow2' } }),
    nullNode('n0'),
    {
      qmp: 'blockdev-mirror',
      args: { device: 'fa', target: 'qb', sync: 'full', 'job-id': 'j0', granularity: 1000 },
    },
    {
      qmp: 'blockdev-mirror',
      args: { device: 'fa', target: 'qb', sync: 'full', 'job-id': 'j0', granularity: 256 },
    },
    { qmp: 'blockdev-mirror', args: { device: 'fa', target: 'qb', sync: 'full', 'job-id': 'j0' } },
    { wait: { event: 'BLOCK_JOB_READY' } },
    add({ driver: 'raw', 'node-name': 'r0', file: 'qb' }),
    { qmp: 'blockdev-backup', args: { device: 'n0', target: 'qb', sync: 'none', 'job-id': 'j1' } },
    add({
      driver: 'copy-before-write',
      'node-name': 'cbw',
      file: 'n0',
      target: 'qb',
      bitmap: { node: 'n0', name: 'x' },
    }),
    // the mirror blocks its source ("source" job node) for other jobs, not only its filter and target
    { qmp: 'blockdev-mirror', args: { device: 'n0', target: 'fa', sync: 'full', 'job-id': 'j2' } },
    { qmp: 'job-cancel', args: { id: 'j0' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j0', status: 'null' } } },
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
