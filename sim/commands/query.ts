import { toQemuJson } from '../../spec/qjson.ts';
import type { Bitmap } from '../bitmaps.ts';
import type { SimCore } from '../core.ts';
import { FileDriver } from '../drivers/file.ts';
import { NullDriver } from '../drivers/null.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
import { RawDriver } from '../drivers/raw.ts';
import type { BlockNode } from '../graph.ts';

/**
 * query-named-block-nodes and query-block (block/qapi.c bdrv_block_device_info). Objects are built in QAPI
 * member order; the wire order comes from spec/qjson.ts.
 */

/** The options a node was opened with, as bdrv_refresh_filename's full_open_options would give them. */
function fullOptions(node: BlockNode): Record<string, unknown> {
  const o: Record<string, unknown> = { driver: node.driver.name };
  if (node.driver instanceof FileDriver) o.filename = node.driver.filename;
  if (node.driver instanceof NullDriver) {
    if (node.options.size !== undefined) o.size = node.options.size;
    if (node.options['read-zeroes'] !== undefined) o['read-zeroes'] = node.options['read-zeroes'];
  }
  for (const c of node.children) {
    if (c.name === 'backing' && node.options.backing === undefined) continue;
    o[c.name] = fullOptions(c.bs);
  }
  return o;
}

/** bs->filename after bdrv_refresh_filename */
export function nodeFilename(node: BlockNode): string {
  if (node.driver instanceof FileDriver) return node.driver.filename;
  if (node.driver instanceof NullDriver) {
    const opts = fullOptions(node);
    return Object.keys(opts).length === 1 ? `${node.driver.name}://` : `json:${toQemuJson(opts)}`;
  }
  // An explicitly given backing cannot be expressed by a plain file name.
  if (node.driver instanceof Qcow2Driver && Object.hasOwn(node.options, 'backing') && node.backing)
    return `json:${toQemuJson(fullOptions(node))}`;
  const f = node.file ?? node.backing;
  return f ? nodeFilename(f) : '';
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
  const f = filtered(node);
  return f ? actualSize(core, f) : undefined;
}

/** bdrv_get_info succeeds (so ImageInfo has dirty-flag): drivers with get_info, filters through their child */
function hasGetInfo(node: BlockNode, depth = 0): boolean {
  if (node.driver instanceof NullDriver || depth > 64) return false;
  if (node.driver instanceof FileDriver || node.driver instanceof Qcow2Driver) return true;
  if (!(node.driver instanceof RawDriver) && !node.driver.isFilter) return false;
  const f = filtered(node);
  return f ? hasGetInfo(f, depth + 1) : false;
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
  if (node.driver instanceof Qcow2Driver) {
    info['cluster-size'] = node.driver.layer.clusterSize;
    if (node.driver.layer.backingFile) {
      info['backing-filename'] = node.driver.layer.backingFile;
      info['full-backing-filename'] = node.backing
        ? nodeFilename(node.backing)
        : node.driver.layer.backingFile;
      if (node.driver.layer.backingFormat) info['backing-filename-format'] = node.driver.layer.backingFormat;
    }
    if (withBacking && chainNext(core, node))
      info['backing-image'] = imageInfo(core, chainNext(core, node)!, true);
    info['format-specific'] = {
      type: 'qcow2',
      data: {
        compat: '1.1',
        'compression-type': 'zlib',
        'lazy-refcounts': false,
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
    o.status = b.busy ? (b.frozen ? 'frozen' : 'locked') : b.recording ? 'active' : 'disabled';
  o.persistent = b.persistent;
  if (b.inconsistent) o.inconsistent = true;
  return o;
}

function discardAlignment(node: BlockNode, depth = 0): number {
  if (node.driver instanceof Qcow2Driver) return node.driver.layer.clusterSize;
  if (depth > 64) return 0;
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
  const kids = node.children.filter((c) => c.parent.kind === 'node').map((c) => c.bs);
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

export function blockDeviceInfo(core: SimCore, node: BlockNode, flat: boolean): Record<string, unknown> {
  // counted while the image chain is gathered, so a flat query says 0
  let depth = 0;
  if (!flat) for (let b = chainNext(core, node); b && depth < 1000; b = chainNext(core, b)) depth++;
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
    cache: { writeback: true, direct: false, 'no-flush': false },
    write_threshold: 0,
  });
  if (core.version.features.has('query-legacy-fields')) o.encryption_key_missing = false;
  if (core.version.features.has('query-node-active')) o.active = true;
  const bms = [...node.bitmaps.values(), ...node.anonymousBitmaps];
  if (bms.length > 0) o['dirty-bitmaps'] = bms.reverse().map((b) => bitmapInfo(core, b));
  return o;
}

/** query-named-block-nodes: newest node first, as QEMU keeps its graph list */
export function queryNamedBlockNodes(core: SimCore, flat: boolean): unknown[] {
  return [...core.graph.nodes.values()].reverse().map((n) => blockDeviceInfo(core, n, flat));
}

/** query-block: qemu-system's BlockBackends of devices; qemu-storage-daemon has none */
export function queryBlock(core: SimCore): unknown[] {
  return [...core.devices.values()].map((d) => {
    const o: Record<string, unknown> = {
      device: '',
      qdev: `${d.qomPath}/virtio-backend`,
      type: 'unknown',
      removable: false,
      locked: false,
    };
    if (d.blk.bs) o.inserted = blockDeviceInfo(core, d.blk.bs, false);
    // 5.2 still lists the device's bitmaps on BlockInfo itself (deprecated there)
    const bms = d.blk.bs ? [...d.blk.bs.bitmaps.values(), ...d.blk.bs.anonymousBitmaps] : [];
    if (core.version.features.has('query-legacy-fields') && bms.length > 0)
      o['dirty-bitmaps'] = bms.reverse().map((b) => bitmapInfo(core, b));
    o['io-status'] = 'ok';
    return o;
  });
}
