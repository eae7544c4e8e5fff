import { toQemuJson } from '../../contract/qjson.ts';
import type { Bitmap } from '../block/bitmaps.ts';
import type { BlockNode } from '../block/graph.ts';
import type { SimCore } from '../core/core.ts';
import { BlkdebugDriver } from '../drivers/blkdebug.ts';
import { FileDriver } from '../drivers/file.ts';
import { MirrorTopDriver } from '../drivers/mirror-top.ts';
import { NullDriver } from '../drivers/null.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
import { RawDriver } from '../drivers/raw.ts';
import { ThrottleDriver } from '../drivers/throttle.ts';

/**
 * query-named-block-nodes and query-block (block/qapi.c bdrv_block_device_info). Objects are built in QAPI
 * member order; the wire order comes from spec/qjson.ts.
 */

/** the strong runtime options of a driver (strong_runtime_opts): they change what the node is */
const STRONG_OPTIONS: Record<string, string[]> = {
  raw: ['offset', 'size'],
  throttle: ['throttle-group'],
  blkdebug: [
    'config',
    'inject-error',
    'set-state',
    'align',
    'max-transfer',
    'opt-write-zero',
    'max-write-zero',
  ],
};

function strongOptions(node: BlockNode): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of STRONG_OPTIONS[node.driver.name] ?? [])
    if (node.options[k] !== undefined) o[k] = node.options[k];
  return o;
}

/** bdrv_backing_overridden: a backing other than the image's own, or none where the image names one */
function backingOverridden(node: BlockNode): boolean {
  if (!(node.driver instanceof Qcow2Driver) || !Object.hasOwn(node.options, 'backing')) return false;
  return node.backing !== undefined || !!node.driver.layer.backingFile;
}

/** The options a node was opened with, as bdrv_refresh_filename's full_open_options would give them. */
function fullOptions(node: BlockNode): Record<string, unknown> {
  const o: Record<string, unknown> = { driver: node.driver.name, ...strongOptions(node) };
  if (node.driver instanceof FileDriver) o.filename = node.driver.filename;
  if (node.driver instanceof NullDriver) {
    if (node.options.size !== undefined) o.size = node.options.size;
    if (node.options['read-zeroes'] !== undefined) o['read-zeroes'] = node.options['read-zeroes'];
  }
  for (const c of node.children) {
    if (c.name === 'backing' && !backingOverridden(node) && !node.driver.isFilter) continue;
    o[c.name] = fullOptions(c.bs);
  }
  if (backingOverridden(node) && !node.backing) o.backing = null;
  return o;
}

/** drivers with bdrv_file_open */
function isProtocol(node: BlockNode): boolean {
  return (
    node.driver instanceof FileDriver ||
    node.driver instanceof NullDriver ||
    node.driver instanceof BlkdebugDriver
  );
}

/** bs->exact_filename after bdrv_refresh_filename ('' where only a json: name describes the node) */
function exactFilename(node: BlockNode): string {
  const d = node.driver;
  if (d instanceof FileDriver) return d.filename;
  if (d instanceof NullDriver) return Object.keys(fullOptions(node)).length === 1 ? `${d.name}://` : '';
  const strong = Object.keys(strongOptions(node)).length > 0;
  // blkdebug_refresh_filename: "blkdebug:CONFIG:IMAGE" when no other option is set and the image has one
  if (d instanceof BlkdebugDriver) {
    const inner = node.file ? exactFilename(node.file) : '';
    return inner !== '' && !strong ? `blkdebug::${inner}` : '';
  }
  // the generic rule for a format: its protocol child's name, unless strong options or an overridden
  // backing make the node more than "that file, opened as this format"
  if (d instanceof RawDriver || d instanceof Qcow2Driver) {
    const f = node.file;
    if (!f || !isProtocol(f) || strong || backingOverridden(node)) return '';
    return exactFilename(f);
  }
  // a filter without .bdrv_refresh_filename (throttle) has no plain name
  if (d instanceof ThrottleDriver) return '';
  // copy-before-write, snapshot-access, mirror_top, backup-top: their own refresh_filename copies the
  // child's filename
  const f = node.file ?? node.backing;
  return f ? nodeFilename(f) : '';
}

/**
 * Filenames worked out during one query: a node's name is asked for again by its parents (backing_file,
 * full-backing-filename, the image chain), and the graph does not change while a query runs.
 */
let filenames: Map<BlockNode, string> | undefined;

function duringOneQuery<T>(fn: () => T): T {
  if (filenames) return fn();
  filenames = new Map();
  try {
    return fn();
  } finally {
    filenames = undefined;
  }
}

/** bs->filename after bdrv_refresh_filename */
export function nodeFilename(node: BlockNode): string {
  const known = filenames?.get(node);
  if (known !== undefined) return known;
  const name = exactFilename(node) || `json:${toQemuJson(fullOptions(node))}`;
  filenames?.set(node, name);
  return name;
}

/** The child a filter passes I/O to (bdrv_filter_bs): 5.2's backup-top and mirror_top call it 'backing'. */
function filtered(node: BlockNode): BlockNode | undefined {
  return node.file ?? (node.driver.isFilter ? node.backing : undefined);
}

/** bdrv_cow_bs: the backing file proper; a filter's 'backing' child is not one */
function cowBacking(node: BlockNode): BlockNode | undefined {
  return node.driver.isFilter ? undefined : node.backing;
}

function actualSize(core: SimCore, node: BlockNode): number | undefined {
  if (node.driver instanceof FileDriver) return core.fs.actualSize(node.driver.filename);
  if (node.driver instanceof NullDriver) return 0;
  // bdrv_get_allocated_file_size: a protocol driver (blkdebug has bdrv_file_open) without its own answer
  // is -ENOTSUP, even as a filter
  if (node.driver instanceof BlkdebugDriver) return undefined;
  const f = filtered(node);
  return f ? actualSize(core, f) : undefined;
}

/**
 * The node whose bdrv_get_info answers for `node` (so ImageInfo has dirty-flag, and cluster-size from a qcow2):
 * drivers with get_info, raw and filters through their child; undefined where it fails
 */
function getInfoNode(node: BlockNode, depth = 0): BlockNode | undefined {
  if (node.driver instanceof NullDriver || depth > 64) return undefined;
  if (node.driver instanceof FileDriver || node.driver instanceof Qcow2Driver) return node;
  if (!(node.driver instanceof RawDriver) && !node.driver.isFilter) return undefined;
  const f = filtered(node);
  return f ? getInfoNode(f, depth + 1) : undefined;
}

function hasGetInfo(node: BlockNode): boolean {
  return getInfoNode(node) !== undefined;
}

/**
 * The next image of the non-flat query chain (block/qapi.c bdrv_block_device_info): any filtered or COW
 * child since 6.x (bdrv_filter_or_cow_bs), bs->backing before that.
 */
function chainNext(core: SimCore, node: BlockNode): BlockNode | undefined {
  if (core.version.features.has('query-legacy-fields')) return node.backing;
  if (node.driver instanceof RawDriver) return undefined;
  return node.driver.isFilter ? filtered(node) : node.backing;
}

function imageInfo(core: SimCore, node: BlockNode, withBacking: boolean): Record<string, unknown> {
  const info: Record<string, unknown> = {
    filename: nodeFilename(node),
    format: node.driver.name,
  };
  if (hasGetInfo(node)) info['dirty-flag'] = false;
  const actual = actualSize(core, node);
  if (actual !== undefined) info['actual-size'] = actual;
  info['virtual-size'] = node.size;
  if (core.version.features.has('query-node-children')) {
    const l = limits(node);
    const lim: Record<string, number> = { 'request-alignment': l.requestAlignment };
    // qcow2_refresh_limits: zeroes and discards work in whole clusters
    if (node.driver instanceof Qcow2Driver) {
      lim['write-zeroes-alignment'] = node.driver.layer.clusterSize;
      lim['discard-alignment'] = node.driver.layer.clusterSize;
    }
    // a parent takes the largest discard alignment of its children (bdrv_merge_limits)
    const da = discardAlignment(node);
    if (da > 0 && !(node.driver instanceof Qcow2Driver)) lim['discard-alignment'] = da;
    Object.assign(lim, { 'max-iov': l.maxIov, 'min-mem-alignment': l.minMem, 'opt-mem-alignment': l.optMem });
    info.limits = lim;
  }
  const infoNode = getInfoNode(node);
  if (infoNode !== node && infoNode?.driver instanceof Qcow2Driver)
    info['cluster-size'] = infoNode.driver.layer.clusterSize;
  if (node.driver instanceof Qcow2Driver) {
    info['cluster-size'] = node.driver.layer.clusterSize;
    if (node.driver.layer.backingFile) {
      info['backing-filename'] = node.driver.layer.backingFile;
      info['full-backing-filename'] = node.backing
        ? nodeFilename(node.backing)
        : (node.driver.layer.backingPath ?? node.driver.layer.backingFile);
      if (node.driver.layer.backingFormat) info['backing-filename-format'] = node.driver.layer.backingFormat;
    }
    if (withBacking && chainNext(core, node))
      info['backing-image'] = imageInfo(core, chainNext(core, node)!, true);
    // qcow2_get_bitmap_info_list: the image's bitmap directory, when it has one
    const bitmaps = node.driver.layer.bitmapDirectory?.() ?? [];
    info['format-specific'] = {
      type: 'qcow2',
      data: {
        compat: '1.1',
        'compression-type': 'zlib',
        'lazy-refcounts': false,
        ...(bitmaps.length > 0 ? { bitmaps } : {}),
        'refcount-bits': 16,
        corrupt: false,
        'extended-l2': false,
      },
    };
  } else {
    if (withBacking && chainNext(core, node))
      info['backing-image'] = imageInfo(core, chainNext(core, node)!, true);
    if (node.driver instanceof FileDriver && core.version.features.has('query-node-active'))
      info['format-specific'] = { type: 'file', data: {} };
  }
  return info;
}

function bitmapInfo(core: SimCore, b: Bitmap): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (b.name !== undefined) o.name = b.name;
  o.count = b.count();
  o.granularity = b.granularity;
  o.recording = b.recording;
  o.busy = b.busy;
  // 5.2 still has the deprecated status (frozen while a backup holds it, locked while busy otherwise)
  if (core.version.features.has('query-legacy-fields'))
    o.status = b.busy
      ? b.frozen
        ? 'frozen'
        : 'locked'
      : b.inconsistent
        ? 'inconsistent'
        : b.recording
          ? 'active'
          : 'disabled';
  o.persistent = b.persistent;
  if (b.inconsistent) o.inconsistent = true;
  return o;
}

function discardAlignment(node: BlockNode, depth = 0): number {
  if (node.driver instanceof Qcow2Driver) return node.driver.layer.clusterSize;
  if (depth > 64 || node.driver instanceof MirrorTopDriver) return 0;
  let a = 0;
  for (const c of node.children)
    if (c.parent.kind === 'node') a = Math.max(a, discardAlignment(c.bs, depth + 1));
  return a;
}

interface Limits {
  requestAlignment: number;
  maxIov: number;
  minMem: number;
  optMem: number;
}

/** bdrv_refresh_limits: a node's own limits, merged with those of its data, filtered and backing children */
function limits(node: BlockNode, depth = 0): Limits {
  if (node.driver instanceof FileDriver)
    return { requestAlignment: 1, maxIov: 1024, minMem: 1, optMem: 4096 };
  // mirror_top's limits are refreshed once, by bdrv_new_open_driver before bdrv_append gives it its child
  const kids =
    node.driver instanceof MirrorTopDriver
      ? []
      : node.children.filter((c) => c.parent.kind === 'node').map((c) => c.bs);
  if (kids.length === 0 || depth > 64)
    return { requestAlignment: 1, maxIov: 1024, minMem: 512, optMem: 4096 };
  const l: Limits = { requestAlignment: 1, maxIov: 0, minMem: 0, optMem: 0 };
  for (const k of kids) {
    const c = limits(k, depth + 1);
    l.minMem = Math.max(l.minMem, c.minMem);
    l.optMem = Math.max(l.optMem, c.optMem);
    l.maxIov = l.maxIov === 0 ? c.maxIov : Math.min(l.maxIov, c.maxIov);
  }
  return l;
}

/**
 * bs->implicit: a job's filter that the user did not name (mirror_top without filter-node-name). query-block
 * skips such nodes (bdrv_skip_implicit_filters), query-named-block-nodes lists them. A backup's
 * copy-before-write filter is not implicit: real 7.2 shows it in query-block.
 */
function isImplicit(node: BlockNode): boolean {
  return node.autoNamed && node.driver instanceof MirrorTopDriver;
}

function skipImplicit(node: BlockNode | undefined): BlockNode | undefined {
  let n = node;
  for (let i = 0; n && isImplicit(n) && i < 1000; i++) n = filtered(n);
  return n;
}

/** blk: for query-block, where implicit filters in the chain are skipped too */
export function blockDeviceInfo(
  core: SimCore,
  node: BlockNode,
  flat: boolean,
  blk = false,
): Record<string, unknown> {
  // counted while the image chain is gathered, so a flat query says 0
  let depth = 0;
  if (!flat)
    for (let b = chainNext(core, node); b && depth < 1000; b = chainNext(core, b)) {
      depth++;
      if (blk) b = skipImplicit(b);
      if (!b) break;
    }
  const o: Record<string, unknown> = {
    file: nodeFilename(node),
    'node-name': node.nodeName,
    ro: node.readOnly,
    drv: node.driver.name,
  };
  const cow = cowBacking(node);
  if (cow) o.backing_file = nodeFilename(cow);
  if (core.version.features.has('query-node-children'))
    // bs->children is a list QEMU inserts at the head of: the newest child first
    o.children = node.children
      .filter((c) => c.parent.kind === 'node')
      .reverse()
      .map((c) => ({ child: c.name, 'node-name': c.bs.nodeName }));
  Object.assign(o, {
    backing_file_depth: depth,
    encrypted: false,
    detect_zeroes: node.detectZeroes,
    bps: 0,
    bps_rd: 0,
    bps_wr: 0,
    iops: 0,
    iops_rd: 0,
    iops_wr: 0,
    image: imageInfo(core, node, !flat),
    // BDRV_O_NOCACHE and BDRV_O_NO_FLUSH from the node's cache.* options (inline children inherit them)
    cache: {
      writeback: true,
      direct: (node.options.cache as Record<string, unknown> | undefined)?.direct === true,
      'no-flush': (node.options.cache as Record<string, unknown> | undefined)?.['no-flush'] === true,
    },
    write_threshold: 0,
  });
  if (core.version.features.has('query-legacy-fields')) o.encryption_key_missing = false;
  if (core.version.features.has('query-node-active')) o.active = true;
  const bms = newestFirst([...node.bitmaps.values(), ...node.anonymousBitmaps]);
  if (bms.length > 0) o['dirty-bitmaps'] = bms.map((b) => bitmapInfo(core, b));
  return o;
}

/** a node's bitmaps as QEMU's list has them: the newest first, named or anonymous */
function newestFirst(bms: Bitmap[]): Bitmap[] {
  return bms.sort((a, b) => b.created - a.created);
}

/** query-named-block-nodes: newest node first, as QEMU keeps its graph list */
export function queryNamedBlockNodes(core: SimCore, flat: boolean): unknown[] {
  return duringOneQuery(() =>
    [...core.graph.nodes.values()].reverse().map((n) => blockDeviceInfo(core, n, flat)),
  );
}

/** query-block: qemu-system's BlockBackends of devices; qemu-storage-daemon has none */
export function queryBlock(core: SimCore): unknown[] {
  return duringOneQuery(() => queryDevices(core));
}

function queryDevices(core: SimCore): unknown[] {
  return [...core.devices.values()].map((d) => {
    const o: Record<string, unknown> = {
      device: '',
      qdev: `${d.qomPath}/virtio-backend`,
      type: 'unknown',
      removable: false,
      locked: false,
    };
    const bs = skipImplicit(d.blk.bs);
    if (bs) {
      const inserted = blockDeviceInfo(core, bs, false, true);
      // the BlockBackend's own write cache, not the node's
      (inserted.cache as Record<string, unknown>).writeback = d.writeCache ?? true;
      o.inserted = inserted;
    }
    // 5.2 still lists the device's bitmaps on BlockInfo itself (deprecated there)
    const bms = bs ? newestFirst([...bs.bitmaps.values(), ...bs.anonymousBitmaps]) : [];
    if (core.version.features.has('query-legacy-fields') && bms.length > 0)
      o['dirty-bitmaps'] = bms.map((b) => bitmapInfo(core, b));
    o['io-status'] = 'ok';
    return o;
  });
}
