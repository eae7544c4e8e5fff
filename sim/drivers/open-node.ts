import { text } from '../../contract/versions.ts';
import { BlockCopyState } from '../block/block-copy.ts';
import { BlockNode, type ChildRole, type NodeDriver } from '../block/graph.ts';
import type { SimCore } from '../core/core.ts';
import { findThrottleGroup } from '../core/objects.ts';
import { FsError } from '../host/fs.ts';
import { ERRNO, IoError } from '../util/io-error.ts';
import { generic, QmpError } from '../util/qmp-error.ts';
import { BlkdebugDriver, type InjectErrorRule } from './blkdebug.ts';
import { CbwDriver, type OnCbwError } from './copy-before-write.ts';
import { FileDriver } from './file.ts';
import { NullDriver } from './null.ts';
import { Qcow2Driver } from './qcow2.ts';
import { RawDriver } from './raw.ts';
import { SnapshotAccessDriver } from './snapshot-access.ts';
import { ThrottleDriver } from './throttle.ts';

/**
 * bdrv_open for blockdev-add: builds a node (and its inline children) from already type-checked options.
 * Everything it creates is undone if any step fails, so a refused blockdev-add leaves no trace.
 */
const ID_RE = /^[A-Za-z][A-Za-z0-9\-._]*$/;
const BLOCK_COPY_CLUSTER_SIZE_DEFAULT = 65536;
/** drivers with bdrv_file_open (BDRV_O_PROTOCOL) */
const PROTOCOL_DRIVERS = new Set(['file', 'null-co', 'null-aio', 'blkdebug']);
/** drivers without bdrv_file_open whose 'file' child bdrv_open_inherit opens before the node itself */
const FILE_FIRST = new Set(['raw', 'qcow2', 'copy-before-write', 'snapshot-access', 'throttle']);

interface OpenCtx {
  core: SimCore;
  created: BlockNode[];
  /** names taken by nodes of this command still being opened (QEMU assigns a name before the children) */
  reserved: Set<string>;
}

export function blockdevAdd(core: SimCore, opts: Record<string, unknown>): void {
  if (typeof opts['node-name'] !== 'string') throw generic("'node-name' must be specified for the root node");
  const ctx: OpenCtx = { core, created: [], reserved: new Set() };
  try {
    const node = openNode(ctx, opts);
    node.monitorOwned = true;
    core.refreshPerms();
  } catch (e) {
    for (const n of ctx.created.reverse()) {
      for (const c of [...n.children]) core.graph.detach(c);
      core.graph.remove(n);
    }
    try {
      core.refreshPerms();
    } catch {
      // the graph was consistent before this command
    }
    throw e;
  }
}

/**
 * bdrv_open without a node name, for nodes QEMU opens on its own (drive-backup's and drive-mirror's
 * targets): generated names, not owned by the monitor, gone when their user drops them.
 */
export function openImplicitNode(core: SimCore, opts: Record<string, unknown>): BlockNode {
  const ctx: OpenCtx = { core, created: [], reserved: new Set() };
  try {
    const node = openNode(ctx, opts);
    core.refreshPerms();
    return node;
  } catch (e) {
    for (const n of ctx.created.reverse()) {
      for (const c of [...n.children]) core.graph.detach(c);
      core.graph.remove(n);
    }
    try {
      core.refreshPerms();
    } catch {
      // the graph was consistent before this command
    }
    throw e;
  }
}

/** bdrv_assign_node_name: runs in bdrv_open_common, before the driver opens the node's children */
function checkNodeName(ctx: OpenCtx, name: string): void {
  const { core } = ctx;
  if (!ID_RE.test(name)) throw generic(text(core.version, 'node.invalidName', name));
  // blk_by_name: named BlockBackends only (a -device's qdev id is not one)
  if ([...core.blks].some((b) => b.name === name))
    throw generic(`node-name=${name} is conflicting with a device id`);
  if (core.graph.find(name) || ctx.reserved.has(name))
    throw generic(text(core.version, 'node.duplicate', name));
  if (name.length >= 32) throw generic('Node name too long');
  ctx.reserved.add(name);
}

/** bdrv_assign_node_name for a node QEMU opens itself (bdrv_new_open_driver: a job's filter-node-name) */
export function checkNewNodeName(core: SimCore, name: string | undefined): void {
  if (name !== undefined) checkNodeName({ core, created: [], reserved: new Set() }, name);
}

/** QemuOpts size options (raw offset/size) refuse negative numbers: parse_option_size */
function checkSizeOption(core: SimCore, opts: Record<string, unknown>, key: string): void {
  const v = opts[key];
  if (typeof v === 'number' && v < 0) throw generic(text(core.version, 'opt.sizeOutOfRange', key, String(v)));
}

/** bdrv_lookup_bs for a child given as a reference (a node name) */
function lookupRef(core: SimCore, ref: string): BlockNode {
  const n = core.graph.find(ref);
  if (!n) throw generic(text(core.version, 'node.notFoundDeviceOrNode', ref, ref));
  return n;
}

function childFrom(
  ctx: OpenCtx,
  ref: unknown,
  readOnly: boolean,
  parent?: Record<string, unknown>,
  childName = 'file',
): BlockNode {
  // a node being opened already has its name: making it its own child is refused by
  // bdrv_attach_child_noperm (6.0+; 5.2 crashes)
  if (typeof ref === 'string' && !ctx.core.graph.find(ref) && ctx.reserved.has(ref))
    throw generic(`Making '${ref}' a ${childName} child of '${ref}' would create a cycle`);
  if (typeof ref === 'string') return lookupRef(ctx.core, ref);
  const opts = { ...(ref as Record<string, unknown>) };
  if (readOnly && opts['read-only'] === undefined) opts['read-only'] = true;
  // bdrv_inherited_options: an inline child takes its parent's discard mode unless it sets its own
  if (parent?.discard !== undefined && opts.discard === undefined) opts.discard = parent.discard;
  // ... and its cache.direct and cache.no-flush (qdict_copy_default of each)
  const pc = parent?.cache as Record<string, unknown> | undefined;
  if (pc && Object.keys(pc).length > 0)
    opts.cache = { ...pc, ...((opts.cache as Record<string, unknown> | undefined) ?? {}) };
  return openNode(ctx, opts);
}

/** bdrv_open_backing_file: an error opening the backing node is prefixed */
function backingOpen(open: () => BlockNode): BlockNode {
  try {
    return open();
  } catch (e) {
    if (e instanceof QmpError) throw new QmpError(e.errorClass, `Could not open backing file: ${e.desc}`);
    throw e;
  }
}

function openError(filename: string, e: unknown): never {
  if (e instanceof FsError) throw generic(`Could not open '${filename}': ${e.reason}`);
  throw e;
}

function openNode(ctx: OpenCtx, opts: Record<string, unknown>): BlockNode {
  const { core } = ctx;
  const driverName = opts.driver as string;
  const readOnly = opts['read-only'] === true;
  const children: { name: string; role: ChildRole; bs: BlockNode }[] = [];
  let driver: NodeDriver;
  // bdrv_open_inherit: a format or filter driver (no bdrv_file_open) has its 'file' child opened before
  // bdrv_open_common assigns the node name; protocol drivers (file, null-co, blkdebug) open children later
  const fileFirst = FILE_FIRST.has(driverName) && opts.file !== undefined;
  const firstFile = fileFirst
    ? childFrom(ctx, opts.file, driverName === 'snapshot-access' || readOnly, opts)
    : undefined;
  // bdrv_open_common: bdrv_parse_detect_zeroes runs before bdrv_open_driver assigns the node name
  if (opts['detect-zeroes'] === 'unmap' && opts.discard !== 'unmap')
    throw generic('setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  if (typeof opts['node-name'] === 'string') checkNodeName(ctx, opts['node-name']);
  const fileChild = (ro: boolean): BlockNode => firstFile ?? childFrom(ctx, opts.file, ro, opts);

  switch (driverName) {
    case 'file': {
      const filename = opts.filename as string;
      let store: ReturnType<typeof core.fs.openRaw>;
      try {
        store = core.fs.openRaw(filename, readOnly);
      } catch (e) {
        openError(filename, e);
      }
      driver = new FileDriver(filename, store, readOnly, (ro) => core.fs.openRaw(filename, ro));
      break;
    }
    case 'null-co':
    case 'null-aio': {
      const latency = opts['latency-ns'];
      if (typeof latency === 'number' && latency < 0) throw generic('latency-ns is invalid');
      driver = new NullDriver((opts.size as number | undefined) ?? 1 << 30, opts['read-zeroes'] === true);
      break;
    }
    case 'raw': {
      checkSizeOption(core, opts, 'offset');
      checkSizeOption(core, opts, 'size');
      const file = fileChild(readOnly);
      children.push({ name: 'file', role: 'file', bs: file });
      const offset = (opts.offset as number | undefined) ?? 0;
      const size = opts.size as number | undefined;
      if (offset > file.size)
        throw generic(
          'The sum of offset (' +
            offset +
            ') and size (0) has to be smaller or equal to the  actual size of the containing file (' +
            file.size +
            ')',
        );
      driver = new RawDriver(offset, size);
      break;
    }
    case 'qcow2': {
      const file = fileChild(readOnly);
      // bdrv_default_perms_for_storage: a writable format takes WRITE on its metadata child when attaching
      // it, before the driver reads the header
      if (!readOnly && file.readOnly) throw generic('Block node is read-only');
      children.push({ name: 'file', role: 'file', bs: file });
      // blkdebug nodes between the format and its file see the format's data I/O (read_aio/write_aio)
      const debug: BlkdebugDriver[] = [];
      let proto = file;
      while (proto.driver instanceof BlkdebugDriver && proto.file) {
        debug.push(proto.driver);
        proto = proto.file;
      }
      const filename = proto.driver instanceof FileDriver ? proto.driver.filename : undefined;
      const layer = filename === undefined ? null : core.fs.openQcow2(filename, readOnly);
      if (!layer) throw generic('Image is not in qcow2 format');
      driver = new Qcow2Driver(
        layer,
        (kind, offset, length) => {
          for (const d of debug) d.check(kind, offset, length);
        },
        (ro) => core.fs.openQcow2(filename!, ro),
      );
      if (Object.hasOwn(opts, 'backing')) {
        if (opts.backing !== null) {
          const backing =
            typeof opts.backing === 'string' && ctx.reserved.has(opts.backing)
              ? childFrom(ctx, opts.backing, true, undefined, 'backing')
              : backingOpen(() => childFrom(ctx, opts.backing, true, undefined, 'backing'));
          children.push({ name: 'backing', role: 'backing', bs: backing });
        }
      } else if (layer.backingFile) {
        const backingFile = layer.backingFile;
        children.push({
          name: 'backing',
          role: 'backing',
          bs: backingOpen(() =>
            openImplicitBacking(ctx, layer.backingPath ?? backingFile, layer.backingFormat),
          ),
        });
      }
      break;
    }
    case 'copy-before-write': {
      const file = fileChild(readOnly);
      const target = childFrom(ctx, opts.target, false, opts, 'target');
      children.push({ name: 'file', role: 'file', bs: file }, { name: 'target', role: 'target', bs: target });
      const bm = opts.bitmap as { node: string; name: string } | undefined;
      let scope: (c: number) => boolean = () => true;
      const inScope = (c: number) => scope(c);
      const clusterSize = copyClusterSize(target, opts['min-cluster-size'] as number | undefined);
      let nodeRef: BlockNode | undefined;
      const bcs = new BlockCopyState(
        () => nodeRef!.file!,
        () => nodeRef!.child('target')!.bs,
        clusterSize,
        inScope,
        () => {
          if (core.rng.chance(core.faults.cbwErrorRate)) throw new IoError(ERRNO.EIO);
          return core.faults.writeLatencyNs;
        },
      );
      const cbw = new CbwDriver(
        bcs,
        (opts['on-cbw-error'] as OnCbwError | undefined) ?? 'break-guest-write',
        cbwTimeoutNs(core, (opts['cbw-timeout'] as number | undefined) ?? 0),
        inScope,
      );
      cbw.statusBug = core.version.features.has('hbitmap-status-first-dirty-bug');
      driver = cbw;
      const node = finish(ctx, opts, driver, children, readOnly);
      nodeRef = node;
      // cbw_open attaches 'file' and 'target' (their permissions checked) before it parses the bitmap
      core.refreshPerms();
      if (bm) {
        // cbw_parse_bitmap_option -> block_dirty_bitmap_lookup: the node first, then the bitmap
        const bmNode = core.graph.find(bm.node);
        // a node still being opened (a parent) already has its name, and no bitmaps
        if (!bmNode && !ctx.reserved.has(bm.node)) throw generic(`Node '${bm.node}' not found`);
        const bitmap = bmNode?.bitmaps.get(bm.name);
        if (!bitmap) throw generic(`Dirty bitmap '${bm.name}' not found`);
        // The filter copies (and lets the snapshot read) only what the bitmap held when it was inserted.
        const frozen = new Set<number>();
        for (const g of bitmap.dirty) {
          const first = Math.floor((g * bitmap.granularity) / clusterSize);
          const last = Math.floor(((g + 1) * bitmap.granularity - 1) / clusterSize);
          for (let c = first; c <= last; c++) frozen.add(c);
        }
        scope = (c) => frozen.has(c);
      }
      checkLeftoverOptions(driverName, opts);
      // cbw_open's done and access bitmaps show on the filter node
      cbw.attachBitmaps(node, core.version.features.has('block-copy-bitmap-on-filter'));
      return node;
    }
    case 'snapshot-access': {
      const file = fileChild(true);
      children.push({ name: 'file', role: 'file', bs: file });
      driver = new SnapshotAccessDriver();
      break;
    }
    case 'throttle': {
      const name = opts['throttle-group'];
      if (typeof name !== 'string') throw generic('Missing throttle group name');
      const group = findThrottleGroup(core, name);
      if (!group) throw generic(`Throttle group '${name}' does not exist`);
      const file = fileChild(readOnly);
      children.push({ name: 'file', role: 'file', bs: file });
      driver = new ThrottleDriver(group, () => core.clock.now);
      break;
    }
    case 'blkdebug': {
      const image = childFrom(ctx, opts.image, readOnly, opts, 'image');
      children.push({ name: 'image', role: 'file', bs: image });
      const rules: InjectErrorRule[] = (
        (opts['inject-error'] as Record<string, unknown>[] | undefined) ?? []
      ).map((r) => ({
        event: r.event as string,
        errno: (r.errno as number | undefined) ?? ERRNO.EIO,
        sector: (r.sector as number | undefined) ?? -1,
        once: r.once === true,
        iotype: r.iotype === undefined ? undefined : [r.iotype as string],
      }));
      driver = new BlkdebugDriver(rules);
      break;
    }
    default:
      throw generic(`fleece-lab: driver '${driverName}' is not simulated`);
  }
  return finish(ctx, opts, driver, children, readOnly);
}

function finish(
  ctx: OpenCtx,
  opts: Record<string, unknown>,
  driver: NodeDriver,
  children: { name: string; role: ChildRole; bs: BlockNode }[],
  readOnly: boolean,
): BlockNode {
  const { core } = ctx;
  // copy-before-write checks this after cbw_open parsed its bitmap
  if (!(driver instanceof CbwDriver)) checkLeftoverOptions(driver.name, opts);
  let name = opts['node-name'] as string | undefined;
  if (name === undefined) name = core.autoNodeName();
  const node = new BlockNode(name, opts['node-name'] === undefined, driver, { readOnly, options: opts });
  node.detectZeroes = (opts['detect-zeroes'] as string | undefined) ?? 'off';
  node.unmap = opts.discard === 'unmap';
  for (const c of children) {
    core.graph.attach({ kind: 'node', node }, c.bs, c.name, c.role);
    // a child given inline (or opened from the image header) is this node's own: bs->inherits_from
    if (typeof opts[c.name] !== 'string') c.bs.inheritsFrom = node;
  }
  core.graph.add(node);
  ctx.created.push(node);
  if (driver instanceof Qcow2Driver) {
    driver.bindBacking(node);
    driver.loadBitmaps(node);
  }
  return node;
}

/** bdrv_open_inherit: qdict_flatten keeps an empty 'cache' dict, which no driver consumes */
function checkLeftoverOptions(driverName: string, opts: Record<string, unknown>): void {
  const cache = opts.cache;
  if (cache && typeof cache === 'object' && Object.keys(cache).length === 0)
    throw generic(
      PROTOCOL_DRIVERS.has(driverName)
        ? `Block protocol '${driverName}' doesn't support the option 'cache'`
        : `Block format '${driverName}' does not support the option 'cache'`,
    );
}

/** block_copy_calculate_cluster_size */
function copyClusterSize(target: BlockNode, minClusterSize?: number): number {
  let size = BLOCK_COPY_CLUSTER_SIZE_DEFAULT;
  if (target.driver instanceof Qcow2Driver && !target.backing)
    size = Math.max(size, target.driver.layer.clusterSize);
  if (minClusterSize) size = Math.max(size, minClusterSize);
  return size;
}

/** A qcow2 image names its backing file in its header: QEMU opens it (read-only, with generated names). */
function openImplicitBacking(ctx: OpenCtx, backingFile: string, backingFormat?: string): BlockNode {
  const { core } = ctx;
  let format = backingFormat;
  if (!format) {
    const probe = core.fs.exists(backingFile) ? core.fs.openQcow2(backingFile, true) : null;
    format = probe ? 'qcow2' : 'raw';
    probe?.store.close();
  }
  return openNode(ctx, {
    driver: format,
    'read-only': true,
    file: { driver: 'file', filename: backingFile, 'read-only': true },
  });
}

/**
 * cbw_open: s->cbw_timeout_ns = cbw-timeout * NANOSECONDS_PER_SECOND. Before 9.1 the field was a uint32, so
 * a timeout above 4 s wrapped (5 s became 0.705 s).
 */
function cbwTimeoutNs(core: SimCore, seconds: number): number {
  const ns = seconds * 1e9;
  return core.version.features.has('cbw-timeout-uint32-bug') ? ns % 2 ** 32 : ns;
}
