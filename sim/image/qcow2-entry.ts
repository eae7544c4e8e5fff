/**
 * L1/L2 entry bits (qcow2.txt "Cluster mapping"). Entries are read as two 32-bit halves so the
 * hot path needs no BigInt; host offsets stay exact up to 2^53.
 */
const HI_COPIED = 0x80000000; // bit 63: refcount is exactly 1, may be written in place
const HI_COMPRESSED = 0x40000000; // bit 62
const LO_ZERO = 0x1; // bit 0 (v3): reads as zeroes
const HI_OFFSET_MASK = 0x00ffffff; // bits 32-55
const LO_OFFSET_MASK = 0xfffffe00; // bits 9-31

export type ClusterKind = 'unallocated' | 'zero-plain' | 'zero-alloc' | 'normal' | 'compressed';

export interface MappingEntry {
  kind: ClusterKind;
  /** host cluster offset; 0 when none */
  host: number;
  copied: boolean;
}

export const UNALLOCATED: MappingEntry = { kind: 'unallocated', host: 0, copied: false };

export function decodeL2(view: DataView, index: number): MappingEntry {
  const hi = view.getUint32(index * 8);
  const lo = view.getUint32(index * 8 + 4);
  if (hi === 0 && lo === 0) return UNALLOCATED;
  const copied = (hi & HI_COPIED) !== 0;
  if ((hi & HI_COMPRESSED) !== 0) return { kind: 'compressed', host: 0, copied };
  const host = offsetOf(hi, lo);
  if ((lo & LO_ZERO) !== 0) return { kind: host === 0 ? 'zero-plain' : 'zero-alloc', host, copied };
  return { kind: host === 0 ? 'unallocated' : 'normal', host, copied };
}

/** L2 table offset from an L1 entry; 0 means no L2 table. */
export function decodeL1(view: DataView, index: number): number {
  return offsetOf(view.getUint32(index * 8), view.getUint32(index * 8 + 4));
}

/** Writes an entry for a host cluster this image owns alone (COPIED set, as qemu-img check expects). */
export function encodeOwned(view: DataView, index: number, host: number): void {
  view.setUint32(index * 8, (HI_COPIED | Math.floor(host / 2 ** 32)) >>> 0);
  view.setUint32(index * 8 + 4, host >>> 0);
}

export function encodeZeroPlain(view: DataView, index: number): void {
  view.setUint32(index * 8, 0);
  view.setUint32(index * 8 + 4, LO_ZERO);
}

export function encodeUnallocated(view: DataView, index: number): void {
  view.setUint32(index * 8, 0);
  view.setUint32(index * 8 + 4, 0);
}

function offsetOf(hi: number, lo: number): number {
  return (hi & HI_OFFSET_MASK) * 2 ** 32 + ((lo & LO_OFFSET_MASK) >>> 0);
}
