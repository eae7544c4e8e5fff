import { defineRunbook } from './define.ts';
import {
  backup,
  bitmapAdd,
  bitmapRemove,
  blockdevAdd,
  blockdevDel,
  cancelAndWait,
  cbwNode,
  createFile,
  device,
  fileNode,
  GiB,
  MiB,
  mirror,
  nbdExport,
  nbdStart,
  nullNode,
  queryNodes,
  rawFile,
  waitEvent,
  waitJob,
} from './steps.ts';

/**
 * Error replies (FACTS §6, observations §4): QMP dispatch, argument checking, node lookup, blockdev-add and
 * blockdev-del, unknown jobs, invalid job ids, busy nodes. Each runbook is one topic.
 */
export const unknownCommand = defineRunbook({
  id: 'errors/unknown-command',
  title: 'unknown commands and a second qmp_capabilities: CommandNotFound',
  steps: [
    { qmp: 'bogus' },
    { qmp: 'query-bogus', args: { x: 1 } },
    { qmp: 'qmp_capabilities', note: 'the runner negotiated already' },
    { qmp: 'drive-mirror-bogus', args: {} },
    { qmp: 'query-jobs' },
  ],
});

export const argsMissing = defineRunbook({
  id: 'errors/args-missing',
  title: 'a required member is missing',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'tgt' } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', sync: 'full' } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', target: 'tgt', sync: 'full' } },
    { qmp: 'blockdev-del', args: {} },
    { qmp: 'block-job-cancel', args: {} },
    { qmp: 'job-cancel', args: {} },
    { qmp: 'block-job-set-speed', args: { device: 'j' } },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src' } },
    { qmp: 'block-dirty-bitmap-add', args: { name: 'b' } },
    { qmp: 'nbd-server-start', args: {} },
    { qmp: 'block-export-add', args: { type: 'nbd', 'node-name': 'src' } },
    { qmp: 'block-export-add', args: { id: 'e', 'node-name': 'src' } },
    { qmp: 'blockdev-add', args: { 'node-name': 'x' } },
  ],
});

export const argsUnexpected = defineRunbook({
  id: 'errors/args-unexpected',
  title: 'an unknown member is unexpected (also for commands without arguments)',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'query-jobs', args: { x: 1 } },
    { qmp: 'query-block-exports', args: { verbose: true } },
    { qmp: 'nbd-server-stop', args: { force: true } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full', extra: 1 } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'x', bogus: 1 } },
    { qmp: 'blockdev-del', args: { 'node-name': 'src', force: true } },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src', name: 'b', colour: 'red' } },
    { qmp: 'block-job-cancel', args: { device: 'j', hard: true } },
    { qmp: 'query-named-block-nodes', args: { flat: true, deep: true } },
  ],
});

export const argsBadEnum = defineRunbook({
  id: 'errors/args-bad-enum',
  title: 'an enum member with a value outside the enum',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'bogus' } },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full', 'on-source-error': 'explode' },
    },
    { qmp: 'blockdev-add', args: { driver: 'bogus-drv', 'node-name': 'x' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'x', 'detect-zeroes': 'maybe' } },
    { qmp: 'nbd-server-start', args: { addr: { type: 'bogus', data: { path: '@nbd.sock' } } } },
    { qmp: 'block-export-add', args: { type: 'bogus', id: 'e5', 'node-name': 'tgt' } },
    { qmp: 'block-export-del', args: { id: 'e1', mode: 'bogus' } },
    { qmp: 'nbd-server-remove', args: { name: 'e1', mode: 'soft' } },
    { qmp: 'transaction', args: { actions: [{ type: 'bogus-action', data: {} }] } },
  ],
});

export const argsWrongType = defineRunbook({
  id: 'errors/args-wrong-type',
  title: 'members of the wrong JSON type',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'x', size: 'abc' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'x', size: 1.5 } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'x', 'read-only': 'yes' } },
    { qmp: 'blockdev-add', args: { driver: 42, 'node-name': 'x' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 7 } },
    { qmp: 'blockdev-backup', args: { 'job-id': 42, device: 'src', target: 'tgt', sync: 'full' } },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full', speed: 'fast' },
    },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: ['src'], target: 'tgt', sync: 'full' } },
    { qmp: 'blockdev-del', args: { 'node-name': null } },
    { qmp: 'nbd-server-start', args: { addr: 'unix:/tmp/x.sock' } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e', 'node-name': 'src', bitmaps: 'b0' } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e', 'node-name': 'src', writable: 1 } },
    { qmp: 'query-named-block-nodes', args: { flat: 'true' } },
    { qmp: 'transaction', args: { actions: {} } },
  ],
});

export const argsNestedPaths = defineRunbook({
  id: 'errors/args-nested-paths',
  title: 'argument errors inside nested objects and lists name the full path',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r', file: { driver: 'file' } } },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r', file: { driver: 'file', filename: 42 } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r', file: { driver: 'file', filename: '/x', extra: 1 } },
    },
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r', file: { driver: 'bogus' } } },
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r', file: 42 } },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r', file: { driver: 'null-co', size: 'x' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'qcow2', 'node-name': 'q', file: { driver: 'null-co' }, backing: 5 },
    },
    {
      qmp: 'transaction',
      args: { actions: [{ type: 'blockdev-backup', data: { 'job-id': 'j', device: 'src', target: 'tgt' } }] },
    },
    {
      qmp: 'transaction',
      args: {
        actions: [
          { type: 'blockdev-backup', data: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'bogus' } },
        ],
      },
    },
    {
      qmp: 'transaction',
      args: {
        actions: [
          {
            type: 'blockdev-backup',
            data: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full', x: 1 },
          },
        ],
      },
    },
    { qmp: 'transaction', args: { actions: [{ type: 'blockdev-backup', data: 'x' }] } },
    { qmp: 'transaction', args: { actions: [{ type: 'abort' }] } },
    { qmp: 'transaction', args: { actions: [{ type: 'abort', data: {} }, { data: {} }] } },
    { qmp: 'transaction', args: { actions: [{ type: 'abort', data: {} }, 3] } },
    { qmp: 'transaction', args: { actions: [], properties: { 'completion-mode': 'sometimes' } } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b', bitmaps: [{ node: 'src' }] } },
    { qmp: 'block-dirty-bitmap-merge', args: { node: 'src', target: 'b', bitmaps: [1] } },
  ],
});

export const argsIntegerRanges = defineRunbook({
  id: 'errors/args-integer-ranges',
  title: 'integers outside the C type of a member (uint32, uint64, int64)',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src', name: 'b', granularity: -1 } },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'src', name: 'b', granularity: 4294967296 } },
    {
      qmp: 'nbd-server-start',
      args: { addr: { type: 'unix', data: { path: '@nbd.sock' } }, 'max-connections': -1 },
    },
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r', file: 'src', offset: -1 } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'n', size: 1024, 'latency-ns': -1 } },
    {
      qmp: 'blockdev-mirror',
      args: { 'job-id': 'm', device: 'src', target: 'tgt', sync: 'full', granularity: -1 },
    },
    {
      qmp: 'blockdev-mirror',
      args: { 'job-id': 'm', device: 'src', target: 'tgt', sync: 'full', granularity: 4294967296 },
    },
    {
      qmp: 'transaction',
      args: {
        actions: [{ type: 'block-dirty-bitmap-add', data: { node: 'src', name: 'b', granularity: -512 } }],
      },
    },
    { qmp: 'query-jobs' },
  ],
});

export const argsIntegerRangesCbw = defineRunbook({
  id: 'errors/args-integer-ranges-cbw',
  title: "copy-before-write's cbw-timeout is a uint32",
  needs: ['copy-before-write', 'cbw-timeout'],
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    cbwNode('cbw', 'src', 'tgt', { 'cbw-timeout': -1 }),
    cbwNode('cbw', 'src', 'tgt', { 'cbw-timeout': 4294967296 }),
    cbwNode('cbw', 'src', 'tgt', { 'on-cbw-error': 'bogus' }),
    cbwNode('cbw', 'src', 'tgt', { 'cbw-timeout': 5 }),
    blockdevDel('cbw'),
  ],
});

export const nodeNames = defineRunbook({
  id: 'errors/blockdev-add-node-names',
  title: 'blockdev-add: missing, invalid, duplicate and too long node names',
  steps: [
    { qmp: 'blockdev-add', args: { driver: 'null-co' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': '1bad' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': '#bad' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': '' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'a b' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'a-b_c.d' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'n'.repeat(31) } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'm'.repeat(32) } },
    nullNode('src'),
    nullNode('src', MiB),
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r', file: { driver: 'null-co', 'node-name': 'src' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'src', file: { driver: 'null-co', 'node-name': 'inner' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r', file: { driver: 'null-co', 'node-name': '9x' } },
    },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
  ],
});

export const openErrors = defineRunbook({
  id: 'errors/blockdev-add-open-errors',
  title: 'blockdev-add: files that do not exist, wrong formats, unknown references; nothing is left behind',
  files: [rawFile('a.raw', MiB)],
  steps: [
    fileNode('f1', '/nonexistent/x.raw'),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'q1', file: 'nope' }),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'q1' }),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'q1', file: { driver: 'null-co' } }),
    blockdevAdd({
      driver: 'qcow2',
      'node-name': 'q1',
      file: { driver: 'file', 'node-name': 'f2', filename: '@a.raw' },
    }),
    blockdevAdd({
      driver: 'raw',
      'node-name': 'r1',
      file: { driver: 'file', 'node-name': 'f3', filename: '@missing.raw' },
    }),
    queryNodes,
    blockdevAdd({
      driver: 'raw',
      'node-name': 'r1',
      file: { driver: 'file', 'node-name': 'f2', filename: '@a.raw' },
    }),
    blockdevAdd({ driver: 'raw', 'node-name': 'r2', file: 'f2' }),
    queryNodes,
  ],
});

export const delUnknown = defineRunbook({
  id: 'errors/blockdev-del-unknown',
  title: 'blockdev-del of an unknown node, twice, and of a node given by its child',
  steps: [blockdevDel('x'), nullNode('src'), blockdevDel('src'), blockdevDel('src'), blockdevDel('')],
});

export const delInUse = defineRunbook({
  id: 'errors/blockdev-del-in-use',
  title: 'blockdev-del of a node that has a parent, of an implicit child, of an exported node',
  files: [rawFile('a.raw', MiB)],
  steps: [
    fileNode('f', '@a.raw'),
    blockdevAdd({ driver: 'raw', 'node-name': 'r', file: 'f' }),
    { ...blockdevDel('f'), note: 'r uses it' },
    blockdevAdd({ driver: 'raw', 'node-name': 'r2', file: { driver: 'null-co', 'node-name': 'inner' } }),
    { ...blockdevDel('inner'), note: 'created inline: not owned by the monitor' },
    nbdStart,
    nbdExport('e1', 'r'),
    { ...blockdevDel('r'), note: 'exported' },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    waitEvent('BLOCK_EXPORT_DELETED'),
    blockdevDel('r'),
    blockdevDel('f'),
    blockdevDel('r2'),
    { ...blockdevDel('inner'), note: 'went with r2' },
    { qmp: 'nbd-server-stop' },
    queryNodes,
  ],
});

export const unknownNodeBackup = defineRunbook({
  id: 'errors/unknown-node-backup',
  title: 'blockdev-backup and blockdev-mirror with unknown device or target',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    backup('j', 'nope', 'tgt', 'full'),
    backup('j', 'src', 'nope', 'full'),
    backup('j', 'nope', 'nope2', 'full'),
    mirror('m', 'nope', 'tgt', 'full'),
    mirror('m', 'src', 'nope', 'full'),
    { qmp: 'query-jobs' },
  ],
});

export const unknownBlockJob = defineRunbook({
  id: 'errors/unknown-block-job',
  title: 'block-job-* verbs on a job that does not exist: DeviceNotActive',
  steps: [
    { qmp: 'block-job-cancel', args: { device: 'x' } },
    { qmp: 'block-job-cancel', args: { device: 'x', force: true } },
    { qmp: 'block-job-pause', args: { device: 'x' } },
    { qmp: 'block-job-resume', args: { device: 'x' } },
    { qmp: 'block-job-complete', args: { device: 'x' } },
    { qmp: 'block-job-set-speed', args: { device: 'x', speed: 1 } },
    { qmp: 'block-job-finalize', args: { id: 'x' } },
    { qmp: 'block-job-dismiss', args: { id: 'x' } },
  ],
});

export const unknownJob = defineRunbook({
  id: 'errors/unknown-job',
  title: 'job-* verbs on a job that does not exist: GenericError',
  steps: [
    { qmp: 'job-cancel', args: { id: 'x' } },
    { qmp: 'job-pause', args: { id: 'x' } },
    { qmp: 'job-resume', args: { id: 'x' } },
    { qmp: 'job-complete', args: { id: 'x' } },
    { qmp: 'job-finalize', args: { id: 'x' } },
    { qmp: 'job-dismiss', args: { id: 'x' } },
  ],
});

export const goneJob = defineRunbook({
  id: 'errors/gone-job',
  title: 'verbs on a job that has ended and gone away',
  steps: [
    nullNode('src', MiB),
    nullNode('tgt', MiB),
    backup('j', 'src', 'tgt', 'full'),
    waitJob('j', 'null'),
    { qmp: 'block-job-cancel', args: { device: 'j' } },
    { qmp: 'job-cancel', args: { id: 'j' } },
    { qmp: 'block-job-dismiss', args: { id: 'j' } },
    { qmp: 'job-dismiss', args: { id: 'j' } },
    { qmp: 'query-jobs' },
  ],
});

export const invalidJobIds = defineRunbook({
  id: 'errors/invalid-job-ids',
  title: 'job ids: invalid ones are refused before anything starts; a.b and a-b_c.d are valid',
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    backup('1abc', 'big', 'bigt', 'full', { speed: 65536 }),
    backup('#x', 'big', 'bigt', 'full', { speed: 65536 }),
    backup('', 'big', 'bigt', 'full', { speed: 65536 }),
    backup('a b', 'big', 'bigt', 'full', { speed: 65536 }),
    backup('é', 'big', 'bigt', 'full', { speed: 65536 }),
    {
      qmp: 'blockdev-backup',
      args: { device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
      note: 'no job-id in qsd: the id is empty',
    },
    { qmp: 'query-jobs' },
    backup('a.b', 'big', 'bigt', 'full', { speed: 65536 }),
    { qmp: 'job-cancel', args: { id: 'a.b' } },
    waitJob('a.b', 'null'),
    backup('a-b_c.d', 'big', 'bigt', 'full', { speed: 65536 }),
    { qmp: 'job-cancel', args: { id: 'a-b_c.d' } },
    waitJob('a-b_c.d', 'null'),
    { qmp: 'query-jobs' },
  ],
});

export const invalidJobIdsCreate = defineRunbook({
  id: 'errors/invalid-job-ids-create',
  title: 'blockdev-create and blockdev-mirror check job ids too',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    createFile('9', '@x.img', 0),
    mirror('-m', 'src', 'tgt', 'full'),
    { qmp: 'query-jobs' },
  ],
});

export const targetBusy = defineRunbook({
  id: 'errors/target-busy',
  title: 'a running backup makes its target busy: second backup into it, mirror into it, blockdev-del of it',
  steps: [
    nullNode('big', 10 * GiB),
    nullNode('bigt', 10 * GiB),
    nullNode('big2', 10 * GiB),
    nullNode('src'),
    backup('j', 'big', 'bigt', 'full', { speed: 65536 }),
    backup('j2', 'big2', 'bigt', 'full'),
    { ...backup('j', 'big2', 'bigt', 'full'), note: 'busy comes before the duplicate id' },
    { ...backup('j', 'big2', 'src', 'full'), note: 'size check before the duplicate id' },
    mirror('m', 'big2', 'bigt', 'full'),
    blockdevDel('bigt'),
    { ...blockdevDel('big'), note: "the backup's source: the filter sits on it" },
    ...cancelAndWait('j'),
    blockdevDel('bigt'),
    blockdevDel('big'),
  ],
});

export const duplicateJobId = defineRunbook({
  id: 'errors/duplicate-job-id',
  title: 'a second job with an id in use, on free nodes',
  steps: [
    nullNode('a', 10 * GiB),
    nullNode('at', 10 * GiB),
    nullNode('b', 10 * GiB),
    nullNode('bt', 10 * GiB),
    backup('j', 'a', 'at', 'full', { speed: 65536 }),
    backup('j', 'b', 'bt', 'full'),
    mirror('j', 'b', 'bt', 'full'),
    createFile('j', '@x.img', 0),
    { qmp: 'job-cancel', args: { id: 'j' } },
    waitJob('j', 'null'),
  ],
});

export const qdevIdNotDevice = defineRunbook({
  id: 'errors/qdev-id-is-not-a-device-name',
  title:
    'a guest device attached with -blockdev/-device has an anonymous backend: its qdev id names no device',
  flavour: 'system',
  files: [rawFile('disk.raw', 4 * MiB)],
  devices: [device('vd0', fileNode('disk', '@disk.raw'))],
  steps: [
    nullNode('tgt', 4 * MiB),
    bitmapAdd('vd0', 'b0'),
    bitmapAdd('disk', 'b0'),
    bitmapRemove('vd0', 'b0'),
    backup('j', 'vd0', 'tgt', 'full'),
    nbdStart,
    { qmp: 'nbd-server-add', args: { device: 'vd0' } },
    nbdExport('e1', 'vd0'),
    blockdevDel('disk'),
    blockdevAdd({ driver: 'null-co', 'node-name': 'vd0' }),
    { qmp: 'query-block' },
    { qmp: 'nbd-server-stop' },
  ],
});

export const ERRORS = [
  unknownCommand,
  argsMissing,
  argsUnexpected,
  argsBadEnum,
  argsWrongType,
  argsNestedPaths,
  argsIntegerRanges,
  argsIntegerRangesCbw,
  nodeNames,
  openErrors,
  delUnknown,
  delInUse,
  unknownNodeBackup,
  unknownBlockJob,
  unknownJob,
  goneJob,
  invalidJobIds,
  invalidJobIdsCreate,
  targetBusy,
  duplicateJobId,
  qdevIdNotDevice,
];
