import { defineRunbook } from './define.ts';
import {
  backup,
  blockdevDel,
  MiB,
  qcow2File,
  qcow2Node,
  queryNodes,
  SOURCE_DISK,
  waitEvent,
} from './steps.ts';
import { VD0 } from './vm-machine.ts';

/**
 * The order of a node's children as query-named-block-nodes lists them (11.1's `children`; earlier versions
 * record the same graph without it). QEMU inserts at the head of bs->children; from 6.2 the list is kept by
 * the child's attach/detach callbacks, so an edge that bdrv_replace_node points at a new filter moves to the
 * head too. Two backups of one guest disk: the second's filter goes in under the first's, whose 'file' edge
 * then comes before its 'target' (found by the differential replay on the VM domain).
 */
export const twoBackupsChildren = defineRunbook({
  id: 'vm/two-backups-children',
  title:
    "two backups sync=none of one guest disk: the second's filter goes in under the first's, whose file edge moves to the head of its children",
  flavour: 'system',
  files: [SOURCE_DISK, qcow2File('o1.qcow2', 4 * MiB), qcow2File('o2.qcow2', 4 * MiB)],
  devices: [VD0],
  steps: [
    qcow2Node('o1', '@o1.qcow2', { backing: 'source' }),
    backup('b1', 'source', 'o1', 'none'),
    queryNodes,
    qcow2Node('o2', '@o2.qcow2', { backing: 'source' }),
    backup('b2', 'source', 'o2', 'none'),
    queryNodes,
    { qmp: 'block-job-cancel', args: { device: 'b2' } },
    waitEvent('JOB_STATUS_CHANGE', { id: 'b2', status: 'null' }),
    queryNodes,
    { qmp: 'block-job-cancel', args: { device: 'b1' } },
    waitEvent('JOB_STATUS_CHANGE', { id: 'b1', status: 'null' }),
    blockdevDel('o1'),
    blockdevDel('o2'),
    queryNodes,
  ],
});

export const VM_CHILDREN = [twoBackupsChildren];
