import { defineRunbook, type Step } from './define.ts';

/**
 * The transaction command (FACTS §5, SUMMARY §5): all actions or none, rollback of prepared jobs,
 * completion-mode individual vs grouped (cancel one cancels all, finalize one finalizes all), and the
 * bitmap actions.
 */
const MiB = 1 << 20;
const GiB = 1 << 30;
const SLOW = 32768;

const nullNode = (name: string, size: number): Step => ({
  qmp: 'blockdev-add',
  args: { driver: 'null-co', 'node-name': name, size },
});
const status = (id: string, s: string): Step => ({
  wait: { event: 'JOB_STATUS_CHANGE', data: { id, status: s } },
});
const backup = (id: string, device: string, target: string, extra: Record<string, unknown> = {}) => ({
  type: 'blockdev-backup',
  data: { 'job-id': id, device, target, sync: 'full', ...extra },
});
/** events of several jobs whose order is not ours to fix: wait for the event kind, once per job */
const each = (n: number, event: string, data?: Record<string, unknown>): Step[] =>
  Array.from({ length: n }, () => ({ wait: data ? { event, data } : { event } }));
const GROUPED = { 'completion-mode': 'grouped' };
const BIG4 = [
  nullNode('s1', 10 * GiB),
  nullNode('t1', 10 * GiB),
  nullNode('s2', 10 * GiB),
  nullNode('t2', 10 * GiB),
];
const SMALL4 = [nullNode('m1', MiB), nullNode('mt1', MiB), nullNode('m2', MiB), nullNode('mt2', MiB)];

export const TRANSACTIONS = [
  defineRunbook({
    id: 'transactions/abort',
    title: 'the abort action fails the transaction and rolls back a bitmap-add',
    steps: [
      nullNode('s1', MiB),
      { qmp: 'transaction', args: { actions: [{ type: 'abort', data: {} }] } },
      { qmp: 'transaction', args: { actions: [{ type: 'abort' }] } },
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 's1', name: 'b0' } },
            { type: 'abort', data: {} },
          ],
        },
      },
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's1', name: 'b0' }, note: 'rolled back: not there' },
      { qmp: 'block-dirty-bitmap-add', args: { node: 's1', name: 'b0' }, note: 'and the name is free' },
    ],
  }),
  defineRunbook({
    id: 'transactions/empty-and-bad-actions',
    title: 'an empty action list succeeds; unknown types and bad action data are argument errors',
    steps: [
      nullNode('s1', MiB),
      nullNode('t1', MiB),
      { qmp: 'transaction', args: { actions: [] } },
      { qmp: 'transaction', args: { actions: [{ type: 'bogus', data: {} }] } },
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'blockdev-backup', data: { 'job-id': 'x', device: 's1', target: 't1', sync: 'bogus' } },
          ],
        },
      },
      {
        qmp: 'transaction',
        args: { actions: [{ type: 'blockdev-backup', data: { 'job-id': 'x', device: 's1', target: 't1' } }] },
      },
      { qmp: 'transaction', args: { actions: [backup('x', 's1', 't1', { extra: 1 })] } },
      {
        qmp: 'transaction',
        args: { actions: [backup('x', 's1', 't1')], properties: { 'completion-mode': 'bogus' } },
      },
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/dup-job-id-rollback',
    title: 'a duplicate job id inside one transaction: the first job is created and torn down, none remains',
    steps: [
      ...BIG4,
      {
        qmp: 'transaction',
        args: {
          actions: [backup('dup', 's1', 't1', { speed: SLOW }), backup('dup', 's2', 't2', { speed: SLOW })],
        },
      },
      { qmp: 'query-jobs' },
      { qmp: 'blockdev-del', args: { 'node-name': 't1' }, note: 'free again' },
    ],
  }),
  defineRunbook({
    id: 'transactions/second-action-fails',
    title: 'a failing second action rolls back the first (backup, then bitmap-add)',
    steps: [
      ...BIG4,
      {
        qmp: 'transaction',
        args: { actions: [backup('ok1', 's1', 't1', { speed: SLOW }), backup('bad', 's2', 'nope')] },
      },
      { qmp: 'query-jobs' },
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 's1', name: 'b0' } },
            backup('ok2', 's1', 't1', { speed: SLOW }),
            { type: 'block-dirty-bitmap-add', data: { node: 's2', name: 'b0', granularity: 1000 } },
          ],
        },
      },
      { qmp: 'query-jobs' },
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's1', name: 'b0' } },
    ],
  }),
  defineRunbook({
    id: 'transactions/individual-cancel-one',
    title: 'completion-mode individual (default): cancelling one job leaves the other running',
    steps: [
      ...BIG4,
      {
        qmp: 'transaction',
        args: {
          actions: [backup('i1', 's1', 't1', { speed: SLOW }), backup('i2', 's2', 't2', { speed: SLOW })],
        },
      },
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'block-job-cancel', args: { device: 'i1' } },
      status('i1', 'null'),
      { qmp: 'query-jobs' },
      { qmp: 'block-job-cancel', args: { device: 'i2' } },
      status('i2', 'null'),
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-cancel-one',
    title: 'completion-mode grouped: cancelling one job cancels both',
    steps: [
      ...BIG4,
      {
        qmp: 'transaction',
        args: {
          actions: [backup('g1', 's1', 't1', { speed: SLOW }), backup('g2', 's2', 't2', { speed: SLOW })],
          properties: GROUPED,
        },
      },
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'block-job-cancel', args: { device: 'g1' } },
      status('g1', 'null'),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-cancel-keep',
    title: 'grouped with auto-dismiss=false: cancel one, both stop at concluded with "Operation canceled"',
    steps: [
      ...BIG4,
      {
        qmp: 'transaction',
        args: {
          actions: [
            backup('h1', 's1', 't1', { speed: SLOW, 'auto-dismiss': false }),
            backup('h2', 's2', 't2', { speed: SLOW, 'auto-dismiss': false }),
          ],
          properties: GROUPED,
        },
      },
      { sleepMs: 100 },
      { qmp: 'job-cancel', args: { id: 'h2' } },
      status('h1', 'concluded'),
      { qmp: 'query-jobs' },
      { qmp: 'job-dismiss', args: { id: 'h1' } },
      { qmp: 'job-dismiss', args: { id: 'h2' } },
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-finalize-one',
    title: 'grouped with auto-finalize=false: finalizing one job finalizes both',
    steps: [
      ...SMALL4,
      {
        qmp: 'transaction',
        args: {
          actions: [
            backup('f1', 'm1', 'mt1', { 'auto-finalize': false }),
            backup('f2', 'm2', 'mt2', { 'auto-finalize': false }),
          ],
          properties: GROUPED,
        },
      },
      ...each(2, 'BLOCK_JOB_PENDING'),
      { qmp: 'query-jobs' },
      { qmp: 'job-finalize', args: { id: 'f1' } },
      ...each(2, 'JOB_STATUS_CHANGE', { status: 'null' }),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/individual-finalize-one',
    title: 'individual with auto-finalize=false: finalizing one job finalizes only that one',
    steps: [
      ...SMALL4,
      {
        qmp: 'transaction',
        args: {
          actions: [
            backup('k1', 'm1', 'mt1', { 'auto-finalize': false }),
            backup('k2', 'm2', 'mt2', { 'auto-finalize': false }),
          ],
        },
      },
      ...each(2, 'BLOCK_JOB_PENDING'),
      { qmp: 'job-finalize', args: { id: 'k1' } },
      status('k1', 'null'),
      { qmp: 'query-jobs' },
      { qmp: 'job-finalize', args: { id: 'k2' } },
      status('k2', 'null'),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-pending-cancel-one',
    title: 'grouped with auto-finalize=false: cancelling one pending job aborts both',
    steps: [
      ...SMALL4,
      {
        qmp: 'transaction',
        args: {
          actions: [
            backup('p1', 'm1', 'mt1', { 'auto-finalize': false, 'auto-dismiss': false }),
            backup('p2', 'm2', 'mt2', { 'auto-finalize': false, 'auto-dismiss': false }),
          ],
          properties: GROUPED,
        },
      },
      ...each(2, 'BLOCK_JOB_PENDING'),
      { qmp: 'job-cancel', args: { id: 'p2' } },
      ...each(2, 'JOB_STATUS_CHANGE', { status: 'concluded' }),
      { qmp: 'query-jobs' },
      { qmp: 'job-dismiss', args: { id: 'p1' } },
      { qmp: 'job-dismiss', args: { id: 'p2' } },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-waiting-then-cancel',
    title:
      'grouped: a finished job waits for its partner; cancelling the partner cancels the finished one too',
    steps: [
      nullNode('m1', MiB),
      nullNode('mt1', MiB),
      nullNode('s2', 10 * GiB),
      nullNode('t2', 10 * GiB),
      {
        qmp: 'transaction',
        args: {
          actions: [backup('w1', 'm1', 'mt1'), backup('w2', 's2', 't2', { speed: SLOW })],
          properties: GROUPED,
        },
      },
      status('w1', 'waiting'),
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'query-block-jobs' },
      { qmp: 'block-job-cancel', args: { device: 'w2' } },
      ...each(2, 'JOB_STATUS_CHANGE', { status: 'null' }),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-bitmap-action',
    title:
      'grouped refuses non-backup actions (the text changed case after 7.2); a prepared backup is torn down',
    steps: [
      ...BIG4,
      {
        qmp: 'transaction',
        args: {
          actions: [
            backup('gb', 's1', 't1', { speed: SLOW }),
            { type: 'block-dirty-bitmap-add', data: { node: 's2', name: 'b0' } },
          ],
          properties: GROUPED,
        },
      },
      {
        qmp: 'transaction',
        args: {
          actions: [{ type: 'block-dirty-bitmap-add', data: { node: 's2', name: 'b0' } }],
          properties: GROUPED,
        },
      },
      { qmp: 'transaction', args: { actions: [{ type: 'abort', data: {} }], properties: GROUPED } },
      { qmp: 'query-jobs' },
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's2', name: 'b0' } },
    ],
  }),
  defineRunbook({
    id: 'transactions/bitmap-actions',
    title: 'bitmap add/clear/disable/enable/remove/merge inside transactions, with a duplicate rolled back',
    steps: [
      nullNode('s1', MiB),
      nullNode('s2', MiB),
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 's1', name: 'b0' } },
            { type: 'block-dirty-bitmap-add', data: { node: 's2', name: 'b0' } },
          ],
        },
      },
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 's1', name: 'b1' } },
            { type: 'block-dirty-bitmap-add', data: { node: 's1', name: 'b0' } },
          ],
        },
      },
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's1', name: 'b1' }, note: 'b1 was rolled back' },
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'block-dirty-bitmap-clear', data: { node: 's1', name: 'b0' } },
            { type: 'block-dirty-bitmap-disable', data: { node: 's2', name: 'b0' } },
            { type: 'block-dirty-bitmap-add', data: { node: 's2', name: 'b2', disabled: true } },
            { type: 'block-dirty-bitmap-enable', data: { node: 's2', name: 'b2' } },
            { type: 'block-dirty-bitmap-merge', data: { node: 's2', target: 'b2', bitmaps: ['b0'] } },
          ],
        },
      },
      {
        qmp: 'transaction',
        args: { actions: [{ type: 'block-dirty-bitmap-remove', data: { node: 's2', name: 'b0' } }] },
      },
      {
        qmp: 'transaction',
        args: { actions: [{ type: 'block-dirty-bitmap-remove', data: { node: 's2', name: 'b0' } }] },
      },
      {
        qmp: 'transaction',
        args: { actions: [{ type: 'block-dirty-bitmap-clear', data: { node: 'nope', name: 'b0' } }] },
      },
      { qmp: 'block-dirty-bitmap-add', args: { node: 's2', name: 'b2' }, note: 'b2 exists' },
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's1', name: 'b0' } },
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's2', name: 'b2' } },
    ],
  }),
  defineRunbook({
    id: 'transactions/backup-with-bitmap-add',
    title: 'one point in time: a bitmap is added in the same transaction as a backup that starts',
    steps: [
      nullNode('s1', 10 * GiB),
      nullNode('t1', 10 * GiB),
      {
        qmp: 'transaction',
        args: {
          actions: [
            { type: 'block-dirty-bitmap-add', data: { node: 's1', name: 'since' } },
            backup('bk', 's1', 't1', { speed: SLOW }),
          ],
        },
      },
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'job-cancel', args: { id: 'bk' } },
      status('bk', 'null'),
      { qmp: 'block-dirty-bitmap-remove', args: { node: 's1', name: 'since' } },
    ],
  }),
  defineRunbook({
    id: 'transactions/drive-backup-action',
    title: 'drive-backup as a transaction action, alone (grouped) and next to a blockdev-backup (sync=none)',
    files: [
      { name: 'src.raw', format: 'raw', size: MiB, writes: [{ offset: 0, length: MiB, pattern: 0x11 }] },
    ],
    steps: [
      {
        qmp: 'blockdev-add',
        args: { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: '@src.raw' } },
      },
      nullNode('n1', MiB),
      {
        qmp: 'transaction',
        args: {
          actions: [
            {
              type: 'drive-backup',
              data: { 'job-id': 'd1', device: 'source', target: '@d1.qcow2', format: 'qcow2', sync: 'full' },
            },
          ],
          properties: GROUPED,
        },
      },
      status('d1', 'null'),
      {
        qmp: 'transaction',
        args: {
          actions: [
            {
              type: 'drive-backup',
              data: { 'job-id': 'd2', device: 'source', target: '@d2.qcow2', format: 'qcow2', sync: 'none' },
            },
            {
              type: 'blockdev-backup',
              data: { 'job-id': 'd3', device: 'source', target: 'n1', sync: 'none' },
            },
          ],
        },
      },
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'job-cancel', args: { id: 'd3' } },
      status('d3', 'null'),
      { qmp: 'job-cancel', args: { id: 'd2' } },
      status('d2', 'null'),
      { qmp: 'query-jobs' },
    ],
  }),
];
