/**
 * The transmission phase's reading side (QEMU: nbd_co_receive_request and its checks): request headers
 * (compact or extended), their payloads, and the sanity checks in QEMU's order; each request is then
 * served (commands.ts) before the next is read, so replies go out in request order.
 */
import { CMD, CMD_FLAG, EXTENDED_REQUEST_MAGIC, REQUEST_MAGIC } from '../../../contract/nbd.ts';
import { handle } from './commands.ts';
import type { Conn } from './connection.ts';
import {
  bitmapNames,
  Drop,
  EINVAL,
  EIO,
  ENOSPC,
  EROFS,
  emptyMeta,
  hex,
  META_ID_ALLOCATION_DEPTH,
  META_ID_BASE_ALLOCATION,
  META_ID_DIRTY_BITMAP,
  type Meta,
  MODE_EXTENDED,
  MODE_STRUCTURED,
  type Request,
  RequestError,
  sizeOf,
} from './internal.ts';
import { cmdName, EXTENDED_REQUEST_SIZE, MAX_BUFFER_SIZE, REQUEST_SIZE } from './proto.ts';
import { EofError } from './reader.ts';
import { genericReply } from './replies.ts';

export async function transmission(conn: Conn): Promise<void> {
  for (;;) {
    if (conn.closed) return;
    const size = conn.mode >= MODE_EXTENDED ? EXTENDED_REQUEST_SIZE : REQUEST_SIZE;
    let h: Buffer;
    try {
      h = conn.reader.tryRead(size) ?? (await conn.read(size));
    } catch (e) {
      if (e instanceof EofError && !e.partial) {
        // before 6.0 nbd_receive_request read the header with nbd_read, not nbd_read_eof: a client
        // that closes without NBD_CMD_DISC is reported
        if (conn.srv.reportsEofAtRequest)
          conn.srv.log(
            'Disconnect client, due to: Failed to read request: Unexpected end-of-file before all bytes were read',
          );
        return;
      }
      throw e;
    }
    if (conn.closed) return;
    const magic = h.readUInt32BE(0);
    const req: Request = {
      flags: h.readUInt16BE(4),
      type: h.readUInt16BE(6),
      cookie: Buffer.from(h.subarray(8, 16)),
      from: h.readBigUInt64BE(16),
      len: conn.mode >= MODE_EXTENDED ? h.readBigUInt64BE(24) : BigInt(h.readUInt32BE(24)),
    };
    const expect = conn.mode >= MODE_EXTENDED ? EXTENDED_REQUEST_MAGIC : REQUEST_MAGIC;
    let complete = true;
    let data: Uint8Array | undefined;
    let error: RequestError | undefined;
    if (magic !== expect) {
      // QEMU answers the garbage with EINVAL, then hangs up (the request never completed)
      complete = false;
      error = new RequestError(
        EINVAL,
        conn.srv.modern
          ? `invalid magic (got 0x${hex(magic)}, expected 0x${hex(expect)})`
          : `invalid magic (got 0x${hex(magic)})`,
      );
    } else {
      if (req.type === CMD.DISC) return;
      const r = await receive(conn, req);
      complete = r.complete;
      data = r.data;
      error = r.error;
    }
    if (conn.closed) return;
    if (error) {
      await genericReply(conn, req, -EINVAL, error.message);
    } else {
      const ok = await handle(conn, req, data);
      if (!ok) throw new Drop('Disconnect client, due to: Failed to send reply: reading from file failed');
    }
    if (!complete) throw new Drop('Disconnect client, due to: Request handling failed in intermediate state');
  }
}

/** nbd_co_receive_request: payload, then the sanity checks, in QEMU's order */
async function receive(
  conn: Conn,
  req: Request,
): Promise<{ complete: boolean; data?: Uint8Array; error?: RequestError }> {
  const exp = conn.exp!;
  const size = BigInt(sizeOf(exp));
  const max = BigInt(MAX_BUFFER_SIZE);
  let valid = CMD_FLAG.FUA;
  let checkRofs = false;
  let checkLength = false;
  let payloadOkay = false;
  let payloadLen = 0n;
  const ext = conn.mode >= MODE_EXTENDED;
  const extWithPayload = ext && (req.flags & CMD_FLAG.PAYLOAD_LEN) !== 0;
  const lenMsg = (len: bigint) =>
    conn.srv.modern
      ? `len (${len}) is larger than max len (${MAX_BUFFER_SIZE})`
      : `len (${len} ) is larger than max len (${MAX_BUFFER_SIZE})`;
  if (extWithPayload) {
    payloadLen = req.len;
    checkLength = true;
  }
  switch (req.type) {
    case CMD.READ:
      if (conn.mode >= MODE_STRUCTURED) valid |= CMD_FLAG.DF;
      checkLength = true;
      break;
    case CMD.WRITE:
      if (ext) valid |= CMD_FLAG.PAYLOAD_LEN;
      payloadOkay = true;
      payloadLen = req.len;
      checkLength = true;
      checkRofs = true;
      break;
    case CMD.FLUSH:
      break;
    case CMD.TRIM:
      checkRofs = true;
      break;
    case CMD.CACHE:
      checkLength = true;
      break;
    case CMD.WRITE_ZEROES:
      valid |= CMD_FLAG.NO_HOLE | CMD_FLAG.FAST_ZERO;
      checkRofs = true;
      break;
    case CMD.BLOCK_STATUS:
      if (extWithPayload) {
        const r = await blockStatusPayload(conn, req);
        if (r) return { complete: false, error: r };
        checkLength = false;
        payloadLen = 0n;
        valid |= CMD_FLAG.PAYLOAD_LEN;
      } else {
        req.contexts = conn.meta;
      }
      valid |= CMD_FLAG.REQ_ONE;
      break;
  }
  let complete = payloadLen === 0n;
  if (checkLength && req.len > max) return { complete, error: new RequestError(EINVAL, lenMsg(req.len)) };
  if (payloadLen && !payloadOkay) req.len = 0n;
  let data: Uint8Array | undefined;
  if (payloadLen) {
    if (payloadOkay) data = await conn.read(Number(payloadLen));
    else await conn.reader.skip(Number(payloadLen));
    complete = true;
  }
  if (exp.shuttingDown || !conn.exp) return { complete, error: new RequestError(EIO, 'export is gone') };
  if (!exp.writable && checkRofs) return { complete, error: new RequestError(EROFS, 'Export is read-only') };
  if (req.from > size || req.len > size - req.from) {
    const errno = req.type === CMD.WRITE || req.type === CMD.WRITE_ZEROES ? ENOSPC : EINVAL;
    return {
      complete,
      error: new RequestError(errno, `operation past EOF; From: ${req.from}, Len: ${req.len}, Size: ${size}`),
    };
  }
  if (req.flags & ~valid)
    return {
      complete,
      error: new RequestError(
        EINVAL,
        `unsupported flags for command ${cmdName(req.type)} (got 0x${req.flags.toString(16)})`,
      ),
    };
  return { complete, data };
}

/** nbd_co_block_status_payload_read (8.2+): an effect length and the context ids wanted */
async function blockStatusPayload(conn: Conn, req: Request): Promise<RequestError | undefined> {
  const payloadLen = req.len;
  if (payloadLen > BigInt(MAX_BUFFER_SIZE))
    return new RequestError(EINVAL, `len (${payloadLen}) is larger than max len (${MAX_BUFFER_SIZE})`);
  const names = conn.exp ? bitmapNames(conn.exp) : [];
  const contexts: Meta = { ...emptyMeta(), exp: conn.exp, bitmaps: names.map(() => false) };
  req.contexts = contexts;
  const n = Number(payloadLen);
  if (n % 4 !== 0 || n < 8 || n > 8 + 4 * conn.meta.count) {
    req.len = 0n;
    await conn.reader.skip(n);
    return undefined;
  }
  const buf = await conn.read(n);
  const count = (n - 8) / 4;
  for (let i = 0; i < count; i++) {
    const id = buf.readUInt32BE(8 + 4 * i);
    let bad = false;
    if (id === META_ID_BASE_ALLOCATION) {
      bad = !conn.meta.base || contexts.base;
      contexts.base = true;
    } else if (id === META_ID_ALLOCATION_DEPTH) {
      bad = !conn.meta.depth || contexts.depth;
      contexts.depth = true;
    } else {
      const idx = id - META_ID_DIRTY_BITMAP;
      bad = idx >= names.length || !conn.meta.bitmaps[idx] || contexts.bitmaps[idx] === true;
      if (!bad) contexts.bitmaps[idx] = true;
    }
    if (bad) {
      req.len = 0n;
      contexts.count = 0;
      return undefined;
    }
  }
  req.len = buf.readBigUInt64BE(0);
  contexts.count = count;
  return undefined;
}
