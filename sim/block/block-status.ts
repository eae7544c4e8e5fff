import type { BlockNode } from './graph.ts';

// Block status down a node's chain: the block layer's own question — block-copy and mirror deciding what to
// copy, readers (the NBD server, export reads) deciding what to read — so it lives here, not in sim/serve.

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
