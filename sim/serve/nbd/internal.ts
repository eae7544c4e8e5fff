/**
 * What the parts of the NBD server share about one client (QEMU: NBDClient's fields and
 * nbd/nbd-internal.h): the reply mode negotiated, the meta contexts, a request as read off the wire, the
 * two ways handling one ends early, and the export's length as the client sees it.
 */
import type { BlockNode } from '../../block/graph.ts';
import type { BlockExport } from '../../block/nbd-state.ts';
import { IoError } from '../../util/io-error.ts';

// client modes (NBDMode)
export const MODE_EXPORT_NAME = 0;
export const MODE_SIMPLE = 1;
export const MODE_STRUCTURED = 2;
export const MODE_EXTENDED = 3;

export const META_ID_BASE_ALLOCATION = 0;
export const META_ID_ALLOCATION_DEPTH = 1;
export const META_ID_DIRTY_BITMAP = 2;

export const EINVAL = 22;
export const EIO = 5;
export const EROFS = 30;
export const ENOSPC = 28;

export interface Meta {
  exp: BlockExport | undefined;
  count: number;
  base: boolean;
  depth: boolean;
  bitmaps: boolean[];
}

export function emptyMeta(): Meta {
  return { exp: undefined, count: 0, base: false, depth: false, bitmaps: [] };
}

export interface Request {
  flags: number;
  type: number;
  cookie: Buffer;
  from: bigint;
  len: bigint;
  /** block status with a payload naming a subset of the negotiated contexts */
  contexts?: Meta;
}

/** A request that must be answered with an error (nbd_co_receive_request's errp). */
export class RequestError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** The connection must end now (QEMU's -EIO / negotiation failure); `report`: print it like QEMU. */
export class Drop extends Error {
  constructor(
    message: string,
    readonly report = true,
  ) {
    super(message);
  }
}

export function errnoOf(e: unknown): number {
  return e instanceof IoError ? e.errno : EIO;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** what QEMU's block layer reports as the export's length: whole 512-byte sectors, rounded up */
function exportSize(bs: BlockNode): number {
  return Math.ceil(bs.size / 512) * 512;
}

export function sizeOf(exp: BlockExport): number {
  const bs = exp.blk.bs;
  return bs ? exportSize(bs) : 0;
}

export function bitmapNames(exp: BlockExport): string[] {
  return exp.bitmaps.map((b) => b.name);
}

export function hex(n: number): string {
  return (n >>> 0).toString(16);
}
