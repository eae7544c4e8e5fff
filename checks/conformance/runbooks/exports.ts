import { defineRunbook } from './define.ts';
import {
  backup,
  bitmapAdd,
  bitmapClear,
  bitmapEnable,
  bitmapMerge,
  bitmapRemove,
  blockdevAdd,
  blockdevDel,
  cancelAndWait,
  cbwNode,
  fileNode,
  GiB,
  MiB,
  nbdExport,
  nbdStart,
  nullNode,
  qcow2File,
  qcow2Node,
  queryNodes,
  rawFile,
  rawNode,
  throttleNode,
  unexport,
  waitEvent,
} from './steps.ts';

/**
 * The NBD server and block exports as QMP sees them (blockdev-nbd.c, block/export/export.c): server state,
 * export ids and names, the deprecated nbd-server-add/remove, query-block-exports, BLOCK_EXPORT_DELETED.
 * Nothing here connects a client (runbooks have no NBD client step).
 */
export const notRunning = defineRunbook({
  id: 'exports/server-not-running',
  title: 'export commands with no NBD server',
  steps: [
    nullNode('src'),
    nbdExport('e1', 'src'),
    nbdExport('e1', 'nope'),
    { qmp: 'nbd-server-add', args: { device: 'src' } },
    { qmp: 'nbd-server-add', args: { device: 'nope' } },
    { qmp: 'nbd-server-remove', args: { name: 'src' } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'query-block-exports' },
  ],
});

export const startTwice = defineRunbook({
  id: 'exports/server-start-twice',
  title: 'nbd-server-start twice, with the same and another address; a bad path',
  steps: [
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '/nonexistent/dir/x.sock' } } } },
    nbdStart,
    nbdStart,
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd2.sock' } } } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'nbd-server-stop' },
    nbdStart,
    { qmp: 'nbd-server-stop' },
  ],
});

export const startArgs = defineRunbook({
  id: 'exports/server-start-args',
  title: 'nbd-server-start argument errors: address union, max-connections, unknown tls creds',
  steps: [
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix' } } },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: {} } } },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock', bogus: 1 } } } },
    {
      qmp: 'nbd-server-start',
      args: { addr: { type: 'unix', data: { path: '@nbd.sock' } }, 'max-connections': -1 },
    },
    {
      qmp: 'nbd-server-start',
      args: { addr: { type: 'unix', data: { path: '@nbd.sock' } }, 'tls-creds': 'nope' },
    },
    {
      qmp: 'nbd-server-start',
      args: { addr: { type: 'unix', data: { path: '@nbd.sock' } }, 'max-connections': 2 },
    },
    { qmp: 'nbd-server-stop' },
  ],
});

export const addQueryDel = defineRunbook({
  id: 'exports/add-query-del',
  title: 'block-export-add, query-block-exports (newest first), block-export-del and its event, twice',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    nbdStart,
    nbdExport('e1', 'src'),
    nbdExport('e2', 'tgt', { name: 'other', description: 'hello' }),
    { qmp: 'query-block-exports' },
    ...unexport('e1'),
    { qmp: 'query-block-exports' },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'block-export-del', args: { id: 'nope' } },
    { qmp: 'block-export-del', args: { id: 'e2', mode: 'hard' } },
    waitEvent('BLOCK_EXPORT_DELETED', { id: 'e2' }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const unknownNode = defineRunbook({
  id: 'exports/unknown-node',
  title: 'an unknown node: block-export-add names no device, nbd-server-add names one',
  steps: [
    nbdStart,
    nbdExport('e1', 'nope'),
    { qmp: 'nbd-server-add', args: { device: 'nope' } },
    { qmp: 'nbd-server-add', args: { device: 'nope', name: 'n' } },
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const duplicates = defineRunbook({
  id: 'exports/duplicate-id-and-name',
  title: 'duplicate export ids and names (the name defaults to the node name, not the id)',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    nbdStart,
    nbdExport('e1', 'src'),
    nbdExport('e1', 'src', { name: 'other' }),
    nbdExport('e1', 'tgt'),
    nbdExport('e2', 'src'),
    nbdExport('e2', 'tgt', { name: 'src' }),
    nbdExport('e3', 'tgt', { name: 'e1' }),
    nbdExport('e4', 'src', { name: 'x' }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const invalidIds = defineRunbook({
  id: 'exports/invalid-ids',
  title: 'export ids: invalid, missing, empty; type not nbd',
  steps: [
    nullNode('src'),
    nbdStart,
    nbdExport('#e', 'src'),
    nbdExport('1e', 'src'),
    nbdExport('', 'src'),
    nbdExport('a b', 'src'),
    nbdExport('#e', 'nope'),
    { qmp: 'block-export-add', args: { type: 'nbd', 'node-name': 'src' } },
    { qmp: 'block-export-add', args: { type: 'bogus', id: 'e', 'node-name': 'src' } },
    { qmp: 'block-export-add', args: { id: 'e', 'node-name': 'src' } },
    nbdExport('a.b-c_d', 'src'),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const writable = defineRunbook({
  id: 'exports/writable',
  title: 'writable exports: refused on a read-only node, accepted on a normal one',
  steps: [
    nullNode('src'),
    nullNode('ro', MiB, { 'read-only': true }),
    nbdStart,
    nbdExport('e1', 'ro', { writable: true }),
    nbdExport('e2', 'ro', { writable: false }),
    nbdExport('e3', 'src', { writable: true, name: 'w' }),
    nbdExport('e4', 'src', { writable: true, name: 'w2' }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-add', args: { device: 'ro', name: 'rw', writable: true } },
    { qmp: 'nbd-server-stop' },
  ],
});

export const writableConflict = defineRunbook({
  id: 'exports/writable-permission-conflict',
  title: 'a writable export of a node under a copy-before-write filter conflicts with the filter',
  needs: ['copy-before-write'],
  steps: [
    nullNode('src'),
    nullNode('tmp'),
    cbwNode('cbw', 'src', 'tmp'),
    nbdStart,
    nbdExport('e1', 'src', { writable: true }),
    nbdExport('e2', 'tmp', { writable: true }),
    nbdExport('e3', 'src'),
    nbdExport('e4', 'cbw', { writable: true }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const longNames = defineRunbook({
  id: 'exports/long-names',
  title: 'export names and descriptions longer than NBD allows',
  steps: [
    nullNode('src'),
    nbdStart,
    nbdExport('e1', 'src', { name: 'x'.repeat(4097) }),
    nbdExport('e2', 'src', { name: 'y'.repeat(4096) }),
    nbdExport('e3', 'src', { name: 'd', description: 'z'.repeat(4097) }),
    nbdExport('e4', 'src', { name: '' }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportBitmaps = defineRunbook({
  id: 'exports/bitmaps',
  title: 'exporting dirty bitmaps: known, unknown, on a backing node',
  files: [rawFile('base.raw', 4 * MiB), qcow2File('top.qcow2', 4 * MiB)],
  steps: [
    nullNode('src'),
    rawNode('base', '@base.raw'),
    qcow2Node('top', '@top.qcow2', { backing: 'base' }),
    bitmapAdd('src', 'b0'),
    bitmapAdd('base', 'bb'),
    nbdStart,
    nbdExport('e1', 'src', { bitmaps: ['nob'] }),
    nbdExport('e2', 'src', { bitmaps: ['b0'] }),
    nbdExport('e3', 'top', { bitmaps: ['bb'] }),
    nbdExport('e4', 'top', { name: 't2', bitmaps: [{ node: 'base', name: 'bb' }] }),
    nbdExport('e5', 'top', { name: 't3', bitmaps: [{ node: 'nope', name: 'bb' }] }),
    nbdExport('e6', 'src', { name: 's2', bitmaps: ['b0', 'b0'] }),
    { qmp: 'nbd-server-add', args: { device: 'src', name: 'legacy', bitmap: 'nob' } },
    { qmp: 'nbd-server-add', args: { device: 'src', name: 'legacy', bitmap: 'b0' } },
    { qmp: 'query-block-exports' },
    bitmapRemove('src', 'b0'),
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportBitmapsBusy = defineRunbook({
  id: 'exports/bitmaps-busy',
  title: 'an exported bitmap (disabled, or on a writable export) is busy until the export is gone',
  steps: [
    nullNode('src'),
    bitmapAdd('src', 'bd', { disabled: true }),
    bitmapAdd('src', 'be'),
    nbdStart,
    nbdExport('e1', 'src', { bitmaps: ['bd'] }),
    nbdExport('e2', 'src', { name: 'w', writable: true, bitmaps: ['be'] }),
    nbdExport('e3', 'src', { name: 'again', bitmaps: ['bd'] }),
    { qmp: 'nbd-server-add', args: { device: 'src', name: 'legacy', bitmap: 'bd' } },
    bitmapRemove('src', 'bd'),
    bitmapEnable('src', 'bd'),
    bitmapClear('src', 'be'),
    bitmapMerge('src', 'be', ['bd']),
    queryNodes,
    { qmp: 'block-export-del', args: { id: 'e1' } },
    bitmapRemove('src', 'bd'),
    { qmp: 'nbd-server-stop' },
    bitmapClear('src', 'be'),
  ],
});

export const allocationDepth = defineRunbook({
  id: 'exports/allocation-depth',
  title: 'exports with allocation-depth',
  steps: [
    nullNode('src'),
    nbdStart,
    nbdExport('e1', 'src', { 'allocation-depth': true }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const legacyAddRemove = defineRunbook({
  id: 'exports/nbd-server-add-remove',
  title: 'the deprecated nbd-server-add/remove: the export id is the name; duplicates; remove twice; hard',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    nbdStart,
    { qmp: 'nbd-server-add', args: { device: 'tgt' } },
    { qmp: 'nbd-server-add', args: { device: 'tgt', name: 't2', writable: true } },
    { qmp: 'nbd-server-add', args: { device: 'tgt' } },
    { qmp: 'nbd-server-add', args: { device: 'src', name: 't2' } },
    nbdExport('tgt', 'src', { name: 'other' }),
    nbdExport('e9', 'src', { name: 't2' }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-remove', args: { name: 'tgt' } },
    { qmp: 'nbd-server-remove', args: { name: 'tgt' } },
    { qmp: 'nbd-server-remove', args: { name: 't2', mode: 'hard' } },
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const legacyVsBlockExport = defineRunbook({
  id: 'exports/legacy-and-new-mixed',
  title: 'nbd-server-remove finds exports by name (made by block-export-add too); block-export-del by id',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    nbdStart,
    nbdExport('e1', 'src', { name: 'n1' }),
    { qmp: 'nbd-server-add', args: { device: 'tgt', name: 'n2' } },
    { qmp: 'nbd-server-remove', args: { name: 'e1' } },
    { qmp: 'nbd-server-remove', args: { name: 'n1' } },
    { qmp: 'block-export-del', args: { id: 'n2' } },
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const stopOrder = defineRunbook({
  id: 'exports/server-stop-order',
  title: 'nbd-server-stop with three exports: the order of BLOCK_EXPORT_DELETED',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    nullNode('small', MiB),
    nbdStart,
    nbdExport('ea', 'src', { name: 'a' }),
    nbdExport('eb', 'tgt', { name: 'b' }),
    { qmp: 'nbd-server-add', args: { device: 'small' } },
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const stopOrderAfterDel = defineRunbook({
  id: 'exports/server-stop-order-after-del',
  title: 'nbd-server-stop after one of four exports was deleted and another added again',
  steps: [
    nullNode('n1'),
    nullNode('n2'),
    nullNode('n3'),
    nbdStart,
    nbdExport('e1', 'n1'),
    nbdExport('e2', 'n2'),
    nbdExport('e3', 'n3'),
    { qmp: 'block-export-del', args: { id: 'e2' } },
    nbdExport('e2', 'n2'),
    nbdExport('e4', 'n1', { name: 'again' }),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const restart = defineRunbook({
  id: 'exports/server-restart',
  title: 'after nbd-server-stop, exports are gone and a new server can be started and used',
  steps: [
    nullNode('src'),
    nbdStart,
    nbdExport('e1', 'src'),
    { qmp: 'nbd-server-stop' },
    nbdExport('e1', 'src'),
    { qmp: 'block-export-del', args: { id: 'e1' } },
    nbdStart,
    nbdExport('e1', 'src'),
    { qmp: 'query-block-exports' },
    blockdevDel('src'),
    { qmp: 'nbd-server-stop' },
    blockdevDel('src'),
  ],
});

export const exportedNodeDel = defineRunbook({
  id: 'exports/blockdev-del-exported',
  title: 'an exported node and its child cannot be deleted until the export is gone',
  files: [rawFile('a.raw', MiB)],
  steps: [
    fileNode('f', '@a.raw'),
    blockdevAdd({ driver: 'raw', 'node-name': 'r', file: 'f' }),
    nbdStart,
    nbdExport('e1', 'r'),
    nbdExport('e2', 'f', { name: 'file' }),
    blockdevDel('r'),
    blockdevDel('f'),
    { qmp: 'block-export-del', args: { id: 'e1' } },
    blockdevDel('r'),
    blockdevDel('f'),
    { qmp: 'block-export-del', args: { id: 'e2' } },
    blockdevDel('f'),
    { qmp: 'query-block-exports' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportQueryBlock = defineRunbook({
  id: 'exports/query-named-block-nodes',
  title: 'an export does not show in query-named-block-nodes; query-block lists no anonymous backends',
  steps: [
    nullNode('src', MiB),
    nbdStart,
    nbdExport('e1', 'src'),
    queryNodes,
    { qmp: 'query-block' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportOfFilterAndBackup = defineRunbook({
  id: 'exports/export-backup-target',
  title: "exporting a running backup's target and its source; blockdev-del of them",
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    backup('j', 'big', 'bigt', 'none'),
    nbdStart,
    nbdExport('e1', 'bigt'),
    nbdExport('e2', 'big', { writable: true }),
    nbdExport('e3', 'big'),
    { qmp: 'query-block-exports' },
    blockdevDel('bigt'),
    { qmp: 'block-export-del', args: { id: 'e1' } },
    ...cancelAndWait('j'),
    { qmp: 'nbd-server-stop' },
  ],
});

/** iothread and throttle-group objects as exports and throttle nodes see them */
export const objects = defineRunbook({
  id: 'exports/iothread-and-objects',
  title: 'object-add iothread/throttle-group, an export naming an iothread, object-del while in use',
  steps: [
    nullNode('n0'),
    nbdStart,
    { qmp: 'object-add', args: { 'qom-type': 'iothread', id: 'io1' } },
    { qmp: 'object-add', args: { 'qom-type': 'iothread', id: 'io1' }, note: 'duplicate' },
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg', limits: { 'bps-total': 1000 } } },
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg' }, note: 'duplicate' },
    throttleNode('t', 'tg', 'n0'),
    nbdExport('e1', 'n0', { iothread: 'io1' }),
    nbdExport('e2', 'n0', { iothread: 'nope', name: 'x' }),
    nbdExport('e3', 'nonode', { iothread: 'nope' }),
    { qmp: 'query-block-exports' },
    { qmp: 'object-del', args: { id: 'tg' }, note: 'the throttle node uses it' },
    { qmp: 'object-del', args: { id: 'nope' } },
    { qmp: 'object-add', args: { 'qom-type': 'nosuch', id: 'x' } },
    blockdevDel('t'),
    { qmp: 'object-del', args: { id: 'tg' } },
    { qmp: 'block-export-del', args: { id: 'e1' }, note: 'no wait: on 5.2 there is no object-add, so no e1' },
    { sleepMs: 200 },
    { qmp: 'object-del', args: { id: 'io1' } },
  ],
});

export const EXPORTS = [
  notRunning,
  startTwice,
  startArgs,
  addQueryDel,
  unknownNode,
  duplicates,
  invalidIds,
  writable,
  writableConflict,
  longNames,
  exportBitmaps,
  exportBitmapsBusy,
  allocationDepth,
  legacyAddRemove,
  legacyVsBlockExport,
  stopOrder,
  stopOrderAfterDel,
  restart,
  exportedNodeDel,
  exportQueryBlock,
  exportOfFilterAndBackup,
  objects,
];
