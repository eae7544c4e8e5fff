import { defineRunbook } from './define.ts';
import {
  backup,
  bitmapAdd,
  bitmapClear,
  bitmapDisable,
  bitmapEnable,
  bitmapMerge,
  bitmapRemove,
  blockdevDel,
  cancelAndWait,
  GiB,
  GROUPED,
  MiB,
  mirror,
  nullNode,
  pattern,
  rawFile,
  rawNode,
  SLOW,
  transaction,
  waitEach,
  waitJob,
} from './steps.ts';

/**
 * The transaction command (FACTS §5, SUMMARY §5): all actions or none, rollback of prepared jobs,
 * completion-mode individual vs grouped (cancel one cancels all, finalize one finalizes all), and the
 * bitmap actions.
 */
const BIG4 = [
  nullNode('s1', 10 * GiB),
  nullNode('t1', 10 * GiB),
  nullNode('s2', 10 * GiB),
  nullNode('t2', 10 * GiB),
];
const SMALL4 = [nullNode('m1', MiB), nullNode('mt1', MiB), nullNode('m2', MiB), nullNode('mt2', MiB)];

export const TRANSACTIONS = [
  defineRunbook({
    id: 'transactions/drain-pauses-jobs',
    title:
      'a transaction while a mirror is ready and a backup runs: its drain leaves both as they were (the standby/ready and paused/running pairs it sends are compared in serve/system-clients.test.ts)',
    steps: [
      ...SMALL4,
      nullNode('s1', 10 * GiB),
      nullNode('t1', 10 * GiB),
      mirror('mj', 'm1', 'mt1', 'full'),
      waitJob('mj', 'ready'),
      backup('bj', 's1', 't1', 'full', { speed: SLOW }),
      waitJob('bj', 'running'),
      transaction([bitmapAdd('m2', 'b0')]),
      { qmp: 'query-block-jobs' },
      transaction([]),
      ...cancelAndWait('bj'),
      ...cancelAndWait('mj'),
    ],
  }),
  defineRunbook({
    id: 'transactions/abort',
    title: 'the abort action fails the transaction and rolls back a bitmap-add',
    steps: [
      nullNode('s1', MiB),
      transaction([{ type: 'abort', data: {} }]),
      transaction([{ type: 'abort' }]),
      transaction([bitmapAdd('s1', 'b0'), { type: 'abort', data: {} }]),
      { ...bitmapRemove('s1', 'b0'), note: 'rolled back: not there' },
      { ...bitmapAdd('s1', 'b0'), note: 'and the name is free' },
    ],
  }),
  defineRunbook({
    id: 'transactions/empty-and-bad-actions',
    title: 'an empty action list succeeds; unknown types and bad action data are argument errors',
    steps: [
      nullNode('s1', MiB),
      nullNode('t1', MiB),
      transaction([]),
      transaction([{ type: 'bogus', data: {} }]),
      transaction([backup('x', 's1', 't1', 'bogus')]),
      transaction([{ type: 'blockdev-backup', data: { 'job-id': 'x', device: 's1', target: 't1' } }]),
      transaction([backup('x', 's1', 't1', 'full', { extra: 1 })]),
      transaction([backup('x', 's1', 't1', 'full')], { 'completion-mode': 'bogus' }),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/dup-job-id-rollback',
    title: 'a duplicate job id inside one transaction: the first job is created and torn down, none remains',
    steps: [
      ...BIG4,
      transaction([
        backup('dup', 's1', 't1', 'full', { speed: SLOW }),
        backup('dup', 's2', 't2', 'full', { speed: SLOW }),
      ]),
      { qmp: 'query-jobs' },
      { ...blockdevDel('t1'), note: 'free again' },
    ],
  }),
  defineRunbook({
    id: 'transactions/second-action-fails',
    title: 'a failing second action rolls back the first (backup, then bitmap-add)',
    steps: [
      ...BIG4,
      transaction([backup('ok1', 's1', 't1', 'full', { speed: SLOW }), backup('bad', 's2', 'nope', 'full')]),
      { qmp: 'query-jobs' },
      transaction([
        bitmapAdd('s1', 'b0'),
        backup('ok2', 's1', 't1', 'full', { speed: SLOW }),
        bitmapAdd('s2', 'b0', { granularity: 1000 }),
      ]),
      { qmp: 'query-jobs' },
      bitmapRemove('s1', 'b0'),
    ],
  }),
  defineRunbook({
    id: 'transactions/individual-cancel-one',
    title: 'completion-mode individual (default): cancelling one job leaves the other running',
    steps: [
      ...BIG4,
      transaction([
        backup('i1', 's1', 't1', 'full', { speed: SLOW }),
        backup('i2', 's2', 't2', 'full', { speed: SLOW }),
      ]),
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      ...cancelAndWait('i1'),
      { qmp: 'query-jobs' },
      ...cancelAndWait('i2'),
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-cancel-one',
    title: 'completion-mode grouped: cancelling one job cancels both',
    steps: [
      ...BIG4,
      transaction(
        [
          backup('g1', 's1', 't1', 'full', { speed: SLOW }),
          backup('g2', 's2', 't2', 'full', { speed: SLOW }),
        ],
        GROUPED,
      ),
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      ...cancelAndWait('g1'),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-cancel-keep',
    title: 'grouped with auto-dismiss=false: cancel one, both stop at concluded with "Operation canceled"',
    steps: [
      ...BIG4,
      transaction(
        [
          backup('h1', 's1', 't1', 'full', { speed: SLOW, 'auto-dismiss': false }),
          backup('h2', 's2', 't2', 'full', { speed: SLOW, 'auto-dismiss': false }),
        ],
        GROUPED,
      ),
      { sleepMs: 100 },
      { qmp: 'job-cancel', args: { id: 'h2' } },
      waitJob('h1', 'concluded'),
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
      transaction(
        [
          backup('f1', 'm1', 'mt1', 'full', { 'auto-finalize': false }),
          backup('f2', 'm2', 'mt2', 'full', { 'auto-finalize': false }),
        ],
        GROUPED,
      ),
      ...waitEach(2, 'BLOCK_JOB_PENDING'),
      { qmp: 'query-jobs' },
      { qmp: 'job-finalize', args: { id: 'f1' } },
      ...waitEach(2, 'JOB_STATUS_CHANGE', { status: 'null' }),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/individual-finalize-one',
    title: 'individual with auto-finalize=false: finalizing one job finalizes only that one',
    steps: [
      ...SMALL4,
      transaction([
        backup('k1', 'm1', 'mt1', 'full', { 'auto-finalize': false }),
        backup('k2', 'm2', 'mt2', 'full', { 'auto-finalize': false }),
      ]),
      ...waitEach(2, 'BLOCK_JOB_PENDING'),
      { qmp: 'job-finalize', args: { id: 'k1' } },
      waitJob('k1', 'null'),
      { qmp: 'query-jobs' },
      { qmp: 'job-finalize', args: { id: 'k2' } },
      waitJob('k2', 'null'),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-pending-cancel-one',
    title: 'grouped with auto-finalize=false: cancelling one pending job aborts both',
    steps: [
      ...SMALL4,
      transaction(
        [
          backup('p1', 'm1', 'mt1', 'full', { 'auto-finalize': false, 'auto-dismiss': false }),
          backup('p2', 'm2', 'mt2', 'full', { 'auto-finalize': false, 'auto-dismiss': false }),
        ],
        GROUPED,
      ),
      ...waitEach(2, 'BLOCK_JOB_PENDING'),
      { qmp: 'job-cancel', args: { id: 'p2' } },
      ...waitEach(2, 'JOB_STATUS_CHANGE', { status: 'concluded' }),
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
      transaction(
        [backup('w1', 'm1', 'mt1', 'full'), backup('w2', 's2', 't2', 'full', { speed: SLOW })],
        GROUPED,
      ),
      waitJob('w1', 'waiting'),
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'query-block-jobs' },
      { qmp: 'block-job-cancel', args: { device: 'w2' } },
      ...waitEach(2, 'JOB_STATUS_CHANGE', { status: 'null' }),
      { qmp: 'query-jobs' },
    ],
  }),
  defineRunbook({
    id: 'transactions/grouped-bitmap-action',
    title:
      'grouped refuses non-backup actions (the text changed case after 7.2); a prepared backup is torn down',
    steps: [
      ...BIG4,
      transaction([backup('gb', 's1', 't1', 'full', { speed: SLOW }), bitmapAdd('s2', 'b0')], GROUPED),
      transaction([bitmapAdd('s2', 'b0')], GROUPED),
      transaction([{ type: 'abort', data: {} }], GROUPED),
      { qmp: 'query-jobs' },
      bitmapRemove('s2', 'b0'),
    ],
  }),
  defineRunbook({
    id: 'transactions/bitmap-actions',
    title: 'bitmap add/clear/disable/enable/remove/merge inside transactions, with a duplicate rolled back',
    steps: [
      nullNode('s1', MiB),
      nullNode('s2', MiB),
      transaction([bitmapAdd('s1', 'b0'), bitmapAdd('s2', 'b0')]),
      transaction([bitmapAdd('s1', 'b1'), bitmapAdd('s1', 'b0')]),
      { ...bitmapRemove('s1', 'b1'), note: 'b1 was rolled back' },
      transaction([
        bitmapClear('s1', 'b0'),
        bitmapDisable('s2', 'b0'),
        bitmapAdd('s2', 'b2', { disabled: true }),
        bitmapEnable('s2', 'b2'),
        bitmapMerge('s2', 'b2', ['b0']),
      ]),
      transaction([bitmapRemove('s2', 'b0')]),
      transaction([bitmapRemove('s2', 'b0')]),
      transaction([bitmapClear('nope', 'b0')]),
      { ...bitmapAdd('s2', 'b2'), note: 'b2 exists' },
      bitmapRemove('s1', 'b0'),
      bitmapRemove('s2', 'b2'),
    ],
  }),
  defineRunbook({
    id: 'transactions/backup-with-bitmap-add',
    title: 'one point in time: a bitmap is added in the same transaction as a backup that starts',
    steps: [
      nullNode('s1', 10 * GiB),
      nullNode('t1', 10 * GiB),
      transaction([bitmapAdd('s1', 'since'), backup('bk', 's1', 't1', 'full', { speed: SLOW })]),
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'job-cancel', args: { id: 'bk' } },
      waitJob('bk', 'null'),
      bitmapRemove('s1', 'since'),
    ],
  }),
  defineRunbook({
    id: 'transactions/drive-backup-action',
    title: 'drive-backup as a transaction action, alone (grouped) and next to a blockdev-backup (sync=none)',
    files: [rawFile('src.raw', MiB, [pattern(0x11, 0, MiB)])],
    steps: [
      rawNode('source', '@src.raw'),
      nullNode('n1', MiB),
      transaction(
        [
          {
            type: 'drive-backup',
            data: { 'job-id': 'd1', device: 'source', target: '@d1.qcow2', format: 'qcow2', sync: 'full' },
          },
        ],
        GROUPED,
      ),
      waitJob('d1', 'null'),
      transaction([
        {
          type: 'drive-backup',
          data: { 'job-id': 'd2', device: 'source', target: '@d2.qcow2', format: 'qcow2', sync: 'none' },
        },
        backup('d3', 'source', 'n1', 'none'),
      ]),
      { sleepMs: 100 },
      { qmp: 'query-jobs' },
      { qmp: 'job-cancel', args: { id: 'd3' } },
      waitJob('d3', 'null'),
      { qmp: 'job-cancel', args: { id: 'd2' } },
      waitJob('d2', 'null'),
      { qmp: 'query-jobs' },
    ],
  }),
];
