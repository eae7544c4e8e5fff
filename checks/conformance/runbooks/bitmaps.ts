import { defineRunbook } from './define.ts';
import {
  backup,
  bitmapAdd,
  bitmapClear,
  bitmapDisable,
  bitmapEnable,
  bitmapMerge,
  bitmapRemove,
  blockdevAdd,
  blockdevDel,
  cancelAndWait,
  GiB,
  MiB,
  nullNode,
  pattern,
  qcow2File,
  qcow2Node,
  queryNodes,
  rawFile,
  rawNode,
  transaction,
} from './steps.ts';

/**
 * Dirty bitmaps (block/monitor/bitmap-qmp-cmds.c, block/dirty-bitmap.c): add, remove, clear, enable,
 * disable, merge, what query-named-block-nodes shows, the errors of each, busy bitmaps under a backup.
 */
export const addAndQuery = defineRunbook({
  id: 'bitmaps/add-and-query',
  title: 'bitmaps with default and given granularity, disabled, as query-named-block-nodes shows them',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('src', 'b1', { granularity: 512 }),
    bitmapAdd('src', 'b2', { granularity: 2 * MiB, disabled: true }),
    bitmapAdd('src', 'b3', { persistent: false, disabled: false }),
    queryNodes,
    { qmp: 'query-block' },
  ],
});

export const addErrors = defineRunbook({
  id: 'bitmaps/add-errors',
  title:
    'block-dirty-bitmap-add errors: duplicate, unknown node, empty name, granularity, persistent, long name',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('nope', 'b0'),
    bitmapAdd('src', ''),
    bitmapAdd('nope', ''),
    bitmapAdd('src', 'bg', { granularity: 1000 }),
    bitmapAdd('src', 'bg', { granularity: 256 }),
    bitmapAdd('src', 'bg', { granularity: 0 }),
    bitmapAdd('nope', 'bg', { granularity: 1000 }),
    bitmapAdd('src', 'bp', { persistent: true }),
    bitmapAdd('src', 'b0', { persistent: true }),
    bitmapAdd('src', 'a'.repeat(1023)),
    bitmapAdd('src', 'c'.repeat(1024)),
    queryNodes,
  ],
});

export const removeErrors = defineRunbook({
  id: 'bitmaps/remove',
  title: 'block-dirty-bitmap-remove: works once; unknown bitmap; unknown node',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('src', 'b1'),
    bitmapRemove('src', 'nob'),
    bitmapRemove('nope', 'b0'),
    bitmapRemove('src', 'b0'),
    bitmapRemove('src', 'b0'),
    bitmapRemove('src', ''),
    queryNodes,
  ],
});

export const clearErrors = defineRunbook({
  id: 'bitmaps/clear',
  title: 'block-dirty-bitmap-clear: works; unknown bitmap; unknown node; disabled bitmap',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('src', 'b1', { disabled: true }),
    bitmapClear('src', 'b0'),
    bitmapClear('src', 'b1'),
    bitmapClear('src', 'nob'),
    bitmapClear('nope', 'b0'),
    queryNodes,
  ],
});

export const enableDisable = defineRunbook({
  id: 'bitmaps/enable-disable',
  title: 'enable and disable, twice each; unknown bitmap and node; recording in the query',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0'),
    bitmapDisable('src', 'b0'),
    bitmapDisable('src', 'b0'),
    queryNodes,
    bitmapEnable('src', 'b0'),
    bitmapEnable('src', 'b0'),
    queryNodes,
    bitmapEnable('src', 'nob'),
    bitmapDisable('src', 'nob'),
    bitmapEnable('nope', 'b0'),
    bitmapDisable('nope', 'b0'),
  ],
});

export const merge = defineRunbook({
  id: 'bitmaps/merge',
  title: 'block-dirty-bitmap-merge: names and node/name pairs, other nodes, unknown target, source, node',
  steps: [
    nullNode('src'),
    nullNode('other'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('src', 'b1', { granularity: 4096 }),
    bitmapAdd('other', 'o0'),
    bitmapMerge('src', 'b0', ['b1', { node: 'src', name: 'b1' }]),
    bitmapMerge('src', 'b0', [{ node: 'other', name: 'o0' }]),
    // bitmaps: [] is left out on purpose: it kills qemu-storage-daemon 7.2 with SIGSEGV
    bitmapMerge('src', 'b0', ['b0']),
    bitmapMerge('src', 'nob', ['b0']),
    bitmapMerge('src', 'b0', ['nob']),
    bitmapMerge('src', 'b0', ['b1', 'nob']),
    bitmapMerge('src', 'b0', ['o0']),
    bitmapMerge('src', 'b0', [{ node: 'nope', name: 'b0' }]),
    bitmapMerge('nope', 'b0', ['b1']),
    queryNodes,
  ],
});

export const mergeDisabledTarget = defineRunbook({
  id: 'bitmaps/merge-disabled',
  title: 'merging into a disabled bitmap and from a disabled one',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0', { disabled: true }),
    bitmapAdd('src', 'b1'),
    bitmapMerge('src', 'b0', ['b1']),
    bitmapMerge('src', 'b1', ['b0']),
    queryNodes,
  ],
});

export const persistentQcow2 = defineRunbook({
  id: 'bitmaps/persistent-qcow2',
  title: 'persistent bitmaps on qcow2 are accepted; on a read-only qcow2 and on raw they are not',
  files: [qcow2File('a.qcow2', 4 * MiB), rawFile('b.raw', 4 * MiB)],
  steps: [
    qcow2Node('q', '@a.qcow2'),
    rawNode('r', '@b.raw'),
    bitmapAdd('q', 'p0', { persistent: true }),
    bitmapAdd('q', 'p1', { persistent: true, granularity: 4096, disabled: true }),
    bitmapAdd('q', 't0'),
    bitmapAdd('r', 'p0', { persistent: true }),
    queryNodes,
    bitmapRemove('q', 'p0'),
    queryNodes,
  ],
});

export const persistentReadOnly = defineRunbook({
  id: 'bitmaps/persistent-read-only',
  title: 'bitmaps on a read-only qcow2 node',
  files: [qcow2File('a.qcow2', 4 * MiB)],
  steps: [
    blockdevAdd({
      driver: 'qcow2',
      'node-name': 'q',
      'read-only': true,
      file: { driver: 'file', filename: '@a.qcow2' },
    }),
    bitmapAdd('q', 'p0', { persistent: true }),
    bitmapAdd('q', 't0'),
    bitmapClear('q', 't0'),
    queryNodes,
  ],
});

export const onFileChild = defineRunbook({
  id: 'bitmaps/on-child-nodes',
  title: 'bitmaps on an inline child node and on a parent; node lookup by name only',
  files: [rawFile('a.raw', 4 * MiB)],
  steps: [
    blockdevAdd({
      driver: 'raw',
      'node-name': 'r',
      file: { driver: 'file', 'node-name': 'f', filename: '@a.raw' },
    }),
    bitmapAdd('f', 'bf'),
    bitmapAdd('r', 'br'),
    queryNodes,
    blockdevDel('r'),
    bitmapRemove('f', 'bf'),
    queryNodes,
  ],
});

export const dirtyCounts = defineRunbook({
  id: 'bitmaps/dirty-counts',
  title: 'guest writes make bitmaps dirty; clear, disable, merge and the counts',
  flavour: 'system',
  files: [rawFile('a.raw', 4 * MiB)],
  steps: [
    rawNode('src', '@a.raw'),
    bitmapAdd('src', 'b0'),
    bitmapAdd('src', 'b1', { granularity: 512 }),
    bitmapAdd('src', 'b2', { disabled: true }),
    { io: 'write -P 0x11 0 64k', node: 'src' },
    { io: 'write -P 0x22 1M 4k', node: 'src' },
    { io: 'write -P 0x33 4190208 4k', node: 'src' },
    queryNodes,
    bitmapDisable('src', 'b1'),
    { io: 'write -P 0x44 2M 512', node: 'src' },
    bitmapMerge('src', 'b2', ['b1']),
    queryNodes,
    bitmapClear('src', 'b0'),
    { io: 'write -z 3M 128k', node: 'src' },
    queryNodes,
  ],
});

export const discardIgnored = defineRunbook({
  id: 'bitmaps/discard-ignored',
  title: 'a discard on a node opened without discard=unmap does nothing: data stays, bitmaps stay clean',
  flavour: 'system',
  files: [rawFile('a.raw', 4 * MiB, [pattern(0x11, 0, 4 * MiB)])],
  steps: [
    rawNode('src', '@a.raw'),
    bitmapAdd('src', 'b0'),
    { io: 'discard 0 64k', node: 'src' },
    { io: 'read -P 0x11 0 64k', node: 'src' },
    queryNodes,
  ],
});

export const busyUnderBackup = defineRunbook({
  id: 'bitmaps/busy-under-backup',
  title: 'a bitmap used by an incremental backup is busy: remove, clear, enable, disable, merge into it',
  flavour: 'system',
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    bitmapAdd('big', 'b0'),
    bitmapAdd('big', 'b1'),
    { io: 'write -P 0x11 0 4M', node: 'big' },
    backup('j', 'big', 'bigt', 'incremental', { bitmap: 'b0', speed: 65536 }),
    bitmapRemove('big', 'b0'),
    bitmapClear('big', 'b0'),
    bitmapDisable('big', 'b0'),
    bitmapEnable('big', 'b0'),
    bitmapMerge('big', 'b0', ['b1']),
    bitmapMerge('big', 'b1', ['b0']),
    ...cancelAndWait('j'),
    bitmapRemove('big', 'b0'),
  ],
});

export const backupBitmapQuery = defineRunbook({
  id: 'bitmaps/backup-bitmap-query',
  title: 'what query-named-block-nodes shows of bitmaps while an incremental backup runs',
  flavour: 'system',
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    bitmapAdd('big', 'b0'),
    bitmapAdd('big', 'b1'),
    { io: 'write -P 0x11 0 4M', node: 'big' },
    backup('j', 'big', 'bigt', 'incremental', { bitmap: 'b0', speed: 65536 }),
    queryNodes,
    ...cancelAndWait('j'),
    queryNodes,
  ],
});

export const backupBitmapErrors = defineRunbook({
  id: 'bitmaps/backup-bitmap-errors',
  title: 'backup sync modes that need a bitmap, unknown bitmaps, bitmap-mode without a bitmap',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    bitmapAdd('src', 'b0'),
    backup('j', 'src', 'tgt', 'incremental'),
    backup('j', 'src', 'tgt', 'bitmap'),
    backup('j', 'src', 'tgt', 'full', { bitmap: 'nob' }),
    backup('j', 'src', 'tgt', 'incremental', { bitmap: 'nob' }),
    backup('j', 'src', 'tgt', 'full', { 'bitmap-mode': 'always' }),
    backup('j', 'src', 'tgt', 'incremental', { bitmap: 'b0', 'bitmap-mode': 'always' }),
    { qmp: 'query-jobs' },
  ],
});

export const inTransaction = defineRunbook({
  id: 'bitmaps/transaction',
  title: 'bitmap actions in a transaction: applied together, rolled back by a failing action',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'b0'),
    transaction([bitmapAdd('src', 't1'), bitmapDisable('src', 'b0'), bitmapClear('src', 'b0')]),
    queryNodes,
    transaction([
      bitmapAdd('src', 't2'),
      bitmapRemove('src', 't1'),
      bitmapEnable('src', 'b0'),
      bitmapAdd('src', 't2'),
    ]),
    queryNodes,
    transaction([bitmapRemove('src', 't1'), { type: 'abort', data: {} }]),
    queryNodes,
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
