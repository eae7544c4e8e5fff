import { defineRunbook } from './define.ts';

/**
 * The NBD server and block exports as QMP sees them (blockdev-nbd.c, block/export/export.c): server state,
 * export ids and names, the deprecated nbd-server-add/remove, query-block-exports, BLOCK_EXPORT_DELETED.
 * Nothing here connects a client (runbooks have no NBD client step).
 */
const MiB = 1 << 20;

const nullNode = (name: string, size = 64 * MiB, extra: Record<string, unknown> = {}) => ({
  qmp: 'blockdev-add',
  args: { driver: 'null-co', 'node-name': name, size, ...extra },
});
const start = { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } };
const exp = (id: string, node: string, extra: Record<string, unknown> = {}) => ({
  qmp: 'block-export-add',
  args: { type: 'nbd', id, 'node-name': node, ...extra },
});
const list = { qmp: 'query-block-exports' };

export const notRunning = defineRunbook({
  id: 'exports/server-not-running',
  title: 'export commands with no NBD server',
  steps: [
    nullNode('src'),
    exp('e1', 'src'),
    exp('e1', 'nope'),
    { qmp: 'nbd-server-add', args: { device: 'src' } },
    { qmp: 'nbd-server-add', args: { device: 'nope' } },
    { qmp: 'nbd-server-remove', args: { name: 'src' } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    list,
  ],
});

export const startTwice = defineRunbook({
  id: 'exports/server-start-twice',
  title: 'nbd-server-start twice, with the same and another address; a bad path',
  steps: [
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '/nonexistent/dir/x.sock' } } } },
    start,
    start,
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd2.sock' } } } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'nbd-server-stop' },
    start,
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
    start,
    exp('e1', 'src'),
    exp('e2', 'tgt', { name: 'other', description: 'hello' }),
    list,
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { wait: { event: 'BLOCK_EXPORT_DELETED', data: { id: 'e1' } } },
    list,
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'block-export-del', args: { id: 'nope' } },
    { qmp: 'block-export-del', args: { id: 'e2', mode: 'hard' } },
    { wait: { event: 'BLOCK_EXPORT_DELETED', data: { id: 'e2' } } },
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const unknownNode = defineRunbook({
  id: 'exports/unknown-node',
  title: 'an unknown node: block-export-add names no device, nbd-server-add names one',
  steps: [
    start,
    exp('e1', 'nope'),
    { qmp: 'nbd-server-add', args: { device: 'nope' } },
    { qmp: 'nbd-server-add', args: { device: 'nope', name: 'n' } },
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const duplicates = defineRunbook({
  id: 'exports/duplicate-id-and-name',
  title: 'duplicate export ids and names (the name defaults to the node name, not the id)',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    start,
    exp('e1', 'src'),
    exp('e1', 'src', { name: 'other' }),
    exp('e1', 'tgt'),
    exp('e2', 'src'),
    exp('e2', 'tgt', { name: 'src' }),
    exp('e3', 'tgt', { name: 'e1' }),
    exp('e4', 'src', { name: 'x' }),
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const invalidIds = defineRunbook({
  id: 'exports/invalid-ids',
  title: 'export ids: invalid, missing, empty; type not nbd',
  steps: [
    nullNode('src'),
    start,
    exp('#e', 'src'),
    exp('1e', 'src'),
    exp('', 'src'),
    exp('a b', 'src'),
    exp('#e', 'nope'),
    { qmp: 'block-export-add', args: { type: 'nbd', 'node-name': 'src' } },
    { qmp: 'block-export-add', args: { type: 'bogus', id: 'e', 'node-name': 'src' } },
    { qmp: 'block-export-add', args: { id: 'e', 'node-name': 'src' } },
    exp('a.b-c_d', 'src'),
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const writable = defineRunbook({
  id: 'exports/writable',
  title: 'writable exports: refused on a read-only node, accepted on a normal one',
  steps: [
    nullNode('src'),
    nullNode('ro', MiB, { 'read-only': true }),
    start,
    exp('e1', 'ro', { writable: true }),
    exp('e2', 'ro', { writable: false }),
    exp('e3', 'src', { writable: true, name: 'w' }),
    exp('e4', 'src', { writable: true, name: 'w2' }),
    list,
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
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'src', target: 'tmp' },
    },
    start,
    exp('e1', 'src', { writable: true }),
    exp('e2', 'tmp', { writable: true }),
    exp('e3', 'src'),
    exp('e4', 'cbw', { writable: true }),
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const longNames = defineRunbook({
  id: 'exports/long-names',
  title: 'export names and descriptions longer than NBD allows',
  steps: [
    nullNode('src'),
    start,
    exp('e1', 'src', { name: 'x'.repeat(4097) }),
    exp('e2', 'src', { name: 'y'.repeat(4096) }),
    exp('e3', 'src', { name: 'd', description: 'z'.repeat(4097) }),
    exp('e4', 'src', { name: '' }),
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportBitmaps = defineRunbook({
  id: 'exports/bitmaps',
  title: 'exporting dirty bitmaps: known, unknown, on a backing node',
  files: [
    { name: 'base.raw', format: 'raw', size: 4 * MiB },
    { name: 'top.qcow2', format: 'qcow2', size: 4 * MiB },
  ],
  steps: [
    nullNode('src'),
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'base', file: { driver: 'file', filename: '@base.raw' } },
    },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'qcow2',
        'node-name': 'top',
        file: { driver: 'file', filename: '@top.qcow2' },
        backing: 'base',
      },
    },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'base', name: 'bb' } },
    start,
    exp('e1', 'src', { bitmaps: ['nob'] }),
    exp('e2', 'src', { bitmaps: ['b0'] }),
    exp('e3', 'top', { bitmaps: ['bb'] }),
    exp('e4', 'top', { name: 't2', bitmaps: [{ node: 'base', name: 'bb' }] }),
    exp('e5', 'top', { name: 't3', bitmaps: [{ node: 'nope', name: 'bb' }] }),
    exp('e6', 'src', { name: 's2', bitmaps: ['b0', 'b0'] }),
    { qmp: 'nbd-server-add', args: { device: 'src', name: 'legacy', bitmap: 'nob' } },
    { qmp: 'nbd-server-add', args: { device: 'src', name: 'legacy', bitmap: 'b0' } },
    list,
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: 'b0' } },
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportBitmapsBusy = defineRunbook({
  id: 'exports/bitmaps-busy',
  title: 'an exported bitmap (disabled, or on a writable export) is busy until the export is gone',
  steps: [
    nullNode('src'),
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src', name: 'bd', disabled: true } },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src', name: 'be' } },
    start,
    exp('e1', 'src', { bitmaps: ['bd'] }),
    exp('e2', 'src', { name: 'w', writable: true, bitmaps: ['be'] }),
    exp('e3', 'src', { name: 'again', bitmaps: ['bd'] }),
    { qmp: 'nbd-server-add', args: { device: 'src', name: 'legacy', bitmap: 'bd' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: 'bd' } },
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'src', name: 'bd' } },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'src', name: 'be' } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'be', bitmaps: ['bd'] } },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'src', name: 'bd' } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'src', name: 'be' } },
  ],
});

export const allocationDepth = defineRunbook({
  id: 'exports/allocation-depth',
  title: 'exports with allocation-depth',
  steps: [
    nullNode('src'),
    start,
    exp('e1', 'src', { 'allocation-depth': true }),
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const legacyAddRemove = defineRunbook({
  id: 'exports/nbd-server-add-remove',
  title: 'the deprecated nbd-server-add/remove: the export id is the name; duplicates; remove twice; hard',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    start,
    { qmp: 'nbd-server-add', args: { device: 'tgt' } },
    { qmp: 'nbd-server-add', args: { device: 'tgt', name: 't2', writable: true } },
    { qmp: 'nbd-server-add', args: { device: 'tgt' } },
    { qmp: 'nbd-server-add', args: { device: 'src', name: 't2' } },
    exp('tgt', 'src', { name: 'other' }),
    exp('e9', 'src', { name: 't2' }),
    list,
    { qmp: 'nbd-server-remove', args: { name: 'tgt' } },
    { qmp: 'nbd-server-remove', args: { name: 'tgt' } },
    { qmp: 'nbd-server-remove', args: { name: 't2', mode: 'hard' } },
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const legacyVsBlockExport = defineRunbook({
  id: 'exports/legacy-and-new-mixed',
  title: 'nbd-server-remove finds exports by name (made by block-export-add too); block-export-del by id',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    start,
    exp('e1', 'src', { name: 'n1' }),
    { qmp: 'nbd-server-add', args: { device: 'tgt', name: 'n2' } },
    { qmp: 'nbd-server-remove', args: { name: 'e1' } },
    { qmp: 'nbd-server-remove', args: { name: 'n1' } },
    { qmp: 'block-export-del', args: { id: 'n2' } },
    list,
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
    start,
    exp('ea', 'src', { name: 'a' }),
    exp('eb', 'tgt', { name: 'b' }),
    { qmp: 'nbd-server-add', args: { device: 'small' } },
    list,
    { qmp: 'nbd-server-stop' },
    list,
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
    start,
    exp('e1', 'n1'),
    exp('e2', 'n2'),
    exp('e3', 'n3'),
    { qmp: 'block-export-del', args: { id: 'e2' } },
    exp('e2', 'n2'),
    exp('e4', 'n1', { name: 'again' }),
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const restart = defineRunbook({
  id: 'exports/server-restart',
  title: 'after nbd-server-stop, exports are gone and a new server can be started and used',
  steps: [
    nullNode('src'),
    start,
    exp('e1', 'src'),
    { qmp: 'nbd-server-stop' },
    exp('e1', 'src'),
    { qmp: 'block-export-del', args: { id: 'e1' } },
    start,
    exp('e1', 'src'),
    list,
    { qmp: 'blockdev-del', args: { 'node-name': 'src' } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'blockdev-del', args: { 'node-name': 'src' } },
  ],
});

export const exportedNodeDel = defineRunbook({
  id: 'exports/blockdev-del-exported',
  title: 'an exported node and its child cannot be deleted until the export is gone',
  files: [{ name: 'a.raw', format: 'raw', size: MiB }],
  steps: [
    { qmp: 'blockdev-add', args: { driver: 'file', 'node-name': 'f', filename: '@a.raw' } },
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r', file: 'f' } },
    start,
    exp('e1', 'r'),
    exp('e2', 'f', { name: 'file' }),
    { qmp: 'blockdev-del', args: { 'node-name': 'r' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'f' } },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'r' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'f' } },
    { qmp: 'block-export-del', args: { id: 'e2' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'f' } },
    list,
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportQueryBlock = defineRunbook({
  id: 'exports/query-named-block-nodes',
  title: 'an export does not show in query-named-block-nodes; query-block lists no anonymous backends',
  steps: [
    nullNode('src', MiB),
    start,
    exp('e1', 'src'),
    { qmp: 'query-named-block-nodes', args: { flat: true } },
    { qmp: 'query-block' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const exportOfFilterAndBackup = defineRunbook({
  id: 'exports/export-backup-target',
  title: "exporting a running backup's target and its source; blockdev-del of them",
  steps: [
    nullNode('big', 10 * (1 << 30)),
    nullNode('bigt', 10 * (1 << 30)),
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'big', target: 'bigt', sync: 'none' } },
    start,
    exp('e1', 'bigt'),
    exp('e2', 'big', { writable: true }),
    exp('e3', 'big'),
    list,
    { qmp: 'blockdev-del', args: { 'node-name': 'bigt' } },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'block-job-cancel', args: { device: 'j' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
    { qmp: 'nbd-server-stop' },
  ],
});

/** iothread and throttle-group objects as exports and throttle nodes see them */
export const objects = defineRunbook({
  id: 'exports/iothread-and-objects',
  title: 'object-add iothread/throttle-group, an export naming an iothread, object-del while in use',
  steps: [
    nullNode('n0'),
    start,
    { qmp: 'object-add', args: { 'qom-type': 'iothread', id: 'io1' } },
    { qmp: 'object-add', args: { 'qom-type': 'iothread', id: 'io1' }, note: 'duplicate' },
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg', limits: { 'bps-total': 1000 } } },
    { qmp: 'object-add', args: { 'qom-type': 'throttle-group', id: 'tg' }, note: 'duplicate' },
    {
      qmp: 'blockdev-add',
      args: { driver: 'throttle', 'node-name': 't', 'throttle-group': 'tg', file: 'n0' },
    },
    exp('e1', 'n0', { iothread: 'io1' }),
    exp('e2', 'n0', { iothread: 'nope', name: 'x' }),
    exp('e3', 'nonode', { iothread: 'nope' }),
    list,
    { qmp: 'object-del', args: { id: 'tg' }, note: 'the throttle node uses it' },
    { qmp: 'object-del', args: { id: 'nope' } },
    { qmp: 'object-add', args: { 'qom-type': 'nosuch', id: 'x' } },
    { qmp: 'blockdev-del', args: { 'node-name': 't' } },
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
