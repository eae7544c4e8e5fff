import { defineRunbook, type Step } from './define.ts';
import {
  blockdevAdd,
  blockdevDel,
  cbwNode,
  fileNode,
  type Json,
  MiB,
  NBD_SOCKET,
  nbdExport,
  nbdStart,
  nullNode,
  pattern,
  qcow2File,
  queryNodes,
  rawFile,
  SOURCE_DISK,
  snapshotAccess,
} from './steps.ts';
import { qomSet, VD0 } from './vm-machine.ts';

/**
 * blockdev-reopen in the running VM (FACTS §10): the one change a point in time in the middle of a stack
 * needs is a raw joint's 'file' child moving to another node. Each node is reopened with exactly what is
 * given; the checks are QEMU's, in QEMU's order. 5.2 has only x-blockdev-reopen (one node, and no new
 * file child).
 */
const OTHER_DISK = rawFile('other.raw', 4 * MiB, [pattern(0x44, 0, 4 * MiB)]);
const reopen = (...options: Json[]): Step => ({ qmp: 'blockdev-reopen', args: { options } });
const xReopen = (options: Json): Step => ({ qmp: 'x-blockdev-reopen', args: options });
/** a raw node's options: name, file child, more */
const raw = (name: string, file: unknown, more: Json = {}): Json => ({
  driver: 'raw',
  'node-name': name,
  file,
  ...more,
});
const guestReads = (byte: number): Step => ({ io: `read -P 0x${byte.toString(16)} 0 64k`, device: 'vd0' });

export const reopenRawFile = defineRunbook({
  id: 'vm/reopen-raw-file',
  title:
    "blockdev-reopen of the guest disk's raw joint: its file child moves and back; every refusal (lookup, driver, cycle, read-only, permissions, reopen support, options reset or changed); read-only flips of file and qcow2 nodes",
  flavour: 'system',
  files: [SOURCE_DISK, OTHER_DISK, qcow2File('t.qcow2', 4 * MiB), qcow2File('o.qcow2', 4 * MiB)],
  devices: [VD0],
  steps: [
    fileNode('f2', '@other.raw'),
    fileNode('f3', '@other.raw', { 'read-only': true }),
    blockdevAdd(raw('r', 'source')),
    qomSet('r'),
    reopen(raw('r', 'source')),
    reopen(raw('r', 'f2')),
    guestReads(0x44),
    { qmp: 'query-block' },
    reopen(raw('r', 'source')),
    guestReads(0x11),
    reopen({ driver: 'raw', 'node-name': 'r' }),
    reopen(raw('r', 'nope')),
    reopen(raw('nope', 'f2')),
    reopen({ driver: 'raw', file: 'f2' }),
    reopen({ driver: 'qcow2', 'node-name': 'r', file: 'source' }),
    reopen(raw('r', 'r')),
    reopen(raw('r', null)),
    reopen(raw('r', { driver: 'file', filename: '@other.raw' })),
    reopen(raw('r', 'f3')),
    reopen(raw('r', 'source', { 'read-only': true })),
    reopen(raw('r', 'source', { offset: 0 })),
    reopen(raw('r', 'f2'), raw('nope', 'f2')),
    guestReads(0x11),
    fileNode('tf', '@t.qcow2'),
    blockdevAdd({ driver: 'qcow2', 'node-name': 't', file: 'tf' }),
    cbwNode('c0', 'f2', 't'),
    snapshotAccess('a0', 'c0'),
    reopen(raw('r', 'f2')),
    reopen(raw('r', 'f2'), { driver: 'copy-before-write', 'node-name': 'c0', file: 'f2', target: 't' }),
    reopen({ driver: 'snapshot-access', 'node-name': 'a0', file: 'c0' }),
    reopen({ driver: 'qcow2', 'node-name': 't', file: 'tf', 'read-only': true }),
    guestReads(0x11),
    blockdevDel('a0'),
    blockdevDel('c0'),
    reopen({ driver: 'qcow2', 'node-name': 't', file: 'tf', 'read-only': true }),
    reopen({ driver: 'file', 'node-name': 'f3', filename: '@other.raw' }),
    reopen({ driver: 'file', 'node-name': 'f2', filename: '@src.raw' }),
    queryNodes,
    reopen(
      { driver: 'qcow2', 'node-name': 't', file: 'tf' },
      { driver: 'file', 'node-name': 'f3', filename: '@other.raw', 'read-only': true },
    ),
    fileNode('of', '@o.qcow2'),
    blockdevAdd({ driver: 'qcow2', 'node-name': 'ov', file: 'of', backing: 'f3' }),
    reopen({ driver: 'qcow2', 'node-name': 'ov', file: 'of' }),
    reopen({ driver: 'qcow2', 'node-name': 'ov', file: 'of', backing: 'f3' }),
    blockdevDel('f3'),
    blockdevDel('ov'),
    blockdevDel('of'),
    nullNode('n', 4 * MiB),
    reopen({ driver: 'null-co', 'node-name': 'n' }),
    reopen({ driver: 'null-co', 'node-name': 'n', size: 1 * MiB }),
    reopen({ driver: 'null-co', 'node-name': 'n', size: 4 * MiB }),
    reopen(raw('source', { driver: 'file', filename: '@src.raw' })),
    reopen(raw('source', { driver: 'file', filename: '@other.raw' })),
    reopen(raw('source', { driver: 'file', filename: '@src.raw' }, { 'read-only': true })),
    xReopen(raw('r', 'source')),
    qomSet('source'),
    blockdevDel('r'),
    queryNodes,
  ],
});

export const reopenSameNodeTwice = defineRunbook({
  id: 'vm/reopen-same-node-twice',
  title:
    'blockdev-reopen listing a node twice: the entries merge, the later one wins and keeps what only the earlier one set',
  flavour: 'system',
  files: [SOURCE_DISK, OTHER_DISK],
  devices: [VD0],
  steps: [
    fileNode('f2', '@other.raw'),
    blockdevAdd(raw('r', 'source')),
    blockdevAdd(raw('r2', 'source')),
    reopen(raw('r', 'f2'), raw('r', 'source')),
    reopen(raw('r2', 'f2', { offset: 0 }), raw('r2', 'source')),
    reopen(raw('r', 'source'), raw('r', 'f2', { 'read-only': true })),
    queryNodes,
    blockdevDel('r'),
    blockdevDel('r2'),
  ],
  known: [
    {
      profile: '10.0',
      reason:
        'QEMU 10.0.13 answers {} but leaves the node drained (every later request through it hangs); the simulator refuses as not simulated',
      // the three reopens are refused, so the nodes keep their files and options in the query after them
      step: 3,
      paths: ['.steps.3.reply', '.steps.4.reply', '.steps.5.reply', '.steps.6.reply.return'],
    },
  ],
});

export const xBlockdevReopen = defineRunbook({
  id: 'vm/x-blockdev-reopen',
  title:
    "5.2's x-blockdev-reopen (one node; a file child cannot change); later versions have only blockdev-reopen",
  flavour: 'system',
  files: [SOURCE_DISK, OTHER_DISK],
  devices: [VD0],
  steps: [
    fileNode('f2', '@other.raw'),
    fileNode('f3', '@other.raw', { 'read-only': true }),
    blockdevAdd(raw('r', 'f2')),
    nbdStart,
    nbdExport('e1', 'r', { name: 'r', writable: true }),
    xReopen(raw('r', 'f2')),
    xReopen(raw('r', 'source')),
    { nbd: { socket: NBD_SOCKET, export: 'r', reads: [[0, 65536]] } },
    xReopen({ driver: 'raw', 'node-name': 'r' }),
    xReopen(raw('r', 'nope')),
    xReopen(raw('nope', 'f2')),
    xReopen({ driver: 'raw', file: 'f2' }),
    xReopen({ driver: 'qcow2', 'node-name': 'r', file: 'f2' }),
    xReopen(raw('r', 'r')),
    xReopen(raw('r', { driver: 'file', filename: '@other.raw' })),
    xReopen(raw('r', 'f3')),
    xReopen(raw('r', 'f2', { 'read-only': true })),
    xReopen(raw('r', 'f2', { offset: 0 })),
    xReopen({ driver: 'file', 'node-name': 'f3', filename: '@other.raw' }),
    xReopen({ driver: 'file', 'node-name': 'f2', filename: '@src.raw' }),
    xReopen({ driver: 'file', 'node-name': 'f3', filename: '@other.raw', 'read-only': true }),
    nullNode('n', 4 * MiB),
    xReopen({ driver: 'null-co', 'node-name': 'n' }),
    xReopen({ driver: 'null-co', 'node-name': 'n', size: 1 * MiB }),
    xReopen({ driver: 'null-co', 'node-name': 'n', size: 4 * MiB }),
    xReopen(raw('source', { driver: 'file', filename: '@src.raw' })),
    xReopen(raw('source', { driver: 'file', filename: '@src.raw' }, { 'read-only': true })),
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { sleepMs: 100 },
    blockdevDel('r'),
    queryNodes,
    { qmp: 'nbd-server-stop' },
  ],
});

export const VM_REOPEN = [reopenRawFile, reopenSameNodeTwice, xBlockdevReopen];
