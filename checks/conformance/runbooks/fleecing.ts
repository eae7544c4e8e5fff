import { defineRunbook } from './define.ts';

/** The two fleecing recipes of FACTS §4, with guest writes and reads of the point in time. */
const MiB = 1 << 20;

export const legacyRecipe = defineRunbook({
  id: 'fleecing/legacy-backup-sync-none',
  title: 'legacy recipe: qcow2 overlay backed by the live disk, backup sync=none, NBD export, safe teardown',
  flavour: 'system',
  files: [
    {
      name: 'src.raw',
      format: 'raw',
      size: 4 * MiB,
      writes: [{ offset: 0, length: 4 * MiB, pattern: 0x11 }],
    },
    { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB },
  ],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: '@src.raw' } },
    },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'qcow2',
        'node-name': 'temp',
        file: { driver: 'file', filename: '@temp.qcow2' },
        backing: 'source',
      },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    { qmp: 'query-jobs' },
    { qmp: 'query-block-jobs' },
    { io: 'write -P 0x22 0 64k', node: 'source' },
    { io: 'write -P 0x22 0 64k', node: 'fl' },
    { io: 'write -P 0x33 96k 8k', node: 'fl' },
    { io: 'read -P 0x11 0 128k', node: 'temp' },
    { io: 'read -P 0x22 0 64k', node: 'source' },
    { io: 'read -P 0x11 1M 64k', node: 'temp' },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e1', 'node-name': 'temp', name: 'fleece' } },
    { qmp: 'query-block-exports' },
    {
      qmp: 'block-job-complete',
      args: { device: 'fleece' },
      note: "the seed's teardown: refused, a backup never gets ready",
    },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { wait: { event: 'BLOCK_EXPORT_DELETED', data: { id: 'e1' } } },
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
    { qmp: 'query-jobs' },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
    { qmp: 'nbd-server-stop' },
    { io: 'read -P 0x22 0 64k', node: 'source' },
  ],
});

export const unsafeTeardown = defineRunbook({
  id: 'fleecing/unsafe-teardown-cancel-before-unexport',
  title: 'cancelling the backup while the overlay is exported: the overlay then shows the live disk',
  flavour: 'system',
  files: [
    {
      name: 'src.raw',
      format: 'raw',
      size: 4 * MiB,
      writes: [{ offset: 0, length: 4 * MiB, pattern: 0x11 }],
    },
    { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB },
  ],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: '@src.raw' } },
    },
    {
      qmp: 'blockdev-add',
      args: {
        driver: 'qcow2',
        'node-name': 'temp',
        file: { driver: 'file', filename: '@temp.qcow2' },
        backing: 'source',
      },
    },
    {
      qmp: 'blockdev-backup',
      args: { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none', 'filter-node-name': 'fl' },
    },
    { io: 'write -P 0x22 0 64k', node: 'fl' },
    { io: 'read -P 0x11 0 64k', node: 'temp' },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e1', 'node-name': 'temp', name: 'fleece' } },
    { qmp: 'block-job-cancel', args: { device: 'fleece' } },
    { wait: { event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } } },
    { io: 'write -P 0x44 2M 64k', node: 'source' },
    { io: 'read -P 0x44 2M 64k', node: 'temp' },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { qmp: 'nbd-server-stop' },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
  ],
});

export const cbwRecipe = defineRunbook({
  id: 'fleecing/copy-before-write-snapshot-access',
  title: 'copy-before-write filter + snapshot-access, guest writes through the filter',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [
    {
      name: 'src.raw',
      format: 'raw',
      size: 4 * MiB,
      writes: [{ offset: 0, length: 4 * MiB, pattern: 0x11 }],
    },
    { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB },
  ],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: '@src.raw' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'qcow2', 'node-name': 'temp', file: { driver: 'file', filename: '@temp.qcow2' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'source', target: 'temp' },
    },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } },
    { io: 'write -P 0x22 0 64k', node: 'cbw' },
    { io: 'write -P 0x33 100k 10k', node: 'cbw' },
    { io: 'read -P 0x11 0 64k', node: 'acc' },
    { io: 'read -P 0x11 64k 64k', node: 'acc' },
    { io: 'read -P 0x22 0 64k', node: 'source' },
    { io: 'write -P 0x55 0 64k', node: 'acc' },
    { qmp: 'nbd-server-start', args: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
    { qmp: 'block-export-add', args: { type: 'nbd', id: 'e1', 'node-name': 'acc', name: 'fleece' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' }, note: 'exported: in use' },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' }, note: 'acc sits on it' },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'source' } },
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { wait: { event: 'BLOCK_EXPORT_DELETED' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'temp' } },
    { qmp: 'nbd-server-stop' },
  ],
});

export const cbwQuery = defineRunbook({
  id: 'fleecing/copy-before-write-node-info',
  title: 'a copy-before-write filter as query-named-block-nodes shows it, before and after guest writes',
  flavour: 'system',
  needs: ['copy-before-write', 'snapshot-access'],
  files: [
    {
      name: 'src.raw',
      format: 'raw',
      size: 4 * MiB,
      writes: [{ offset: 0, length: 4 * MiB, pattern: 0x11 }],
    },
    { name: 'temp.qcow2', format: 'qcow2', size: 4 * MiB },
  ],
  steps: [
    {
      qmp: 'blockdev-add',
      args: { driver: 'raw', 'node-name': 'source', file: { driver: 'file', filename: '@src.raw' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'qcow2', 'node-name': 'temp', file: { driver: 'file', filename: '@temp.qcow2' } },
    },
    {
      qmp: 'blockdev-add',
      args: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'source', target: 'temp' },
    },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
    { io: 'write -P 0x22 0 64k', node: 'cbw' },
    { io: 'write -P 0x23 1M 100k', node: 'cbw' },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
    { qmp: 'blockdev-add', args: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' } },
    { qmp: 'query-named-block-nodes' },
    { qmp: 'blockdev-del', args: { 'node-name': 'acc' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'cbw' } },
    { qmp: 'query-named-block-nodes', args: { flat: true } },
  ],
});

export const FLEECING = [legacyRecipe, unsafeTeardown, cbwRecipe, cbwQuery];
