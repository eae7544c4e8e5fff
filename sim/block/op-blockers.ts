import { generic } from '../util/qmp-error.ts';

/**
 * Op blockers (block.c bdrv_op_block / bdrv_op_is_blocked): a node refuses some operations while something
 * holds a blocker on it. Each blocker is one Error text; the newest is reported (QLIST_INSERT_HEAD).
 */
export type BlockOp =
  | 'backup-source'
  | 'backup-target'
  | 'commit-target'
  | 'drive-del'
  | 'mirror-source'
  | 'mirror-target'
  | 'stream';

export interface OpBlocker {
  /** the error text, e.g. "block device is in use by block job: backup" */
  reason: string;
  /** operations this blocker lets through (bdrv_op_unblock); none: it blocks every operation */
  allows?: ReadonlySet<BlockOp>;
}

interface Blockable {
  readonly nodeName: string;
  readonly blockers: OpBlocker[];
}

export function addBlocker(node: Blockable, blocker: OpBlocker): void {
  node.blockers.unshift(blocker);
}

export function removeBlocker(node: Blockable, blocker: OpBlocker): void {
  const i = node.blockers.indexOf(blocker);
  if (i >= 0) node.blockers.splice(i, 1);
}

/** bdrv_op_is_blocked: "Node 'x' is busy: <reason>" */
export function checkOpBlocked(node: Blockable, op: BlockOp): void {
  const b = node.blockers.find((x) => !x.allows?.has(op));
  if (b) throw generic(`Node '${node.nodeName}' is busy: ${b.reason}`);
}

/**
 * bdrv_backing_attach: a backing file (a COW child, not a filter's) is blocked for everything but commit,
 * stream and backup, with the overlay's name as the reason.
 */
const BACKING_ALLOWS: ReadonlySet<BlockOp> = new Set<BlockOp>([
  'commit-target',
  'stream',
  'backup-source',
  'backup-target',
]);
export function backingBlocker(overlayName: string): OpBlocker {
  return { reason: `node is used as backing hd of '${overlayName}'`, allows: BACKING_ALLOWS };
}
