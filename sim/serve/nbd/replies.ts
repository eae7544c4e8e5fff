/**
 * Replies in the transmission phase (QEMU: nbd_co_send_simple_reply, nbd_co_send_chunk_* and
 * nbd_send_generic_reply): simple replies, and the chunks of structured (compact headers) and extended
 * (8.2+, 64-bit) replies — done, error, data, hole, block status.
 */
import {
  EXTENDED_REPLY_MAGIC,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u64,
} from '../../../contract/nbd.ts';
import type { Conn } from './connection.ts';
import type { NbdExtent } from './extents.ts';
import { MODE_EXTENDED, MODE_STRUCTURED, type Request } from './internal.ts';
import { NBD_ERR, systemErrnoToNbd } from './proto.ts';

function chunkHeader(conn: Conn, req: Request, flags: number, type: number, length: number): Buffer {
  if (conn.mode >= MODE_EXTENDED) {
    const b = Buffer.allocUnsafe(32);
    b.writeUInt32BE(EXTENDED_REPLY_MAGIC, 0);
    b.writeUInt16BE(flags, 4);
    b.writeUInt16BE(type, 6);
    req.cookie.copy(b, 8);
    b.writeBigUInt64BE(req.from, 16);
    b.writeBigUInt64BE(BigInt(length), 24);
    return b;
  }
  const b = Buffer.allocUnsafe(20);
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  req.cookie.copy(b, 8);
  b.writeUInt32BE(length, 16);
  return b;
}

export function simpleReply(conn: Conn, req: Request, errno: number, data?: Uint8Array): Promise<void> {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(systemErrnoToNbd(errno), 4);
  req.cookie.copy(b, 8);
  return data && data.length > 0 ? conn.send(b, data) : conn.send(b);
}

export function chunkDone(conn: Conn, req: Request): Promise<void> {
  return conn.send(chunkHeader(conn, req, REPLY_FLAG_DONE, REPLY_TYPE.NONE, 0));
}

export function chunkError(conn: Conn, req: Request, errno: number, msg: string): Promise<void> {
  const m = Buffer.from(msg, 'utf8');
  const body = Buffer.allocUnsafe(6);
  body.writeUInt32BE(systemErrnoToNbd(errno) || NBD_ERR.EINVAL, 0);
  body.writeUInt16BE(m.length, 4);
  return conn.send(chunkHeader(conn, req, REPLY_FLAG_DONE, REPLY_TYPE.ERROR, 6 + m.length), body, m);
}

export function chunkData(
  conn: Conn,
  req: Request,
  offset: number,
  data: Uint8Array,
  final: boolean,
): Promise<void> {
  return conn.send(
    chunkHeader(conn, req, final ? REPLY_FLAG_DONE : 0, REPLY_TYPE.OFFSET_DATA, 8 + data.length),
    u64(offset),
    data,
  );
}

export function chunkHole(
  conn: Conn,
  req: Request,
  offset: number,
  length: number,
  final: boolean,
): Promise<void> {
  const body = Buffer.allocUnsafe(12);
  body.writeBigUInt64BE(BigInt(offset), 0);
  body.writeUInt32BE(length, 8);
  return conn.send(chunkHeader(conn, req, final ? REPLY_FLAG_DONE : 0, REPLY_TYPE.OFFSET_HOLE, 12), body);
}

/** nbd_send_generic_reply: ret < 0 is -errno */
export function genericReply(conn: Conn, req: Request, ret: number, msg: string): Promise<void> {
  if (conn.mode >= MODE_STRUCTURED && ret < 0) return chunkError(conn, req, -ret, msg);
  if (conn.mode >= MODE_EXTENDED) return chunkDone(conn, req);
  return simpleReply(conn, req, ret < 0 ? -ret : 0);
}

export function sendExtents(
  conn: Conn,
  req: Request,
  id: number,
  list: NbdExtent[],
  last: boolean,
): Promise<void> {
  const flags = last ? REPLY_FLAG_DONE : 0;
  if (conn.mode >= MODE_EXTENDED) {
    const body = Buffer.allocUnsafe(8 + 16 * list.length);
    body.writeUInt32BE(id, 0);
    body.writeUInt32BE(list.length, 4);
    list.forEach((e, i) => {
      body.writeBigUInt64BE(BigInt(e.length), 8 + 16 * i);
      body.writeBigUInt64BE(BigInt(e.flags), 16 + 16 * i);
    });
    return conn.send(chunkHeader(conn, req, flags, REPLY_TYPE.BLOCK_STATUS_EXT, body.length), body);
  }
  const body = Buffer.allocUnsafe(4 + 8 * list.length);
  body.writeUInt32BE(id, 0);
  list.forEach((e, i) => {
    body.writeUInt32BE(e.length, 4 + 8 * i);
    body.writeUInt32BE(e.flags, 8 + 8 * i);
  });
  return conn.send(chunkHeader(conn, req, flags, REPLY_TYPE.BLOCK_STATUS, body.length), body);
}
