import { text, type VersionInfo, versionInfo } from '../../contract/versions.ts';
import type { Extent } from '../image/types.ts';
import { generic } from '../util/qmp-error.ts';
import { addBlocker, backingBlocker, type OpBlocker, removeBlocker } from './op-blockers.ts';
import { PERM, PERM_ALL, permNames } from './perm.ts';

/**
 * The block graph: nodes (BlockDriverState), the edges between them and from their users (BdrvChild),
 * BlockBackends, op blockers and QEMU's permission rules (block.c) as far as they show through QMP.
 */

export type ChildRole = 'file' | 'backing' | 'target' | 'filtered-file' | 'other';

/** Who holds an edge: a node, a BlockBackend, or a job's extra reference (block_job_add_bdrv). */
export type Parent =
  | { kind: 'node'; node: BlockNode }
  | { kind: 'blk'; blk: BlockBackend }
  | { kind: 'job'; jobType: string; jobId: string };

export interface BdrvChild {
  /** 'file', 'backing', 'target', 'root', 'main node', ... */
  name: string;
  role: ChildRole;
  parent: Parent;
  bs: BlockNode;
  perm: number;
  shared: number;
  /** BlockBackend roots of jobs stay on their node when it is replaced (child_job.stay_at_node) */
  stayAtNode: boolean;
  /** the op blocker a COW (backing) child puts on its node while attached (bdrv_backing_attach) */
  backingBlocker?: OpBlocker;
}

/** What a driver instance does for its node. */
export interface NodeDriver {
  readonly name: string;
  readonly isFilter: boolean;
  readonly isFormat: boolean;
  /** bdrv_child_perm: the permissions this node takes/shares on one child, given its own cumulative ones */
  childPerm(node: BlockNode, child: BdrvChild, perm: number, shared: number): [number, number];
  size(node: BlockNode): number;
  read(node: BlockNode, offset: number, length: number): Uint8Array;
  write(node: BlockNode, offset: number, data: Uint8Array): void;
  writeZeroes(node: BlockNode, offset: number, length: number): void;
  discard(node: BlockNode, offset: number, length: number): void;
  flush(node: BlockNode): void;
  /** allocation in this node's own layer: unallocated means "ask the backing" */
  blockStatus(node: BlockNode, offset: number, length: number): Extent[];
  close(node: BlockNode): void;
  /** drv->bdrv_reopen_prepare and friends; absent: the driver "does not support reopening files" */
  readonly reopen?: DriverReopen;
}

/** What a driver does in (x-)blockdev-reopen (sim/commands/reopen.ts runs the generic part). */
export interface DriverReopen {
  /** the driver can reopen in QEMU but the simulator does not model it: what to call it */
  readonly notSimulated?: string;
  /** drv->mutable_opts: driver options a reopen may leave out (they go back to their defaults) */
  readonly mutableOpts: readonly string[];
  /**
   * drv->bdrv_reopen_prepare: takes the options it handles out of `opts` (flat, dotted keys); every option
   * left must be unchanged. Throws QEMU's refusal, or a not-simulated error for a change the simulator
   * does not model.
   */
  prepare(node: BlockNode, opts: Map<string, unknown>): void;
  /**
   * a change the simulator cannot commit, asked once the permissions allowed the reopen (node.readOnly is
   * already the new mode): what to call it, or undefined
   */
  commitRefusal?(node: BlockNode, wasReadOnly: boolean): string | undefined;
  /** drv->bdrv_reopen_commit (node.readOnly is the new mode) */
  commit?(node: BlockNode, wasReadOnly: boolean): void;
}

export class BlockNode {
  readonly children: BdrvChild[] = [];
  /** newest first, as QLIST_INSERT_HEAD keeps bs->parents */
  readonly parents: BdrvChild[] = [];
  /** op blockers, newest first: each an Error text ("block device is in use by block job: backup") */
  readonly blockers: OpBlocker[] = [];
  monitorOwned = false;
  /** the parent that opened this node as an inline child (bs->inherits_from): a reopen of it reopens this too */
  inheritsFrom: BlockNode | undefined;
  /** references not held through edges (e.g. a job keeping its filter alive) */
  extraRefs = 0;
  readOnly: boolean;
  options: Record<string, unknown>;
  detectZeroes = 'off';
  /** cumulative permissions taken and shared by all parents (bdrv_get_cumulative_perm) */
  cumulativePerm = 0;
  cumulativeShared = PERM_ALL;

  constructor(
    readonly nodeName: string,
    readonly autoNamed: boolean,
    public driver: NodeDriver,
    opts: { readOnly: boolean; options: Record<string, unknown> },
  ) {
    this.readOnly = opts.readOnly;
    this.options = opts.options;
  }

  child(name: string): BdrvChild | undefined {
    // a loop, not find(): every read and write down a chain asks for bs->file and bs->backing
    for (const c of this.children) if (c.name === name) return c;
    return undefined;
  }

  /** bs->file: the primary child ('file', or 'image' for blkdebug) */
  get file(): BlockNode | undefined {
    return (this.child('file') ?? this.child('image'))?.bs;
  }

  get backing(): BlockNode | undefined {
    return this.child('backing')?.bs;
  }

  get size(): number {
    return this.driver.size(this);
  }

  /** file-posix: the permissions this node's image file is locked for (raw_apply_lock_bytes), once applied */
  lockedPerm = 0;
  lockedShared = PERM_ALL;

  /** named dirty bitmaps, and the anonymous ones jobs and filters keep (query output shows both) */
  readonly bitmaps = new Map<string, import('./bitmaps.ts').Bitmap>();
  readonly anonymousBitmaps: import('./bitmaps.ts').Bitmap[] = [];

  /** Called on every write that reaches this node (dirty bitmaps listen here). */
  readonly writeHooks: ((offset: number, length: number) => void)[] = [];

  read(offset: number, length: number): Uint8Array {
    return this.driver.read(this, offset, length);
  }
  write(offset: number, data: Uint8Array): void {
    this.driver.write(this, offset, data);
    for (const h of this.writeHooks) h(offset, data.length);
  }
  writeZeroes(offset: number, length: number): void {
    this.driver.writeZeroes(this, offset, length);
    for (const h of this.writeHooks) h(offset, length);
  }
  /** opened with discard=unmap (BDRV_O_UNMAP); without it QEMU ignores discard requests */
  unmap = false;

  discard(offset: number, length: number): void {
    if (!this.unmap) return;
    this.driver.discard(this, offset, length);
    for (const h of this.writeHooks) h(offset, length);
  }
  flush(): void {
    this.driver.flush(this);
  }
  blockStatus(offset: number, length: number): Extent[] {
    return this.driver.blockStatus(this, offset, length);
  }
}

/** A BlockBackend: the way devices, exports, jobs and HMP qemu-io reach a node. */
export class BlockBackend {
  root: BdrvChild | undefined;
  constructor(
    /** name for named BlockBackends (-drive), else undefined */
    readonly name: string | undefined,
    /** description used in permission errors, e.g. "block device 'vda'" or "an NBD export" */
    readonly desc: string,
    public perm: number,
    public shared: number,
  ) {}

  get bs(): BlockNode | undefined {
    return this.root?.bs;
  }
}

/** bdrv_child_user_desc */
export function parentDesc(c: BdrvChild, v?: VersionInfo): string {
  const legacy = v?.permCheck === 'update';
  switch (c.parent.kind) {
    case 'node':
      // 5.2: bdrv_get_device_or_node_name(parent)
      return legacy ? c.parent.node.nodeName : `node '${c.parent.node.nodeName}'`;
    case 'blk': {
      if (!legacy) return c.parent.blk.desc;
      // 5.2's blk_root_get_parent_desc: the name or device id bare, else "a block device"
      const m = /^block device '(.*)'$/.exec(c.parent.blk.desc);
      return m ? m[1] : 'a block device';
    }
    case 'job':
      return `${c.parent.jobType} job '${c.parent.jobId}'`;
  }
}

export class Graph {
  readonly nodes = new Map<string, BlockNode>();
  /** the profile whose wording permission errors use (set by the monitor; 7.2 when unset) */
  version: VersionInfo = versionInfo('7.2');
  /** bumped on every change of nodes or edges, so derived orders can be cached */
  private generation = 0;
  private topoCache: { generation: number; order: BlockNode[] } | undefined;
  private autoNameCounter = 0;

  /**
   * QEMU's generated node names (util/id.c id_generate): "#block", a counter shared by every node created
   * without a name, and two random digits. The digits come from the simulator's seed.
   */
  nextAutoName(random2: number): string {
    const n = this.autoNameCounter++;
    return `#block${n}${String(random2 % 100).padStart(2, '0')}`;
  }

  find(name: string): BlockNode | undefined {
    return this.nodes.get(name);
  }

  add(node: BlockNode): void {
    this.nodes.set(node.nodeName, node);
    this.generation++;
  }

  /** Remove a node from the name table (its edges are the caller's business). */
  remove(node: BlockNode): void {
    if (this.nodes.get(node.nodeName) === node) this.nodes.delete(node.nodeName);
    this.generation++;
  }

  attach(parent: Parent, bs: BlockNode, name: string, role: ChildRole, stayAtNode = false): BdrvChild {
    // Only node-to-node edges shape the topological order; users (BlockBackends, jobs) do not.
    if (parent.kind === 'node') this.generation++;
    const c: BdrvChild = { name, role, parent, bs, perm: 0, shared: PERM_ALL, stayAtNode };
    if (parent.kind === 'node') parent.node.children.push(c);
    if (parent.kind === 'blk') parent.blk.root = c;
    bs.parents.unshift(c);
    this.backingAttached(c);
    return c;
  }

  /** bdrv_child_cb_attach: a COW child blocks its node (a filter's 'backing' child is not one) */
  private backingAttached(c: BdrvChild): void {
    if (c.parent.kind !== 'node' || c.name !== 'backing' || c.parent.node.driver.isFilter) return;
    c.backingBlocker = backingBlocker(c.parent.node.nodeName);
    addBlocker(c.bs, c.backingBlocker);
  }

  private backingDetached(c: BdrvChild): void {
    if (!c.backingBlocker) return;
    removeBlocker(c.bs, c.backingBlocker);
    c.backingBlocker = undefined;
  }

  detach(c: BdrvChild): void {
    if (c.parent.kind === 'node') this.generation++;
    this.backingDetached(c);
    const i = c.bs.parents.indexOf(c);
    if (i >= 0) c.bs.parents.splice(i, 1);
    if (c.parent.kind === 'node') {
      const j = c.parent.node.children.indexOf(c);
      if (j >= 0) c.parent.node.children.splice(j, 1);
    }
    if (c.parent.kind === 'blk' && c.parent.blk.root === c) c.parent.blk.root = undefined;
  }

  /**
   * Point an edge at another node (bdrv_replace_child_noperm): it joins the head of the new node's parents and,
   * where detach/attach keep the parent's children list, the head of that list too (children are kept oldest
   * first here, so that is the end).
   */
  retarget(c: BdrvChild, to: BlockNode): void {
    if (c.parent.kind === 'node') this.generation++;
    this.backingDetached(c);
    const i = c.bs.parents.indexOf(c);
    if (i >= 0) c.bs.parents.splice(i, 1);
    c.bs = to;
    to.parents.unshift(c);
    if (c.parent.kind === 'node' && this.version.features.has('children-list-on-attach')) {
      const kids = c.parent.node.children;
      const j = kids.indexOf(c);
      if (j >= 0) kids.push(...kids.splice(j, 1));
    }
    this.backingAttached(c);
  }

  /** should_update_child: never redirect an edge that lies anywhere below `to` (that would make a loop). */
  private shouldUpdateChild(c: BdrvChild, to: BlockNode): boolean {
    if (c.stayAtNode) return false;
    const seen = new Set<BlockNode>([to]);
    const queue: BlockNode[] = [to];
    while (queue.length > 0) {
      const v = queue.shift()!;
      for (const c2 of v.children) {
        if (c2 === c) return false;
        if (!seen.has(c2.bs)) {
          seen.add(c2.bs);
          queue.push(c2.bs);
        }
      }
    }
    return true;
  }

  /** bdrv_replace_node: every user of `from` (but those below `to`) now uses `to`. Returns an undo. */
  replaceNode(from: BlockNode, to: BlockNode): () => void {
    const moved = [...from.parents].reverse().filter((c) => this.shouldUpdateChild(c, to));
    for (const c of moved) this.retarget(c, to);
    return () => {
      for (const c of [...moved].reverse()) this.retarget(c, from);
    };
  }

  /**
   * Recompute every edge's permissions top-down (bdrv_refresh_perms over the whole graph) and check for
   * conflicts; throws QEMU's "Permission conflict" error on the first one. `wasReadOnly` holds the nodes a
   * reopen is changing, with their read-only flag from before (bdrv_is_writable_after_reopen).
   */
  refreshPerms(blks: Iterable<BlockBackend>, wasReadOnly?: ReadonlyMap<BlockNode, boolean>): void {
    for (const blk of blks) {
      if (blk.root) {
        blk.root.perm = blk.perm;
        blk.root.shared = blk.shared;
      }
    }
    const order = this.topoOrder();
    for (const node of order) {
      let perm = 0;
      let shared = PERM_ALL;
      for (const p of node.parents) {
        perm |= p.perm;
        shared &= p.shared;
      }
      node.cumulativePerm = perm;
      node.cumulativeShared = shared;
      for (const c of node.children) {
        const [cp, cs] = node.driver.childPerm(node, c, perm, shared);
        c.perm = cp;
        c.shared = cs;
      }
    }
    // bdrv_list_refresh_perms: each node, parents first, is checked for conflicts, then for writers
    for (const node of order) {
      this.checkConflicts(node);
      this.checkWritable(node, wasReadOnly?.get(node) ?? node.readOnly);
    }
    this.checkFileLocks(order);
  }

  /** bdrv_node_refresh_perm: write permissions never work with read-only images */
  private checkWritable(node: BlockNode, wasReadOnly: boolean): void {
    if (!node.readOnly || !(node.cumulativePerm & (PERM.WRITE | PERM.WRITE_UNCHANGED))) return;
    if (wasReadOnly) throw generic('Block node is read-only');
    throw generic(text(this.version, 'perm.readOnlyWriters', node.nodeName));
  }

  /**
   * file-posix image locking (raw_check_lock_bytes): two file nodes on one image lock it like two processes
   * would (OFD locks). A node taking a permission another node of the file unshares, or unsharing one another
   * holds, fails; else every node's locks follow its new permissions.
   */
  private checkFileLocks(order: BlockNode[]): void {
    const files: BlockNode[] = [];
    for (const n of order) if (n.driver.name === 'file' && n.options.locking !== 'off') files.push(n);
    const bits = LOCK_BITS;
    for (const n of files) {
      if (n.cumulativePerm === n.lockedPerm && n.cumulativeShared === n.lockedShared) continue;
      for (const o of files) {
        if (o === n || fileOf(o) !== fileOf(n)) continue;
        for (const b of bits)
          if (n.cumulativePerm & b && !(o.lockedShared & b))
            throw generic(`Failed to get "${permNames(b)}" lock`);
        for (const b of bits)
          if (!(n.cumulativeShared & b) && o.lockedPerm & b)
            throw generic(`Failed to get shared "${permNames(b)}" lock`);
      }
    }
    for (const n of files) {
      n.lockedPerm = n.cumulativePerm;
      n.lockedShared = n.cumulativeShared;
    }
  }

  /** bdrv_parent_perms_conflict / bdrv_a_allow_b (6.0+); bdrv_check_update_perm (5.2) */
  checkConflicts(node: BlockNode): void {
    const v = this.version;
    const n = node.nodeName;
    if (v.permCheck === 'update') {
      // 5.2 checks the user whose permissions change against every other user; the newest user of the
      // node (parents are newest first) stands for the one that changed.
      for (const nu of node.parents) {
        for (const c of node.parents) {
          if (c === nu) continue;
          if ((nu.perm & c.shared) !== nu.perm) {
            const perms = permNames(nu.perm & ~c.shared);
            throw generic(text(v, 'perm.conflict', n, perms, '', '', parentDesc(c, v), c.name));
          }
          if ((c.perm & nu.shared) !== c.perm) {
            const perms = permNames(c.perm & ~nu.shared);
            throw generic(text(v, 'perm.conflictUses', parentDesc(c, v), c.name, perms, n));
          }
        }
      }
      return;
    }
    for (const a of node.parents) {
      for (const b of node.parents) {
        if (a === b) continue;
        if ((b.perm & a.shared) === b.perm) continue;
        const perms = permNames(b.perm & ~a.shared);
        throw generic(text(v, 'perm.conflict', n, perms, parentDesc(b, v), b.name, parentDesc(a, v), a.name));
      }
    }
  }

  /** Parents before children; node parents only (BlockBackend/job edges are roots). */
  private topoOrder(): BlockNode[] {
    if (this.topoCache?.generation === this.generation) return this.topoCache.order;
    const order = this.computeTopoOrder();
    this.topoCache = { generation: this.generation, order };
    return order;
  }

  private computeTopoOrder(): BlockNode[] {
    const indeg = new Map<BlockNode, number>();
    for (const n of this.nodes.values()) indeg.set(n, 0);
    for (const n of this.nodes.values()) {
      for (const c of n.children) indeg.set(c.bs, (indeg.get(c.bs) ?? 0) + 1);
    }
    const out: BlockNode[] = [];
    const ready = [...indeg].filter(([, d]) => d === 0).map(([n]) => n);
    while (ready.length > 0) {
      const n = ready.shift()!;
      out.push(n);
      for (const c of n.children) {
        const d = (indeg.get(c.bs) ?? 0) - 1;
        indeg.set(c.bs, d);
        if (d === 0) ready.push(c.bs);
      }
    }
    if (out.length !== indeg.size) throw new Error('block graph has a cycle');
    return out;
  }

  /** A node stays while anything refers to it (bdrv_unref); drop children that lost their last parent. */
  collect(node: BlockNode): void {
    if (node.parents.length > 0 || node.monitorOwned || node.extraRefs > 0) return;
    if (!this.nodes.has(node.nodeName)) return;
    this.remove(node);
    for (const c of [...node.children]) {
      this.detach(c);
      this.collect(c.bs);
    }
    // the driver closes first: qcow2 stores the persistent bitmaps (qcow2_inactivate)
    try {
      node.driver.close(node);
    } finally {
      for (const b of node.bitmaps.values()) b.release();
      node.bitmaps.clear();
    }
  }

  /** bdrv_close_all at exit: every node closes (qcow2 nodes store their persistent bitmaps). */
  closeAll(): void {
    for (const node of [...this.nodes.values()]) {
      this.remove(node);
      try {
        node.driver.close(node);
      } catch {
        // an image that cannot be written back stays as it was, like QEMU reporting and going on
      }
      for (const b of node.bitmaps.values()) b.release();
      node.bitmaps.clear();
    }
  }

  hasBlk(node: BlockNode): boolean {
    return node.parents.some((p) => p.parent.kind === 'blk');
  }
}

/** the permission bits file-posix locks (raw_check_lock_bytes) */
const LOCK_BITS = [1, 2, 4, 8];

/** the image a file node opened (refreshPerms runs for every guest write: no closure per call) */
function fileOf(n: BlockNode): string {
  return (n.driver as unknown as { filename: string }).filename;
}
