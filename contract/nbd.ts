/**
 * NBD protocol constants (doc/proto.md of the NBD project), shared by the simulator's server and our client,
 * and the pure encoders and decoders of the option phase that the server, the client and the test servers
 * would otherwise each write. Magics above 2^53 are kept as bytes.
 */
const REP_ERR = 0x80000000;

export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
  PAYLOAD_LEN: 1 << 5,
} as const;

export const EXTENDED_REPLY_MAGIC = 0x6e8a278c;

export const EXTENDED_REQUEST_MAGIC = 0x21e41c71;

/** 'IHAVEOPT' = 0x49484156454F5054 */
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: REP_ERR + 1,
  ERR_POLICY: REP_ERR + 2,
  ERR_INVALID: REP_ERR + 3,
  ERR_PLATFORM: REP_ERR + 4,
  ERR_TLS_REQD: REP_ERR + 5,
  ERR_UNKNOWN: REP_ERR + 6,
  ERR_SHUTDOWN: REP_ERR + 7,
  ERR_BLOCK_SIZE_REQD: REP_ERR + 8,
  ERR_TOO_BIG: REP_ERR + 9,
  ERR_EXT_HEADER_REQD: REP_ERR + 10,
} as const;

export const REPLY_FLAG_DONE = 1;

export const REPLY_TYPE = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  BLOCK_STATUS_EXT: 6,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const;

/** option reply magic 0x0003e889045565a9 */
export const REP_MAGIC = Buffer.from([0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9]);

export const REQUEST_MAGIC = 0x25609513;

export const SIMPLE_REPLY_MAGIC = 0x67446698;

/** qemu:dirty-bitmap:NAME */
export const STATE_DIRTY = 1;

/** base:allocation */
export const STATE_HOLE = 1;

export const STATE_ZERO = 2;

export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** A 16-bit big-endian field. */
export function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v);
  return b;
}

/** A 32-bit big-endian field. */
export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** A 64-bit big-endian field. */
export function u64(v: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

/** An option as the client sends it: IHAVEOPT, the option, the payload's length, the payload. */
export function optionRequest(option: number, payload: Uint8Array): Buffer {
  return Buffer.concat([IHAVEOPT, u32(option), u32(payload.length), payload]);
}

/** The 16-byte head of an option; `magic`: whether it starts with IHAVEOPT (the caller decides what a bad one means). */
export function parseOptionHeader(h: Buffer): { magic: boolean; option: number; length: number } {
  return { magic: h.subarray(0, 8).equals(IHAVEOPT), option: h.readUInt32BE(8), length: h.readUInt32BE(12) };
}

/** The 20-byte head of an option reply: REP_MAGIC, the option it answers, the reply type, the payload's length. */
export function optionReplyHeader(option: number, type: number, length: number): Buffer {
  return Buffer.concat([REP_MAGIC, u32(option), u32(type), u32(length)]);
}

/** A whole option reply: its head, then `data`. */
export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([optionReplyHeader(option, type, data.length), data]);
}

/** The fields of an option reply's 20-byte head; `magic`: whether it starts with REP_MAGIC. */
export function parseOptionReplyHeader(h: Buffer): {
  magic: boolean;
  option: number;
  type: number;
  length: number;
} {
  return {
    magic: h.subarray(0, 8).equals(REP_MAGIC),
    option: h.readUInt32BE(8),
    type: h.readUInt32BE(12),
    length: h.readUInt32BE(16),
  };
}
