import type { Extent } from '../image/types.ts';
import type { BlockNode } from './graph.ts';

/** Byte-level access to a node through its driver, plus allocation status down a backing chain. */
export function readNode(node: BlockNode, offset: number, length: number): Uint8Array {
  return node.read(offset, length);
}

export function writeNode(node: BlockNode, offset: number, data: Uint8Array): void {
  node.write(offset, data);
}

export function zeroes(length: number): Uint8Array {
  return new Uint8Array(length);
}

/** Merge adjacent extents of one status. */
export function mergeExtents(list: Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of list) {
    if (e.length <= 0) continue;
    const last = out[out.length - 1];
    if (last && last.status === e.status && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** Split [offset, offset+length) into pieces aligned to `granularity`. */
export function* clusters(offset: number, length: number, granularity: number): Generator<number> {
  const first = Math.floor(offset / granularity);
  const last = Math.floor((offset + length - 1) / granularity);
  for (let c = first; c <= last && length > 0; c++) yield c;
}

/**
 * Concatenate byte arrays. Every read returns a buffer of its own (no view of a store's pages), so one
 * part that is the whole answer is the answer, without a copy.
 */
export function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === total) return parts[0];
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
