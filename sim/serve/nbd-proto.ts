/**
 * NBD wire constants (the NBD project's doc/proto.md) and the names QEMU prints for them (nbd/common.c).
 * Big-endian everywhere; the 64-bit magics are above 2^53, so they are written and compared as bytes.
 */

export const NBDMAGIC = Buffer.from('NBDMAGIC', 'latin1');
/** 'IHAVEOPT' = 0x49484156454F5054 */
export const IHAVEOPT = Buffer.from('IHAVEOPT', 'latin1');
/** option reply magic 0x0003e889045565a9 */
export const REP_MAGIC = Buffer.from([0x00, 0x03, 0xe8, 0x89, 0x04, 0x55, 0x65, 0xa9]);

export const REQUEST_MAGIC = 0x25609513;
export const EXTENDED_REQUEST_MAGIC = 0x21e41c71;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const EXTENDED_REPLY_MAGIC = 0x6e8a278c;

export const REQUEST_SIZE = 28;
export const EXTENDED_REQUEST_SIZE = 32;

/** NBD_MAX_BUFFER_SIZE: QEMU's cap on option payloads and on READ/WRITE/CACHE lengths */
export const MAX_BUFFER_SIZE = 32 * 1024 * 1024;
export const MAX_STRING_SIZE = 4096;
/** 1 MiB of 8-byte extents */
export const MAX_BLOCK_STATUS_EXTENTS = (1024 * 1024) / 8;

// handshake flags
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

// transmission flags
export const FLAG_HAS_FLAGS = 1 << 0;
export const FLAG_READ_ONLY = 1 << 1;
export const FLAG_SEND_FLUSH = 1 << 2;
export const FLAG_SEND_FUA = 1 << 3;
export const FLAG_ROTATIONAL = 1 << 4;
export const FLAG_SEND_TRIM = 1 << 5;
export const FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const FLAG_SEND_DF = 1 << 7;
export const FLAG_CAN_MULTI_CONN = 1 << 8;
export const FLAG_SEND_RESIZE = 1 << 9;
export const FLAG_SEND_CACHE = 1 << 10;
export const FLAG_SEND_FAST_ZERO = 1 << 11;
export const FLAG_BLOCK_STAT_PAYLOAD = 1 << 12;

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

const REP_ERR = 0x80000000;
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

/** base:allocation */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
/** qemu:dirty-bitmap:NAME */
export const STATE_DIRTY = 1;

/** NBD error values (not host errnos, though they agree on Linux) */
export const NBD_ERR = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** Linux errnos the block layer can raise (sim/io-error.ts) */
const E = { EPERM: 1, EIO: 5, ENOMEM: 12, EACCES: 13, EFBIG: 27, ENOSPC: 28, EROFS: 30, EINVAL: 22 };
const EDQUOT = 122;
const EOVERFLOW = 75;
const ENOTSUP = 95;
const ESHUTDOWN = 108;

/** nbd/server.c system_errno_to_nbd_errno: anything unlisted (EACCES included) becomes EINVAL */
export function systemErrnoToNbd(errno: number): number {
  switch (errno) {
    case 0:
      return 0;
    case E.EPERM:
    case E.EROFS:
      return NBD_ERR.EPERM;
    case E.EIO:
      return NBD_ERR.EIO;
    case E.ENOMEM:
      return NBD_ERR.ENOMEM;
    case EDQUOT:
    case E.EFBIG:
    case E.ENOSPC:
      return NBD_ERR.ENOSPC;
    case EOVERFLOW:
      return NBD_ERR.EOVERFLOW;
    case ENOTSUP:
      return NBD_ERR.ENOTSUP;
    case ESHUTDOWN:
      return NBD_ERR.ESHUTDOWN;
    default:
      return NBD_ERR.EINVAL;
  }
}

/** nbd_opt_lookup; `extended`: QEMU 8.2+ knows NBD_OPT_EXTENDED_HEADERS by name */
export function optName(opt: number, extended: boolean): string {
  switch (opt) {
    case OPT.EXPORT_NAME:
      return 'export name';
    case OPT.ABORT:
      return 'abort';
    case OPT.LIST:
      return 'list';
    case OPT.STARTTLS:
      return 'starttls';
    case OPT.INFO:
      return 'info';
    case OPT.GO:
      return 'go';
    case OPT.STRUCTURED_REPLY:
      return 'structured reply';
    case OPT.LIST_META_CONTEXT:
      return 'list meta context';
    case OPT.SET_META_CONTEXT:
      return 'set meta context';
    case OPT.EXTENDED_HEADERS:
      return extended ? 'extended headers' : '<unknown>';
    default:
      return '<unknown>';
  }
}

/** nbd_cmd_lookup */
export function cmdName(cmd: number): string {
  switch (cmd) {
    case CMD.READ:
      return 'read';
    case CMD.WRITE:
      return 'write';
    case CMD.DISC:
      return 'disconnect';
    case CMD.FLUSH:
      return 'flush';
    case CMD.TRIM:
      return 'trim';
    case CMD.CACHE:
      return 'cache';
    case CMD.WRITE_ZEROES:
      return 'write zeroes';
    case CMD.BLOCK_STATUS:
      return 'block status';
    default:
      return '<unknown>';
  }
}
