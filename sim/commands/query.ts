import { toQemuJson } from '../../spec/qjson.ts';
import type { Bitmap } from '../bitmaps.ts';
import type { SimCore } from '../core.ts';
import { FileDriver } from '../drivers/file.ts';
import { NullDriver } from '../drivers/null.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
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

function actualSize(core: SimCore, node: BlockNode): number | undefined {
  if (node.driver instanceof FileDriver) return core.fs.actualSize(node.driver.filename);
  if (node.driver instanceof NullDriver) return 0;
  const f = node.file;
  return f ? actualSize(core, f) : undefined;
}

function imageInfo(core: SimCore, node: BlockNode, withBacking: boolean): Record<string, unknown> {
  const info: Record<string, unknown> = {
    filename: nodeFilename(node),
    format: node.driver.name,
  };
  if (!(node.driver instanceof NullDriver)) info['dirty-flag'] = false;
  const actual = actualSize(core, node);
  if (actual !== undefined) info['actual-size'] = actual;
  info['virtual-size'] = node.size;
  if (node.driver instanceof Qcow2Driver) {
    info['cluster-size'] = node.driver.layer.clusterSize;
    if (node.driver.layer.backingFile) {
      info['backing-filename'] = node.driver.layer.backingFile;
      info['full-backing-filename'] = node.backing
        ? nodeFilename(node.backing)
        : node.driver.layer.backingFile;
      if (node.driver.layer.backingFormat) info['backing-filename-format'] = node.driver.layer.backingFormat;
    }
    if (withBacking && node.backing) info['backing-image'] = imageInfo(core, node.backing, true);
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
  } else if (withBacking && node.backing) info['backing-image'] = imageInfo(core, node.backing, true);
  return info;
}

function bitmapInfo(b: Bitmap): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (b.name !== undefined) o.name = b.name;
  o.count = b.count();
  o.granularity = b.granularity;
  o.recording = b.recording;
  o.busy = b.busy;
  o.persistent = b.persistent;
  if (b.inconsistent) o.inconsistent = true;
  return o;
}

export function blockDeviceInfo(core: SimCore, node: BlockNode, flat: boolean): Record<string, unknown> {
  let depth = 0;
  for (let b = node.backing; b && depth < 1000; b = b.backing) depth++;
  const o: Record<string, unknown> = {
    file: nodeFilename(node),
    'node-name': node.nodeName,
    ro: node.readOnly,
    drv: node.driver.name,
  };
  if (node.backing) o.backing_file = nodeFilename(node.backing);
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
  const bms = [...node.bitmaps.values(), ...node.anonymousBitmaps];
  if (bms.length > 0) o['dirty-bitmaps'] = bms.reverse().map(bitmapInfo);
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
      removable: false,
      locked: false,
    };
    if (d.blk.bs) o.inserted = blockDeviceInfo(core, d.blk.bs, false);
    o['io-status'] = 'ok';
    return o;
  });
}
