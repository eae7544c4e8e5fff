import { z } from 'zod';
import { bitmapArgs, bitmapMergeArgs } from '../../spec/qmp/commands.ts';
import { Bitmap } from '../bitmaps.ts';
import type { SimCore } from '../core.ts';
import type { BlockNode } from '../graph.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
import { generic } from '../qmp-error.ts';
import { lookupBs } from './common.ts';

/** block/monitor/bitmap-qmp-cmds.c, with each command split into check and apply so transactions can use them. */

/** block_dirty_bitmap_lookup */
export function lookupBitmap(core: SimCore, node: string, name: string): { bs: BlockNode; bitmap: Bitmap } {
  const bs = core.graph.find(node) ?? [...core.devices.values()].find((d) => d.id === node)?.blk.bs;
  if (!bs) throw generic(`Node '${node}' not found`);
  const bitmap = bs.bitmaps.get(name);
  if (!bitmap) throw generic(`Dirty bitmap '${name}' not found`);
  return { bs, bitmap };
}

function checkNotBusy(b: Bitmap): void {
  if (b.busy) throw generic(`Bitmap '${b.name}' is currently in use by another operation and cannot be used`);
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
export function bitmapAdd(core: SimCore, a: z.infer<typeof bitmapArgs>): () => void {
  if (!a.name) throw generic('Bitmap name cannot be empty');
  const bs = lookupBs(core, a.node, a.node);
  let granularity: number;
  if (a.granularity !== undefined) {
    const g = a.granularity;
    if (g < 512 || (g & (g - 1)) !== 0) throw generic('Granularity must be power of 2 and at least 512');
    granularity = g;
  } else granularity = defaultGranularity(bs);
  if (a.persistent && !(bs.driver instanceof Qcow2Driver))
    throw generic(`Can't store persistent bitmaps to ${bs.nodeName}: Operation not supported`);
  if (bs.bitmaps.has(a.name)) throw generic(`Bitmap already exists: ${a.name}`);
  if (a.name.length > 1023) throw generic(`Bitmap name too long: ${a.name}`);
  const b = new Bitmap(a.name, bs, granularity, a.persistent === true, a.disabled === true);
  bs.bitmaps.set(a.name, b);
  return () => {
    b.release();
    bs.bitmaps.delete(a.name);
  };
}

export function bitmapRemove(core: SimCore, node: string, name: string): { undo: () => void; commit: () => void } {
  const { bs, bitmap } = lookupBitmap(core, node, name);
  checkNotBusy(bitmap);
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
  checkNotBusy(bitmap);
  const was = bitmap.recording;
  bitmap.recording = enable;
  return () => {
    bitmap.recording = was;
  };
}

export function bitmapMerge(core: SimCore, a: z.infer<typeof bitmapMergeArgs>): () => void {
  const { bitmap: dst } = lookupBitmap(core, a.node, a.target);
  checkNotBusy(dst);
  const sources: Bitmap[] = [];
  for (const src of a.bitmaps) {
    if (typeof src === 'string') {
      const b = lookupBitmap(core, a.node, src).bitmap;
      sources.push(b);
    } else sources.push(lookupBitmap(core, src.node, src.name).bitmap);
  }
  const saved = new Set(dst.dirty);
  for (const s of sources) dst.mergeFrom(s);
  return () => {
    dst.dirty.clear();
    for (const g of saved) dst.dirty.add(g);
  };
}
