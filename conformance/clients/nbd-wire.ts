/**
 * NBD wire constants for the client (doc/proto.md of the NBD project), kept apart from the simulator's
 * server so that the two implementations check each other. Big-endian; 64-bit magics as bytes.
 */

export const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
export const OLDSTYLE_MAGIC = Buffer.from([0x00, 0x00, 0x42, 0x02, 0x81, 0x86, 0x12, 0x53]);
export const REP_MAGIC = Buffer.from([0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9]);

export const REQUEST_MAGIC = 0x25609513;
export const EXTENDED_REQUEST_MAGIC = 0x21e41c71;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const EXTENDED_REPLY_MAGIC = 0x6e8a278c;

export const HS_FLAG_FIXED_NEWSTYLE = 1;
export const HS_FLAG_NO_ZEROES = 2;

export const TX_FLAGS = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
  BLOCK_STAT_PAYLOAD: 1 << 12,
} as const;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
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
} as const;
export const REP_ERR_BIT = 0x80000000;

const REP_ERR_NAMES: Record<number, string> = {
  1: 'NBD_REP_ERR_UNSUP',
  2: 'NBD_REP_ERR_POLICY',
  3: 'NBD_REP_ERR_INVALID',
  4: 'NBD_REP_ERR_PLATFORM',
  5: 'NBD_REP_ERR_TLS_REQD',
  6: 'NBD_REP_ERR_UNKNOWN',
  7: 'NBD_REP_ERR_SHUTDOWN',
  8: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  9: 'NBD_REP_ERR_TOO_BIG',
  10: 'NBD_REP_ERR_EXT_HEADER_REQD',
};

export function repName(type: number): string {
  if (type >>> 0 >= REP_ERR_BIT)
    return REP_ERR_NAMES[(type >>> 0) - REP_ERR_BIT] ?? `NBD_REP_ERR_${type & 0x7fffffff}`;
  return (
    { 1: 'NBD_REP_ACK', 2: 'NBD_REP_SERVER', 3: 'NBD_REP_INFO', 4: 'NBD_REP_META_CONTEXT' }[type] ??
    `NBD_REP_${type}`
  );
}

const OPT_NAMES: Record<number, string> = {
  1: 'NBD_OPT_EXPORT_NAME',
  2: 'NBD_OPT_ABORT',
  3: 'NBD_OPT_LIST',
  4: 'NBD_OPT_PEEK_EXPORT',
  5: 'NBD_OPT_STARTTLS',
  6: 'NBD_OPT_INFO',
  7: 'NBD_OPT_GO',
  8: 'NBD_OPT_STRUCTURED_REPLY',
  9: 'NBD_OPT_LIST_META_CONTEXT',
  10: 'NBD_OPT_SET_META_CONTEXT',
  11: 'NBD_OPT_EXTENDED_HEADERS',
};

export function optName(opt: number): string {
  return OPT_NAMES[opt] ?? `NBD_OPT_${opt}`;
}

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

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

const CMD_NAMES = ['read', 'write', 'disconnect', 'flush', 'trim', 'cache', 'write-zeroes', 'block-status'];

export function cmdName(cmd: number): string {
  return CMD_NAMES[cmd] ?? `command ${cmd}`;
}

export const CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
  PAYLOAD_LEN: 1 << 5,
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

export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
export const STATE_DIRTY = 1;

const NBD_ERRORS: Record<number, string> = {
  0: 'OK',
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};

export function nbdErrorName(code: number): string {
  return NBD_ERRORS[code] ?? `error ${code}`;
}

export function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export function u64(v: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

/** A length-prefixed string as options carry them. */
export function lstring(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
}
