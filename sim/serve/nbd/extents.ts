import { STATE_DIRTY, STATE_HOLE, STATE_ZERO } from '../../../contract/nbd.ts';
import type { Bitmap } from '../../block/bitmaps.ts';
import type { ChainExtent } from '../../block/block-status.ts';

export { type ChainExtent, chainStatus } from '../../block/block-status.ts';

/** One NBD block-status descriptor. */
export interface NbdExtent {
  length: number;
  flags: number;
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
