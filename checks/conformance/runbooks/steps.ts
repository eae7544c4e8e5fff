import type { FileSpec, Step } from './define.ts';

/**
 * The words runbooks are written in. Each builder is one QMP shape the suite uses again and again, so a
 * runbook reads as its steps, the way a QEMU iotest does, and not as the JSON they send. A builder writes
 * the arguments in one fixed order (the order the recordings were made with: the request is part of the
 * transcript); a command used once or with unusual arguments is written out as it is, e.g.
 * `{ qmp: 'query-jobs' }`. A note goes on any step as `{ ...blockdevDel('temp'), note: 'in use' }`.
 *
 * File names are written as QMP gets them: '@name' is a file in the runbook's scratch folder.
 */
export type Json = Record<string, unknown>;
export type QmpStep = Extract<Step, { qmp: string }>;

export const KiB = 1024;
export const MiB = 1 << 20;
export const GiB = 1 << 30;
/** a job speed (bytes/s) at which a job over a 10 GiB null-co node is still running when the runbook ends */
export const SLOW = 32768;

// --- image files made before the run ---

/** `length` bytes of `byte` at `offset`, written with qemu-io before the run */
export const pattern = (byte: number, offset: number, length: number) => ({ offset, length, pattern: byte });
export const rawFile = (name: string, size: number, writes: ReturnType<typeof pattern>[] = []): FileSpec => ({
  name,
  format: 'raw',
  size,
  writes,
});
export const qcow2File = (
  name: string,
  size: number,
  more: Pick<FileSpec, 'backing' | 'backingFormat' | 'writes'> = {},
): FileSpec => ({ name, format: 'qcow2', size, ...more });
/** the guest disk most fleecing runbooks start from: 4 MiB of 0x11 */
export const SOURCE_DISK = rawFile('src.raw', 4 * MiB, [pattern(0x11, 0, 4 * MiB)]);

// --- block nodes ---

export const blockdevAdd = (args: Json): QmpStep => ({ qmp: 'blockdev-add', args });
export const blockdevDel = (name: string): QmpStep => ({ qmp: 'blockdev-del', args: { 'node-name': name } });
/** a null-co node: reads zeroes (with read-zeroes), writes vanish; 64 MiB unless said */
export const nullNode = (name: string, size = 64 * MiB, more: Json = {}) =>
  blockdevAdd({ driver: 'null-co', 'node-name': name, size, ...more });
export const fileNode = (name: string, filename: string, more: Json = {}) =>
  blockdevAdd({ driver: 'file', 'node-name': name, filename, ...more });
/** a raw format node over an anonymous file node */
export const rawNode = (name: string, filename: string, more: Json = {}) =>
  blockdevAdd({ driver: 'raw', 'node-name': name, file: { driver: 'file', filename }, ...more });
/** a qcow2 format node over an anonymous file node; `more` names its backing, if any */
export const qcow2Node = (name: string, filename: string, more: Json = {}) =>
  blockdevAdd({ driver: 'qcow2', 'node-name': name, file: { driver: 'file', filename }, ...more });
/** a copy-before-write filter over `file` that copies old data to `target` before a guest write */
export const cbwNode = (name: string, file: string, target: string, more: Json = {}) =>
  blockdevAdd({ driver: 'copy-before-write', 'node-name': name, file, target, ...more });
/** a snapshot-access node over a copy-before-write filter: the point in time */
export const snapshotAccess = (name: string, file: string) =>
  blockdevAdd({ driver: 'snapshot-access', 'node-name': name, file });
export const throttleNode = (name: string, group: string, file: string) =>
  blockdevAdd({ driver: 'throttle', 'node-name': name, 'throttle-group': group, file });
/** a qemu-system guest disk: `-blockdev` with this node's options, `-device virtio-blk-pci,id=ID` on it */
export const device = (id: string, node: QmpStep) => ({ id, blockdev: node.args ?? {} });

// --- block jobs ---

const jobStart =
  (command: string) =>
  (id: string, device: string, target: string, sync: string, more: Json = {}): QmpStep => ({
    qmp: command,
    args: { 'job-id': id, device, target, sync, ...more },
  });
export const backup = jobStart('blockdev-backup');
export const mirror = jobStart('blockdev-mirror');
/** blockdev-create of a file: a job that stops at concluded */
export const createFile = (id: string, filename: string, size: number): QmpStep => ({
  qmp: 'blockdev-create',
  args: { 'job-id': id, options: { driver: 'file', filename, size } },
});

// --- the two fleecing recipes of FACTS §4; the live disk is node "source" on @src.raw ---

/**
 * The legacy recipe: a qcow2 overlay "temp" (@temp.qcow2) backed by the live disk, and a backup sync=none
 * "fleece" into it; the guest writes through its filter "fl", the overlay shows the point in time.
 */
export const legacyFleecing = (): Step[] => [
  rawNode('source', '@src.raw'),
  qcow2Node('temp', '@temp.qcow2', { backing: 'source' }),
  backup('fleece', 'source', 'temp', 'none', { 'filter-node-name': 'fl' }),
];
/**
 * The copy-before-write recipe: filter "cbw" on the live disk copies what a guest write would overwrite to
 * the qcow2 "temp" (@temp.qcow2) first; snapshot-access "acc" on the filter shows the point in time.
 */
export const cbwFleecing = (): Step[] => [
  rawNode('source', '@src.raw'),
  qcow2Node('temp', '@temp.qcow2'),
  cbwNode('cbw', 'source', 'temp'),
  snapshotAccess('acc', 'cbw'),
];

// --- events ---

/** wait (bounded) for the next event of this kind not yet waited for; data must match where given */
export const waitEvent = (event: string, data?: Json): Step => ({ wait: data ? { event, data } : { event } });
export const waitJob = (id: string, status: string) => waitEvent('JOB_STATUS_CHANGE', { id, status });
/** block-job-cancel, then wait until the job is gone (iotests' cancel_and_wait) */
export const cancelAndWait = (device: string): Step[] => [
  { qmp: 'block-job-cancel', args: { device } },
  waitJob(device, 'null'),
];
/** events of several jobs whose order is not ours to fix: wait for the kind, once per job */
export const waitEach = (n: number, event: string, data?: Json): Step[] =>
  Array.from({ length: n }, () => waitEvent(event, data));

// --- transactions ---

type Action = { type: string; data?: unknown };
/** a transaction; each action is a step of a command that transactions take, or an action as QMP spells it */
export const transaction = (actions: (QmpStep | Action)[], properties?: Json): QmpStep => {
  const list = actions.map((a) =>
    'qmp' in a ? (a.args === undefined ? { type: a.qmp } : { type: a.qmp, data: a.args }) : a,
  );
  return { qmp: 'transaction', args: properties ? { actions: list, properties } : { actions: list } };
};
export const GROUPED = { 'completion-mode': 'grouped' };

// --- dirty bitmaps ---

export const bitmapAdd = (node: string, name: string, more: Json = {}): QmpStep => ({
  qmp: 'block-dirty-bitmap-add',
  args: { node, name, ...more },
});
const bitmapVerb =
  (verb: string) =>
  (node: string, name: string): QmpStep => ({ qmp: `block-dirty-bitmap-${verb}`, args: { node, name } });
export const bitmapRemove = bitmapVerb('remove');
export const bitmapClear = bitmapVerb('clear');
export const bitmapEnable = bitmapVerb('enable');
export const bitmapDisable = bitmapVerb('disable');
export const bitmapMerge = (node: string, target: string, bitmaps: unknown[]): QmpStep => ({
  qmp: 'block-dirty-bitmap-merge',
  args: { node, target, bitmaps },
});
export const queryNodes: QmpStep = { qmp: 'query-named-block-nodes', args: { flat: true } };

// --- the NBD server, exports and clients ---

/** every runbook's NBD server listens on this unix socket in its scratch folder */
export const NBD_SOCKET = '@nbd.sock';
export const nbdStart: QmpStep = {
  qmp: 'nbd-server-start',
  args: { addr: { type: 'unix', data: { path: NBD_SOCKET } } },
};
export const nbdExport = (id: string, node: string, more: Json = {}): QmpStep => ({
  qmp: 'block-export-add',
  args: { type: 'nbd', id, 'node-name': node, ...more },
});
/** delete an export and wait until it is gone (its clients have hung up) */
export const unexport = (id: string): Step[] => [
  { qmp: 'block-export-del', args: { id } },
  waitEvent('BLOCK_EXPORT_DELETED', { id }),
];
/**
 * An NBD client of an export: makes the writes ([offset, length, pattern byte]), then reads each
 * [offset, length], with block status of `context` where given.
 */
export const nbdClient = (
  exportName: string,
  io: { writes?: [number, number, number][]; reads: [number, number][]; context?: string },
): Step => ({ nbd: { socket: NBD_SOCKET, export: exportName, ...io } });
/** `count` raw connections named `name` that stop after the server's greeting (a client that never negotiates) */
export const nbdHold = (name: string, count = 1, waitMs = 1000): Step => ({
  nbdHold: { socket: NBD_SOCKET, name, count, waitMs },
});
/** how many of the held connections `name` the server closed, waiting up to `withinMs` for all of them */
export const nbdHeld = (name: string, withinMs: number): Step => ({ nbdHeld: { name, withinMs } });
