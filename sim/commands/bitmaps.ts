import type { CommandArgs } from '../../contract/qapi/generated/commands.ts';
import { text } from '../../contract/versions.ts';
import { Bitmap } from '../block/bitmaps.ts';
import type { BlockNode } from '../block/graph.ts';
import type { SimCore } from '../core/core.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
import { generic } from '../util/qmp-error.ts';
import { lookupBs, namedBlk } from './common.ts';

/** block/monitor/bitmap-qmp-cmds.c, with each command split into check and apply so transactions can use them. */

/** block_dirty_bitmap_lookup */
export function lookupBitmap(core: SimCore, node: string, name: string): { bs: BlockNode; bitmap: Bitmap } {
  // bdrv_lookup_bs(node, node): a named BlockBackend first, then a node name
  const bs = namedBlk(core, node)?.bs ?? core.graph.find(node);
  if (!bs) throw generic(text(core.version, 'node.notFound', node));
  const bitmap = bs.bitmaps.get(name);
  if (!bitmap) throw generic(`Dirty bitmap '${name}' not found`);
  return { bs, bitmap };
}

/** bdrv_dirty_bitmap_check: busy, then read-only (unless allowed), then inconsistent (unless allowed) */
function checkNotBusy(b: Bitmap, allow: { readonly?: boolean; inconsistent?: boolean } = {}): void {
  const why = b.unusable(allow);
  if (why) throw generic(why);
}

function defaultGranularity(bs: BlockNode): number {
  // bdrv_get_default_bitmap_granularity: the cluster size where there is one, at least 64 KiB
  let n: BlockNode | undefined = bs;
  for (let i = 0; n && i < 16; i++) {
    if (n.driver instanceof Qcow2Driver) return Math.max(65536, n.driver.layer.clusterSize);
    if (!n.driver.isFilter) break;
    n = n.file ?? n.backing;
  }
  return 65536;
}

/** Returns an undo for transactions. */
export function bitmapAdd(core: SimCore, a: CommandArgs<'block-dirty-bitmap-add'>): () => void {
  if (!a.name) throw generic('Bitmap name cannot be empty');
  const bs = lookupBs(core, a.node, a.node);
  let granularity: number;
  if (a.granularity !== undefined) {
    const g = a.granularity;
    if (g < 512 || (g & (g - 1)) !== 0) throw generic('Granularity must be power of 2 and at least 512');
    granularity = g;
  } else granularity = defaultGranularity(bs);
  if (a.persistent) {
    // bdrv_can_store_new_dirty_bitmap: 11.x refuses read-only nodes before asking the driver
    if (core.version.qemu.major >= 11 && bs.readOnly)
      throw generic(`Cannot add a persistent bitmap to read-only or inactive node '${bs.nodeName}'`);
    if (!(bs.driver instanceof Qcow2Driver))
      throw generic(`Can't store persistent bitmaps to ${bs.nodeName}: Operation not supported`);
  }
  if (bs.bitmaps.has(a.name)) throw generic(`Bitmap already exists: ${a.name}`);
  if (a.name.length > 1023) throw generic(`Bitmap name too long: ${a.name}`);
  const b = new Bitmap(a.name, bs, granularity, a.persistent === true, a.disabled === true);
  bs.bitmaps.set(a.name, b);
  return () => {
    b.release();
    bs.bitmaps.delete(a.name);
  };
}

export function bitmapRemove(
  core: SimCore,
  node: string,
  name: string,
): { undo: () => void; commit: () => void } {
  const { bs, bitmap } = lookupBitmap(core, node, name);
  // 11.x asks for write access to the node before removing a persistent bitmap from its image
  if (core.version.qemu.major >= 11 && bitmap.persistent && !bitmap.busy && bs.readOnly)
    throw generic(`Cannot remove persistent bitmap '${name}': no write access to node '${bs.nodeName}'`);
  checkNotBusy(bitmap, { inconsistent: true });
  // a persistent one leaves the image at once (also in a transaction, at prepare)
  if (bitmap.persistent && bs.driver instanceof Qcow2Driver) bs.driver.removeStored(bs, name);
  // Hidden during the transaction, released on commit.
  bs.bitmaps.delete(name);
  return {
    undo: () => bs.bitmaps.set(name, bitmap),
    commit: () => bitmap.release(),
  };
}

export function bitmapClear(core: SimCore, node: string, name: string): () => void {
  const { bitmap } = lookupBitmap(core, node, name);
  checkNotBusy(bitmap);
  const saved = new Set(bitmap.dirty);
  bitmap.clear();
  return () => {
    for (const g of saved) bitmap.dirty.add(g);
  };
}

export function bitmapEnable(core: SimCore, node: string, name: string, enable: boolean): () => void {
  const { bitmap } = lookupBitmap(core, node, name);
  checkNotBusy(bitmap, { readonly: true });
  const was = bitmap.recording;
  bitmap.recording = enable;
  return () => {
    bitmap.recording = was;
  };
}

/**
 * block_dirty_bitmap_merge. 6.0+: each source is looked up and merged in turn (bdrv_merge_dirty_bitmap
 * checks the target, then that source), a failure undoes what was merged before it. 5.2: every source is
 * merged into an anonymous bitmap first, and only then the target is checked and merged into.
 */
export function bitmapMerge(core: SimCore, a: CommandArgs<'block-dirty-bitmap-merge'>): () => void {
  const { bs, bitmap: dst } = lookupBitmap(core, a.node, a.target);
  const sourcesFirst = core.version.profile === '5.2';
  const saved = new Set(dst.dirty);
  const restore = () => {
    dst.dirty.clear();
    for (const g of saved) dst.dirty.add(g);
  };
  const checkSize = (b: Bitmap) => {
    if (b.node.size !== dst.node.size)
      throw generic(
        `Bitmaps are of different sizes (destination size is ${dst.node.size}, source size is ${b.node.size})`,
      );
  };
  const sources: Bitmap[] = [];
  try {
    for (const src of a.bitmaps) {
      let b: Bitmap;
      if (typeof src === 'string') {
        const found = bs.bitmaps.get(src);
        if (!found) throw generic(`Dirty bitmap '${src}' not found`);
        b = found;
      } else b = lookupBitmap(core, src.node, src.name).bitmap;
      if (sourcesFirst) {
        checkNotBusy(b, { readonly: true });
        sources.push(b);
        continue;
      }
      checkNotBusy(dst);
      checkNotBusy(b, { readonly: true });
      checkSize(b);
      dst.mergeFrom(b);
    }
    if (sourcesFirst) {
      checkNotBusy(dst);
      for (const b of sources) dst.mergeFrom(b);
    }
  } catch (e) {
    restore();
    throw e;
  }
  return restore;
}
