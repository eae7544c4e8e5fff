import { defineRunbook } from './define.ts';

/**
 * Error replies (FACTS §6, observations §4): QMP dispatch, argument checking, node lookup, blockdev-add and
 * blockdev-del, unknown jobs, invalid job ids, busy nodes. Each runbook is one topic.
 */
const MiB = 1 << 20;
const GiB = 1 << 30;

const nullNode = (name: string, size = 64 * MiB, extra: Record<string, unknown> = {}) => ({
  qmp: 'blockdev-add',
  args: { driver: 'null-co', 'node-name': name, size, ...extra },
});

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
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'src',
        target: 'tgt',
        'cbw-timeout': -1,
      },
    },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'src',
        target: 'tgt',
        'cbw-timeout': 4294967296,
      },
    },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'src',
        target: 'tgt',
        'on-cbw-error': 'bogus',
      },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'src', target: 'tgt', 'cbw-timeout': 5 },
    },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
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
  files: [{ name: 'a.raw', format: 'raw', size: MiB }],
  steps: [
    { qmp: 'blockdev-add', args: { driver: 'file', 'node-name': 'f1', filename: '/nonexistent/x.raw' } },
    { qmp: 'blockdev-add', args: { driver: 'qcow2', 'node-name': 'q1', file: 'nope' } },
    { qmp: 'blockdev-add', args: { driver: 'qcow2', 'node-name': 'q1' } },
    { qmp: 'blockdev-add', args: { driver: 'qcow2', 'node-name': 'q1', file: { driver: 'null-co' } } },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'qcow2',
        'node-name': 'q1',
        file: { driver: 'file', 'node-name': 'f2', filename: '@a.raw' },
      },
    },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'raw',
        'node-name': 'r1',
        file: { driver: 'file', 'node-name': 'f3', filename: '@missing.raw' },
      },
    },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'raw',
        'node-name': 'r1',
        file: { driver: 'file', 'node-name': 'f2', filename: '@a.raw' },
      },
    },
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r2', file: 'f2' } },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
  ],
});

export const delUnknown = defineRunbook({
  id: 'errors/blockdev-del-unknown',
  title: 'blockdev-del of an unknown node, twice, and of a node given by its child',
  steps: [
    { qmp: 'blockdev-del', args: { 'node-name': 'x' } },
    nullNode('src'),
    { qmp: 'blockdev-del', args: { 'node-name': 'src' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'src' } },
    { qmp: 'blockdev-del', args: { 'node-name': '' } },
  ],
});

export const delInUse = defineRunbook({
  id: 'errors/blockdev-del-in-use',
  title: 'blockdev-del of a node that has a parent, of an implicit child, of an exported node',
  files: [{ name: 'a.raw', format: 'raw', size: MiB }],
  steps: [
    { qmp: 'blockdev-add', args: { driver: 'file', 'node-name': 'f', filename: '@a.raw' } },
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': 'r', file: 'f' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'f' }, note: 'r uses it' },
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'r2', file: { driver: 'null-co', 'node-name': 'inner' } },
    },
    { qmp: 'blockdev-del', args: { 'node-name': 'inner' }, note: 'created inline: not owned by the monitor' },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e1', 'node-name': 'r' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'r' }, note: 'exported' },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { wait: { event: 'BLOCK_EXPORT_DELETED' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'r' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'f' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'r2' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'inner' }, note: 'went with r2' },
    { qmp: 'nbd-server-stop' },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
  ],
});

export const unknownNodeBackup = defineRunbook({
  id: 'errors/unknown-node-backup',
  title: 'blockdev-backup and blockdev-mirror with unknown device or target',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'nope', target: 'tgt', sync: 'full' } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'nope', sync: 'full' } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'nope', target: 'nope2', sync: 'full' } },
    { qmp: 'blockdev-mirror', args: { 'job-id': 'm', device: 'nope', target: 'tgt', sync: 'full' } },
    { qmp: 'blockdev-mirror', args: { 'job-id': 'm', device: 'src', target: 'nope', sync: 'full' } },
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
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'src', target: 'tgt', sync: 'full' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
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
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': '1abc', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': '#x', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': '', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'a b', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'é', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    {
      qmp: 'blockdev-backup',
      args: { device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
      note: 'no job-id in qsd: the id is empty',
    },
    { qmp: 'query-jobs' },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'a.b', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    { qmp: 'job-cancel', args: { id: 'a.b' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'a.b', status: 'null' } } },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'a-b_c.d', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    { qmp: 'job-cancel', args: { id: 'a-b_c.d' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'a-b_c.d', status: 'null' } } },
    { qmp: 'query-jobs' },
  ],
});

export const invalidJobIdsCreate = defineRunbook({
  id: 'errors/invalid-job-ids-create',
  title: 'blockdev-create and blockdev-mirror check job ids too',
  steps: [
    nullNode('src'),
    nullNode('tgt'),
    {
      qmp: 'blockdev-create',
      args: { 'job-id': '9', options: { driver: 'file', filename: '@x.img', size: 0 } },
    },
    { qmp: 'blockdev-mirror', args: { 'job-id': '-m', device: 'src', target: 'tgt', sync: 'full' } },
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
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'big', target: 'bigt', sync: 'full', speed: 65536 },
    },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j2', device: 'big2', target: 'bigt', sync: 'full' } },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'big2', target: 'bigt', sync: 'full' },
      note: 'busy comes before the duplicate id',
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'big2', target: 'src', sync: 'full' },
      note: 'size check before the duplicate id',
    },
    { qmp: 'blockdev-mirror', args: { 'job-id': 'm', device: 'big2', target: 'bigt', sync: 'full' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'bigt' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'big' }, note: "the backup's source: the filter sits on it" },
    { qmp: 'block-job-cancel', args: { device: 'j' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
    { qmp: 'blockdev-del', args: { 'node-name': 'bigt' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'big' } },
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
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'j', device: 'a', target: 'at', sync: 'full', speed: 65536 },
    },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'b', target: 'bt', sync: 'full' } },
    { qmp: 'blockdev-mirror', args: { 'job-id': 'j', device: 'b', target: 'bt', sync: 'full' } },
    {
      qmp: 'blockdev-create',
      args: { 'job-id': 'j', options: { driver: 'file', filename: '@x.img', size: 0 } },
    },
    { qmp: 'job-cancel', args: { id: 'j' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'null' } } },
  ],
});

export const qdevIdNotDevice = defineRunbook({
  id: 'errors/qdev-id-is-not-a-device-name',
  title:
    'a guest device attached with -blockdev/-device has an anonymous backend: its qdev id names no device',
  flavour: 'system',
  files: [{ name: 'disk.raw', format: 'raw', size: 4 * MiB }],
  devices: [{ id: 'vd0', blockdev: { driver: 'file', 'node-name': 'disk', filename: '@disk.raw' } }],
  steps: [
    nullNode('tgt', 4 * MiB),
    { qmp: 'block-dirty-bitmap-add', args: { node: 'vd0', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-add', args: { node: 'disk', name: 'b0' } },
    { qmp: 'block-dirty-bitmap-remove', args: { node: 'vd0', name: 'b0' } },
    { qmp: 'blockdev-backup', args: { 'job-id': 'j', device: 'vd0', target: 'tgt', sync: 'full' } },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
    { qmp: 'nbd-server-add', args: { device: 'vd0' } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e1', 'node-name': 'vd0' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'disk' } },
    { qmp: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'vd0' } },
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
