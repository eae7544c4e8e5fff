import { defineRunbook } from './define.ts';

/**
 * Dirty bitmaps (block/monitor/bitmap-qmp-cmds.c, block/dirty-bitmap.c): add, remove, clear, enable,
 * disable, merge, what query-named-block-nodes shows, the errors of each, busy bitmaps under a backup.
 */
const MiB = 1 << 20;
const GiB = 1 << 30;

const nullNode = (name: string, size = 64 * MiB) => ({
  qmp: 'blockdev-add',
  args: { driver: 'null-co', 'node-name': name, size },
});
const add = (name: string, extra: Record<string, unknown> = {}, node = 'src') => ({
  qmp: 'block-dirty-bitmap-add',
  args: { node, name, ...extra },
});
const nodes = { qmp: 'query-named-block-nodes', args: { flat: true } };

export const addAndQuery = defineRunbook({
  id: 'bitmaps/add-and-query',
  title: 'bitmaps with default and given granularity, disabled, as query-named-block-nodes shows them',
  steps: [
    nullNode('src'),
    add('b0'),
    add('b1', { granularity: 512 }),
    add('b2', { granularity: 2 * MiB, disabled: true }),
    add('b3', { persistent: false, disabled: false }),
    nodes,
    { qmp: 'query-block' },
  ],
});

export const addErrors = defineRunbook({
  id: 'bitmaps/add-errors',
  title:
    'block-dirty-bitmap-add errors: duplicate, unknown node, empty name, granularity, persistent, long name',
  steps: [
    nullNode('src'),
    add('b0'),
    add('b0'),
    add('b0', {}, 'nope'),
    add(''),
    add('', {}, 'nope'),
    add('bg', { granularity: 1000 }),
    add('bg', { granularity: 256 }),
    add('bg', { granularity: 0 }),
    add('bg', { granularity: 1000 }, 'nope'),
    add('bp', { persistent: true }),
    add('b0', { persistent: true }),
    add('a'.repeat(1023)),
    add('c'.repeat(1024)),
    nodes,
  ],
});

export const removeErrors = defineRunbook({
  id: 'bitmaps/remove',
  title: 'block-dirty-bitmap-remove: works once; unknown bitmap; unknown node',
  steps: [
    nullNode('src'),
    add('b0'),
    add('b1'),
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: 'nob' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'nope', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: '' } },
    nodes,
  ],
});

export const clearErrors = defineRunbook({
  id: 'bitmaps/clear',
  title: 'block-dirty-bitmap-clear: works; unknown bitmap; unknown node; disabled bitmap',
  steps: [
    nullNode('src'),
    add('b0'),
    add('b1', { disabled: true }),
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'src', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'src', name: 'b1' } },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'src', name: 'nob' } },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'nope', name: 'b0' } },
    nodes,
  ],
});

export const enableDisable = defineRunbook({
  id: 'bitmaps/enable-disable',
  title: 'enable and disable, twice each; unknown bitmap and node; recording in the query',
  steps: [
    nullNode('src'),
    add('b0'),
    { qmp: 'block-dirty-bitmap-disable', args: { node: 'src', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-disable', args: { node: 'src', name: 'b0' } },
    nodes,
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'src', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'src', name: 'b0' } },
    nodes,
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'src', name: 'nob' } },
    { qmp: 'block-dirty-bitmap-disable', args: { node: 'src', name: 'nob' } },
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'nope', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-disable', args: { node: 'nope', name: 'b0' } },
  ],
});

export const merge = defineRunbook({
  id: 'bitmaps/merge',
  title: 'block-dirty-bitmap-merge: names and node/name pairs, other nodes, unknown target, source, node',
  steps: [
    nullNode('src'),
    nullNode('other'),
    add('b0'),
    add('b1', { granularity: 4096 }),
    add('o0', {}, 'other'),
    {
      qmp: 'block-dirty-bitmap-merge',
      args: { node: 'src', target: 'b0', bitmaps: ['b1', { node: 'src', name: 'b1' }] },
    },
    {
      qmp: 'block-dirty-bitmap-merge',
      args: { node: 'src', target: 'b0', bitmaps: [{ node: 'other', name: 'o0' }] },
    },
    // bitmaps: [] is left out on purpose: it kills qemu-storage-daemon 7.2 with SIGSEGV
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b0', bitmaps: ['b0'] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'nob', bitmaps: ['b0'] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b0', bitmaps: ['nob'] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b0', bitmaps: ['b1', 'nob'] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b0', bitmaps: ['o0'] } },
    {
      qmp: 'block-dirty-bitmap-merge',
      args: { node: 'src', target: 'b0', bitmaps: [{ node: 'nope', name: 'b0' }] },
    },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'nope', target: 'b0', bitmaps: ['b1'] } },
    nodes,
  ],
});

export const mergeDisabledTarget = defineRunbook({
  id: 'bitmaps/merge-disabled',
  title: 'merging into a disabled bitmap and from a disabled one',
  steps: [
    nullNode('src'),
    add('b0', { disabled: true }),
    add('b1'),
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b0', bitmaps: ['b1'] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b1', bitmaps: ['b0'] } },
    nodes,
  ],
});

export const persistentQcow2 = defineRunbook({
  id: 'bitmaps/persistent-qcow2',
  title: 'persistent bitmaps on qcow2 are accepted; on a read-only qcow2 and on raw they are not',
  files: [
    { name: 'a.qcow2', format: 'qcow2', size: 4 * MiB },
    { name: 'b.raw', format: 'raw', size: 4 * MiB },
  ],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'qcow2', 'node-name': 'q', file: { driver: 'file', filename: '@a.qcow2' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r', file: { driver: 'file', filename: '@b.raw' } },
    },
    add('p0', { persistent: true }, 'q'),
    add('p1', { persistent: true, granularity: 4096, disabled: true }, 'q'),
    add('t0', {}, 'q'),
    add('p0', { persistent: true }, 'r'),
    nodes,
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'q', name: 'p0' } },
    nodes,
  ],
});

export const persistentReadOnly = defineRunbook({
  id: 'bitmaps/persistent-read-only',
  title: 'bitmaps on a read-only qcow2 node',
  files: [{ name: 'a.qcow2', format: 'qcow2', size: 4 * MiB }],
  steps: [
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'qcow2',
        'node-name': 'q',
        'read-only': true,
        file: { driver: 'file', filename: '@a.qcow2' },
      },
    },
    add('p0', { persistent: true }, 'q'),
    add('t0', {}, 'q'),
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'q', name: 't0' } },
    nodes,
  ],
});

export const onFileChild = defineRunbook({
  id: 'bitmaps/on-child-nodes',
  title: 'bitmaps on an inline child node and on a parent; node lookup by name only',
  files: [{ name: 'a.raw', format: 'raw', size: 4 * MiB }],
  steps: [
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'raw',
        'node-name': 'r',
        file: { driver: 'file', 'node-name': 'f', filename: '@a.raw' },
      },
    },
    add('bf', {}, 'f'),
    add('br', {}, 'r'),
    nodes,
    { qmp: 'blockdev-del', args: { 'node-name': 'r' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'f', name: 'bf' } },
    nodes,
  ],
});

export const dirtyCounts = defineRunbook({
  id: 'bitmaps/dirty-counts',
  title: 'guest writes make bitmaps dirty; clear, disable, merge and the counts',
  flavour: 'system',
  files: [{ name: 'a.raw', format: 'raw', size: 4 * MiB }],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'src', file: { driver: 'file', filename: '@a.raw' } },
    },
    add('b0'),
    add('b1', { granularity: 512 }),
    add('b2', { disabled: true }),
    { io: 'write -P 0x11 0 64k', node: 'src' },
    { io: 'write -P 0x22 1M 4k', node: 'src' },
    { io: 'write -P 0x33 4190208 4k', node: 'src' },
    nodes,
    { qmp: 'block-dirty-bitmap-disable', args: { node: 'src', name: 'b1' } },
    { io: 'write -P 0x44 2M 512', node: 'src' },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b2', bitmaps: ['b1'] } },
    nodes,
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'src', name: 'b0' } },
    { io: 'write -z 3M 128k', node: 'src' },
    nodes,
  ],
});

export const discardIgnored = defineRunbook({
  id: 'bitmaps/discard-ignored',
  title: 'a discard on a node opened without discard=unmap does nothing: data stays, bitmaps stay clean',
  flavour: 'system',
  files: [
    { name: 'a.raw', format: 'raw', size: 4 * MiB, writes: [{ offset: 0, length: 4 * MiB, pattern: 0x11 }] },
  ],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'src', file: { driver: 'file', filename: '@a.raw' } },
    },
    add('b0'),
    { io: 'discard 0 64k', node: 'src' },
    { io: 'read -P 0x11 0 64k', node: 'src' },
    nodes,
  ],
});

export const busyUnderBackup = defineRunbook({
  id: 'bitmaps/busy-under-backup',
  title: 'a bitmap used by an incremental backup is busy: remove, clear, enable, disable, merge into it',
  flavour: 'system',
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    add('b0', {}, 'big'),
    add('b1', {}, 'big'),
    { io: 'write -P 0x11 0 4M', node: 'big' },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'big', target: 'bigt', sync: 'incremental', bitmap: 'b0', speed: 65536 },
    },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'big', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'big', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-disable', args: { node: 'big', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'big', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'big', target: 'b0', bitmaps: ['b1'] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'big', target: 'b1', bitmaps: ['b0'] } },
    { qmp: 'block-job-cancel', args: { device: 'j' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'big', name: 'b0' } },
  ],
});

export const backupBitmapQuery = defineRunbook({
  id: 'bitmaps/backup-bitmap-query',
  title: 'what query-named-block-nodes shows of bitmaps while an incremental backup runs',
  flavour: 'system',
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    add('b0', {}, 'big'),
    add('b1', {}, 'big'),
    { io: 'write -P 0x11 0 4M', node: 'big' },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'big', target: 'bigt', sync: 'incremental', bitmap: 'b0', speed: 65536 },
    },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
    { qmp: 'block-job-cancel', args: { device: 'j' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
  ],
});

export const backupBitmapErrors = defineRunbook({
  id: 'bitmaps/backup-bitmap-errors',
  title: 'backup sync modes that need a bitmap, unknown bitmaps, bitmap-mode without a bitmap',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    add('b0'),
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'incremental' } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'bitmap' } },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full', bitmap: 'nob' },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'incremental', bitmap: 'nob' },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full', 'bitmap-mode': 'always' },
    },
    {
      qmp: 'blockdev-backup',
      args: {
        'job-id': 'j',
        device: 'src',
        target: 'tgt',
        sync: 'incremental',
        bitmap: 'b0',
        'bitmap-mode': 'always',
      },
    },
    { qmp: 'query-jobs' },
  ],
});

export const inTransaction = defineRunbook({
  id: 'bitmaps/transaction',
  title: 'bitmap actions in a transaction: applied together, rolled back by a failing action',
  steps: [
    nullNode('src'),
    add('b0'),
    {
      qmp: 'transaction',
      args: {
        actions: [
          { type: 'block-dirty-bitmap-add', data: { node: 'src', name: 't1' } },
          { type: 'block-dirty-bitmap-disable', data: { node: 'src', name: 'b0' } },
          { type: 'block-dirty-bitmap-clear', data: { node: 'src', name: 'b0' } },
        ],
      },
    },
    nodes,
    {
      qmp: 'transaction',
      args: {
        actions: [
          { type: 'block-dirty-bitmap-add', data: { node: 'src', name: 't2' } },
          { type: 'block-dirty-bitmap-remove', data: { node: 'src', name: 't1' } },
          { type: 'block-dirty-bitmap-enable', data: { node: 'src', name: 'b0' } },
          { type: 'block-dirty-bitmap-add', data: { node: 'src', name: 't2' } },
        ],
      },
    },
    nodes,
    {
      qmp: 'transaction',
      args: {
        actions: [
          { type: 'block-dirty-bitmap-remove', data: { node: 'src', name: 't1' } },
          { type: 'abort', data: {} },
        ],
      },
    },
    nodes,
  ],
});

export const BITMAPS = [
  addAndQuery,
  addErrors,
  removeErrors,
  clearErrors,
  enableDisable,
  merge,
  mergeDisabledTarget,
  persistentQcow2,
  persistentReadOnly,
  onFileChild,
  dirtyCounts,
  discardIgnored,
  busyUnderBackup,
  backupBitmapQuery,
  backupBitmapErrors,
  inTransaction,
];
