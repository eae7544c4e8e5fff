/**
 * The server's side of the NBD wire (the NBD project's doc/proto.md): QEMU's limits, the handshake and
 * transmission flags, NBD errors, and the names QEMU prints (nbd/common.c). The protocol constants the
 * client shares are in contract/nbd.ts.
 */
import { CMD, OPT } from '../../../contract/nbd.ts';

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
