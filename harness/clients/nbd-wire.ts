/**
 * NBD names and flags for the client (doc/proto.md of the NBD project), kept apart from the simulator's
 * server so that the two implementations check each other; the protocol constants both share are in
 * contract/nbd.ts. Big-endian; 64-bit magics as bytes.
 */
import { u32 } from '../../contract/nbd.ts';

export const OLDSTYLE_MAGIC = Buffer.from([0x00, 0x00, 0x42, 0x02, 0x81, 0x86, 0x12, 0x53]);

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

const CMD_NAMES = ['read', 'write', 'disconnect', 'flush', 'trim', 'cache', 'write-zeroes', 'block-status'];

export function cmdName(cmd: number): string {
  return CMD_NAMES[cmd] ?? `command ${cmd}`;
}

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

/** A length-prefixed string as options carry them. */
export function lstring(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
}
