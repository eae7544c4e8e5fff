import { defineRunbook, type Step } from './define.ts';
import {
  backup,
  blockdevDel,
  cbwNode,
  KiB,
  MiB,
  mirror,
  NBD_SOCKET,
  nbdExport,
  nbdStart,
  qcow2File,
  qcow2Node,
  queryNodes,
  SOURCE_DISK,
  snapshotAccess,
  waitEvent,
} from './steps.ts';
import { VM_CHILDREN } from './vm-children.ts';
import { qomSet, VD0, VM_MACHINE } from './vm-machine.ts';
import { VM_REOPEN } from './vm-reopen.ts';

/**
 * Points in time of a running VM's disk (FACTS §10): qemu-system q35, the guest disk "vd0" on node "source",
 * the guest writing through the device's own BlockBackend, readers on the VM's NBD server. On 5.2 (no
 * copy-before-write, no qom-set of a drive) the same steps record its refusals. The CPUs stay stopped (-S):
 * once they run, SeaBIOS drives the virtio disk and switches its write cache off at a time of its own
 * (query-block's cache.writeback), which no simulated guest reproduces.
 */
const guest = (cmd: string): Step => ({ io: cmd, device: 'vd0' });
/**
 * the n-th guest write of a run: its own pattern, on one of 11 clusters in turn, so later writes overwrite
 * clusters that earlier writes and older points in time hold
 */
const write = (n: number): Step =>
  guest(`write -P 0x${(0x20 + n).toString(16)} ${((n * 4) % 11) * 64 * KiB} 64k`);
/** every point in time is read over its first 768 KiB (the clusters the writes touch, and one more) */
const readPoint = (k: number): Step => ({
  nbd: { socket: NBD_SOCKET, export: `pit${k}`, reads: [[0, 768 * KiB]] },
});
/**
 * an export gone and its snapshot-access node deleted; a pause instead of waiting for BLOCK_EXPORT_DELETED,
 * which 5.2 (that has no export to delete) would never send
 */
const unexport = (k: number): Step[] => [
  { qmp: 'block-export-del', args: { id: `e${k}` } },
  { sleepMs: 100 },
  blockdevDel(`a${k}`),
];

/**
 * Point in time k over the node the device uses now (`under`): a qcow2 scratch tK, a raw "joint" rK on
 * `under`, the filter cK on the joint, the device moved onto cK, then snapshot-access aK and its export
 * pitK. A guest write follows every step.
 */
function pointInTime(k: number, under: string, writes: { n: number }): Step[] {
  const steps: Step[] = [
    qcow2Node(`t${k}`, `@t${k}.qcow2`),
    { qmp: 'blockdev-add', args: { driver: 'raw', 'node-name': `r${k}`, file: under } },
    cbwNode(`c${k}`, `r${k}`, `t${k}`),
    qomSet(`c${k}`),
    snapshotAccess(`a${k}`, `c${k}`),
    nbdExport(`e${k}`, `a${k}`, { name: `pit${k}` }),
  ];
  return steps.flatMap((s) => [s, write(writes.n++)]);
}

export const threePointsMiddleFirst = (() => {
  const writes = { n: 0 };
  return defineRunbook({
    id: 'vm/three-points-middle-first',
    title:
      'three points in time stacked on joints over a running guest disk; the middle one ends first (its joint reopened onto the older filter), then newest first, back to source',
    flavour: 'system',
    files: [SOURCE_DISK, ...[1, 2, 3].map((k) => qcow2File(`t${k}.qcow2`, 4 * MiB))],
    devices: [VD0],
    steps: [
      nbdStart,
      write(writes.n++),
      ...pointInTime(1, 'source', writes),
      ...pointInTime(2, 'c1', writes),
      ...pointInTime(3, 'c2', writes),
      readPoint(1),
      readPoint(2),
      readPoint(3),
      { qmp: 'query-block' },
      // the middle point ends: nothing above it may use it any more, then its nodes go
      ...unexport(2),
      write(writes.n++),
      { qmp: 'blockdev-reopen', args: { options: [{ driver: 'raw', 'node-name': 'r3', file: 'c1' }] } },
      write(writes.n++),
      blockdevDel('c2'),
      blockdevDel('r2'),
      blockdevDel('t2'),
      write(writes.n++),
      readPoint(1),
      readPoint(2),
      readPoint(3),
      guest('read -v 0 16'),
      // the newest ends: the device moves below its joint
      ...unexport(3),
      qomSet('c1'),
      write(writes.n++),
      blockdevDel('c3'),
      blockdevDel('r3'),
      blockdevDel('t3'),
      readPoint(1),
      ...unexport(1),
      qomSet('source'),
      blockdevDel('c1'),
      blockdevDel('r1'),
      blockdevDel('t1'),
      write(writes.n++),
      { qmp: 'query-block' },
      queryNodes,
      { qmp: 'nbd-server-stop' },
    ],
  });
})();

export const stackedCbwRefusals = defineRunbook({
  id: 'vm/stacked-cbw-refusals',
  title:
    'filters stacked straight on each other (no joints): snapshot-access before the device moves is refused, a middle point cannot leave (reopen of a filter, blockdev-del, the device straight onto source); newest-first teardown works',
  flavour: 'system',
  files: [SOURCE_DISK, ...[1, 2, 3].map((k) => qcow2File(`t${k}.qcow2`, 4 * MiB))],
  devices: [VD0],
  steps: [
    nbdStart,
    qcow2Node('t1', '@t1.qcow2'),
    cbwNode('c1', 'source', 't1'),
    { ...snapshotAccess('a1', 'c1'), note: 'the device still writes below the filter' },
    qomSet('c1'),
    snapshotAccess('a1', 'c1'),
    nbdExport('e1', 'a1', { name: 'pit1' }),
    guest('write -P 0x22 0 64k'),
    qcow2Node('t2', '@t2.qcow2'),
    cbwNode('c2', 'c1', 't2'),
    qomSet('c2'),
    snapshotAccess('a2', 'c2'),
    nbdExport('e2', 'a2', { name: 'pit2' }),
    guest('write -P 0x33 64k 64k'),
    qcow2Node('t3', '@t3.qcow2'),
    cbwNode('c3', 'c2', 't3'),
    qomSet('c3'),
    snapshotAccess('a3', 'c3'),
    nbdExport('e3', 'a3', { name: 'pit3' }),
    guest('write -P 0x44 128k 64k'),
    readPoint(1),
    readPoint(2),
    readPoint(3),
    ...unexport(2),
    {
      qmp: 'blockdev-reopen',
      args: { options: [{ driver: 'copy-before-write', 'node-name': 'c3', file: 'c1', target: 't3' }] },
    },
    blockdevDel('c2'),
    blockdevDel('t2'),
    blockdevDel('c1'),
    qomSet('source'),
    qomSet('c1'),
    guest('write -P 0x55 192k 64k'),
    readPoint(1),
    readPoint(3),
    ...unexport(3),
    qomSet('c2'),
    blockdevDel('c3'),
    blockdevDel('t3'),
    ...unexport(1),
    qomSet('c1'),
    blockdevDel('c2'),
    blockdevDel('t2'),
    qomSet('source'),
    blockdevDel('c1'),
    blockdevDel('t1'),
    queryNodes,
    { qmp: 'nbd-server-stop' },
  ],
});

export const legacyTwoBackups = defineRunbook({
  id: 'vm/legacy-two-backups',
  title:
    'the legacy recipe twice on a guest disk: two qcow2 overlays backed by source, two backups sync=none; source stays busy as their backing file',
  flavour: 'system',
  files: [SOURCE_DISK, qcow2File('o1.qcow2', 4 * MiB), qcow2File('o2.qcow2', 4 * MiB)],
  devices: [VD0],
  steps: [
    qcow2Node('o1', '@o1.qcow2', { backing: 'source' }),
    backup('b1', 'source', 'o1', 'none'),
    guest('write -P 0x22 0 64k'),
    qcow2Node('o2', '@o2.qcow2', { backing: 'source' }),
    backup('b2', 'source', 'o2', 'none'),
    guest('write -P 0x33 0 64k'),
    { io: 'read -P 0x11 0 64k', node: 'o1' },
    { io: 'read -P 0x22 0 64k', node: 'o2' },
    { qmp: 'query-jobs' },
    blockdevDel('source'),
    { qmp: 'block-job-cancel', args: { device: 'b1' } },
    waitEvent('JOB_STATUS_CHANGE', { id: 'b1', status: 'null' }),
    blockdevDel('o1'),
    blockdevDel('o2'),
    { qmp: 'block-job-cancel', args: { device: 'b2' } },
    waitEvent('JOB_STATUS_CHANGE', { id: 'b2', status: 'null' }),
    blockdevDel('o2'),
    queryNodes,
  ],
});

export const mirrorPivot = defineRunbook({
  id: 'vm/mirror-pivot',
  title:
    'blockdev-mirror of the guest disk to a qcow2 copy, guest writes while ready, block-job-complete: the device writes to the copy, which holds everything, and the old node can go',
  flavour: 'system',
  files: [SOURCE_DISK, qcow2File('copy.qcow2', 4 * MiB)],
  devices: [VD0],
  steps: [
    guest('write -P 0x22 0 64k'),
    qcow2Node('copy', '@copy.qcow2'),
    mirror('m', 'source', 'copy', 'full'),
    waitEvent('BLOCK_JOB_READY', { device: 'm' }),
    guest('write -P 0x33 64k 64k'),
    { qmp: 'query-block-jobs' },
    { qmp: 'block-job-complete', args: { device: 'm' } },
    waitEvent('BLOCK_JOB_COMPLETED', { device: 'm' }),
    { qmp: 'query-block' },
    guest('write -P 0x44 128k 64k'),
    nbdStart,
    nbdExport('e1', 'copy', { name: 'copy' }),
    {
      nbd: {
        socket: NBD_SOCKET,
        export: 'copy',
        reads: [
          [0, 256 * KiB],
          [3 * MiB, 64 * KiB],
        ],
      },
    },
    { io: 'read -P 0x44 128k 64k', node: 'source' },
    { ...blockdevDel('copy'), note: 'the device uses it now' },
    blockdevDel('source'),
    queryNodes,
    { qmp: 'block-export-del', args: { id: 'e1' } },
    { sleepMs: 100 },
    { qmp: 'nbd-server-stop' },
  ],
});

export const VM = [
  ...VM_MACHINE,
  ...VM_REOPEN,
  threePointsMiddleFirst,
  stackedCbwRefusals,
  legacyTwoBackups,
  mirrorPivot,
  ...VM_CHILDREN,
];
