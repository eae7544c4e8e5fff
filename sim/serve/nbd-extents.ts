import type { Bitmap } from '../bitmaps.ts';
import type { BlockNode } from '../graph.ts';
import { STATE_DIRTY, STATE_HOLE, STATE_ZERO } from './nbd-proto.ts';

/** One NBD block-status descriptor. */
export interface NbdExtent {
  length: number;
  flags: number;
}

/** What bdrv_block_status_above + bdrv_is_allocated_above say for a range of an export's node. */
export interface ChainExtent {
  offset: number;
  length: number;
  /** BDRV_BLOCK_DATA */
  data: boolean;
  /** BDRV_BLOCK_ZERO */
  zero: boolean;
  /** layer that holds the range, counted from the exported node (1); 0: no layer does */
  depth: number;
}

const MAX_CHAIN = 64;

/** Drivers whose unallocated areas without a backing read as zeroes (drv->supports_backing). */
const SUPPORTS_BACKING = new Set(['qcow2', 'qed', 'vmdk', 'vhdx', 'vpc', 'qcow']);

/**
 * Allocation status down the chain (block/io.c bdrv_co_common_block_status_above): a layer that reports
 * data or zero holds the range; an unallocated range is asked of the next layer (a filter's file, else
 * the backing), one more in depth. A backing shorter than the range reads as zeroes held by that backing.
 */
export function chainStatus(node: BlockNode, offset: number, length: number): ChainExtent[] {
  const out: ChainExtent[] = [];
  walk(node, offset, length, 1, out);
  return out;
}

function walk(node: BlockNode, offset: number, length: number, depth: number, out: ChainExtent[]): void {
  if (length <= 0) return;
  const size = node.size;
  const inside = Math.max(0, Math.min(length, size - offset));
  let pos = offset;
  if (inside > 0) {
    for (const e of node.blockStatus(offset, inside)) {
      const start = Math.max(e.offset, pos);
      const end = Math.min(e.offset + e.length, offset + inside);
      if (end <= start) continue;
      if (start > pos) out.push({ offset: pos, length: start - pos, data: true, zero: false, depth });
      if (e.status === 'data')
        out.push({ offset: start, length: end - start, data: true, zero: false, depth });
      else if (e.status === 'zero')
        out.push({ offset: start, length: end - start, data: false, zero: true, depth });
      else {
        const next = node.driver.isFilter ? node.file : node.backing;
        if (next && depth < MAX_CHAIN) walk(next, start, end - start, depth + 1, out);
        else
          out.push({
            offset: start,
            length: end - start,
            data: false,
            zero: SUPPORTS_BACKING.has(node.driver.name),
            depth: 0,
          });
      }
      pos = end;
    }
    if (pos < offset + inside)
      out.push({ offset: pos, length: offset + inside - pos, data: true, zero: false, depth });
  }
  const beyond = offset + length - Math.max(offset, size);
  if (beyond > 0)
    out.push({ offset: Math.max(offset, size), length: beyond, data: false, zero: true, depth });
}

/**
 * base:allocation: NBD_STATE_HOLE unless data (6.0 on; before, unless some layer allocates it: a hole of
 * a raw file was zero but not a hole), NBD_STATE_ZERO when it reads as zeroes
 */
export function allocationFlags(e: ChainExtent, holeWithoutData = true): number {
  const hole = holeWithoutData ? !e.data : e.depth === 0;
  return (hole ? STATE_HOLE : 0) | (e.zero ? STATE_ZERO : 0);
}

/**
 * nbd_extent_array_add over a list: adjacent descriptors with the same flags merge (up to 2^32-1 bytes
 * with compact headers), and the list stops at `maxCount` descriptors.
 */
export function collect(
  items: Iterable<NbdExtent>,
  opts: { maxCount: number; extended: boolean },
): NbdExtent[] {
  const out: NbdExtent[] = [];
  for (const it of items) {
    if (it.length <= 0) continue;
    const last = out[out.length - 1];
    if (last && last.flags === it.flags && (opts.extended || last.length + it.length <= 0xffffffff)) {
      last.length += it.length;
      continue;
    }
    if (out.length >= opts.maxCount) break;
    out.push({ length: it.length, flags: it.flags });
  }
  return out;
}

/** bitmap_to_extents: dirty granules clipped to [offset, offset+length) */
export function* bitmapExtents(
  bitmap: Bitmap | undefined,
  offset: number,
  length: number,
): Generator<NbdExtent> {
  const end = offset + length;
  if (!bitmap || bitmap.dirty.size === 0) {
    yield { length, flags: 0 };
    return;
  }
  const g = bitmap.granularity;
  const first = Math.floor(offset / g);
  const last = Math.floor((end - 1) / g);
  let granules: number[];
  if (last - first + 1 <= bitmap.dirty.size * 4) {
    granules = [];
    for (let i = first; i <= last; i++) if (bitmap.dirty.has(i)) granules.push(i);
  } else {
    granules = [...bitmap.dirty].filter((i) => i >= first && i <= last).sort((a, b) => a - b);
  }
  let pos = offset;
  for (const i of granules) {
    const s = Math.max(offset, i * g);
    const e = Math.min(end, (i + 1) * g);
    if (s > pos) yield { length: s - pos, flags: 0 };
    if (e > s) yield { length: e - s, flags: STATE_DIRTY };
    pos = Math.max(pos, e);
  }
  if (end > pos) yield { length: end - pos, flags: 0 };
}
