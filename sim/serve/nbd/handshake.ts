/**
 * The option phase (QEMU: nbd_negotiate and its nbd_negotiate_handle_* / nbd_opt_* helpers in
 * nbd/server.c): the greeting, then options until one moves the client to transmission — LIST, ABORT,
 * EXPORT_NAME, INFO/GO, STARTTLS (refused), STRUCTURED_REPLY, EXTENDED_HEADERS (8.2+),
 * LIST/SET_META_CONTEXT — each answered with QEMU's replies and error texts.
 */
import {
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  optionReplyHeader,
  parseOptionHeader,
  REP,
  u16,
  u32,
  u64,
} from '../../../contract/nbd.ts';
import type { BlockExport } from '../../block/nbd-state.ts';
import type { Conn } from './connection.ts';
import {
  bitmapNames,
  Drop,
  emptyMeta,
  META_ID_ALLOCATION_DEPTH,
  META_ID_BASE_ALLOCATION,
  META_ID_DIRTY_BITMAP,
  type Meta,
  MODE_EXTENDED,
  MODE_SIMPLE,
  MODE_STRUCTURED,
  sizeOf,
} from './internal.ts';
import {
  FLAG_BLOCK_STAT_PAYLOAD,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_CAN_MULTI_CONN,
  FLAG_FIXED_NEWSTYLE,
  FLAG_HAS_FLAGS,
  FLAG_NO_ZEROES,
  FLAG_READ_ONLY,
  FLAG_SEND_CACHE,
  FLAG_SEND_DF,
  FLAG_SEND_FAST_ZERO,
  FLAG_SEND_FLUSH,
  FLAG_SEND_FUA,
  FLAG_SEND_TRIM,
  FLAG_SEND_WRITE_ZEROES,
  MAX_BUFFER_SIZE,
  MAX_STRING_SIZE,
  optName,
} from './proto.ts';
import { EofError } from './reader.ts';

/** nbd_sanitize_name */
function sanitize(name: string): string {
  return name.length < 80 ? name : `${name.slice(0, 80)}...`;
}

function sendRep(conn: Conn, type: number, ...payload: Uint8Array[]): Promise<void> {
  const len = payload.reduce((a, p) => a + p.length, 0);
  return conn.send(optionReplyHeader(conn.opt, type, len), ...payload);
}

function sendRepErr(conn: Conn, type: number, msg: string): Promise<void> {
  return sendRep(conn, type, Buffer.from(msg, 'utf8'));
}

/** nbd_opt_drop: discard the rest of the option, then reply with an error */
async function optDrop(conn: Conn, type: number, msg: string): Promise<void> {
  await conn.reader.skip(conn.optlen);
  conn.optlen = 0;
  await sendRepErr(conn, type, msg);
}

function optInvalid(conn: Conn, msg: string): Promise<void> {
  return optDrop(conn, REP.ERR_INVALID, msg);
}

function optLabel(conn: Conn): string {
  return optName(conn.opt, conn.srv.modern);
}

/** nbd_opt_read: undefined when the option was answered with an error instead */
async function optRead(conn: Conn, size: number, checkNul: boolean): Promise<Buffer | undefined> {
  if (size > conn.optlen) {
    await optInvalid(conn, `Inconsistent lengths in option ${optLabel(conn)}`);
    return undefined;
  }
  conn.optlen -= size;
  const b = await conn.read(size);
  if (checkNul && b.includes(0)) {
    await optInvalid(conn, `Unexpected embedded NUL in option ${optLabel(conn)}`);
    return undefined;
  }
  return b;
}

async function optSkip(conn: Conn, size: number): Promise<boolean> {
  if (size > conn.optlen) {
    await optInvalid(conn, `Inconsistent lengths in option ${optLabel(conn)}`);
    return false;
  }
  conn.optlen -= size;
  await conn.reader.skip(size);
  return true;
}

async function optReadName(conn: Conn): Promise<string | undefined> {
  const l = await optRead(conn, 4, false);
  if (!l) return undefined;
  const len = l.readUInt32BE(0);
  if (len > MAX_STRING_SIZE) {
    await optInvalid(conn, `Invalid name length: ${len}`);
    return undefined;
  }
  const b = await optRead(conn, len, true);
  return b?.toString('utf8');
}

async function rejectLength(conn: Conn): Promise<void> {
  await optInvalid(conn, `option '${optLabel(conn)}' has unexpected length`);
}

/** true: move to transmission; false: the client aborted */
export async function negotiate(conn: Conn): Promise<boolean> {
  await conn.send(NBDMAGIC, IHAVEOPT, u16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
  let flags: number;
  try {
    flags = (await conn.read(4)).readUInt32BE(0);
  } catch (e) {
    // a port probe that never speaks is not worth a message
    if (e instanceof EofError && !e.partial) return false;
    throw e;
  }
  let fixed = false;
  let noZeroes = false;
  if (flags & FLAG_C_FIXED_NEWSTYLE) {
    fixed = true;
    flags &= ~FLAG_C_FIXED_NEWSTYLE;
    conn.mode = MODE_SIMPLE;
  }
  if (flags & FLAG_C_NO_ZEROES) {
    noZeroes = true;
    flags &= ~FLAG_C_NO_ZEROES;
  }
  if (flags !== 0)
    throw new Drop(
      `option negotiation failed: Unknown client flags 0x${(flags >>> 0).toString(16)} received`,
    );

  for (;;) {
    if (conn.closed) return false;
    const { magic, option, length } = parseOptionHeader(await conn.read(16));
    if (!magic) throw new Drop('option negotiation failed: Bad magic received');
    conn.opt = option;
    conn.optlen = length;
    if (length > MAX_BUFFER_SIZE)
      throw new Drop(
        `option negotiation failed: len (${length}) is larger than max len (${MAX_BUFFER_SIZE})`,
      );
    if (!fixed) {
      if (option === OPT.EXPORT_NAME) return handleExportName(conn, noZeroes);
      throw new Drop(`option negotiation failed: Unsupported option ${option} (${optLabel(conn)})`);
    }
    switch (option) {
      case OPT.LIST:
        if (length) await rejectLength(conn);
        else await handleList(conn);
        break;
      case OPT.ABORT:
        // the client may hang up before reading the ack
        await sendRep(conn, REP.ACK);
        await conn.drained();
        return false;
      case OPT.EXPORT_NAME:
        return handleExportName(conn, noZeroes);
      case OPT.INFO:
      case OPT.GO:
        if (await handleInfo(conn)) return true;
        break;
      case OPT.STARTTLS:
        if (length) await rejectLength(conn);
        else await sendRepErr(conn, REP.ERR_POLICY, 'TLS not configured');
        break;
      case OPT.STRUCTURED_REPLY:
        if (length) await rejectLength(conn);
        else if (conn.mode >= MODE_EXTENDED)
          await sendRepErr(conn, REP.ERR_EXT_HEADER_REQD, 'extended headers already negotiated');
        else if (conn.mode >= MODE_STRUCTURED)
          await sendRepErr(conn, REP.ERR_INVALID, 'structured reply already negotiated');
        else {
          await sendRep(conn, REP.ACK);
          conn.mode = MODE_STRUCTURED;
        }
        break;
      case OPT.LIST_META_CONTEXT:
      case OPT.SET_META_CONTEXT:
        await handleMetaQueries(conn);
        break;
      case OPT.EXTENDED_HEADERS:
        if (!conn.srv.extendedHeaders) {
          await optDrop(conn, REP.ERR_UNSUP, `Unsupported option ${option} (${optLabel(conn)})`);
        } else if (length) await rejectLength(conn);
        else if (conn.mode >= MODE_EXTENDED)
          await sendRepErr(conn, REP.ERR_INVALID, 'extended headers already negotiated');
        else {
          await sendRep(conn, REP.ACK);
          conn.mode = MODE_EXTENDED;
        }
        break;
      default:
        await optDrop(conn, REP.ERR_UNSUP, `Unsupported option ${option} (${optLabel(conn)})`);
    }
  }
}

async function handleList(conn: Conn): Promise<void> {
  for (const e of conn.srv.core.exports.values()) {
    if (e.shuttingDown) continue;
    const name = Buffer.from(e.name, 'utf8');
    const desc = Buffer.from(e.description ?? '', 'utf8');
    await sendRep(conn, REP.SERVER, u32(name.length), name, desc);
  }
  await sendRep(conn, REP.ACK);
}

function exportFlags(conn: Conn, exp: BlockExport): number {
  let f = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE;
  // before 7.1 (nbd_export_create): a read-only export is shared, and only a shared one can multi-conn
  if (conn.srv.multiConn ? conn.srv.maxConnections !== 1 : !exp.writable) f |= FLAG_CAN_MULTI_CONN;
  if (exp.writable) f |= FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FAST_ZERO;
  else f |= FLAG_READ_ONLY;
  if (conn.mode >= MODE_STRUCTURED) f |= FLAG_SEND_DF;
  return f;
}

/** nbd_check_meta_export: contexts negotiated for another export do not carry over */
function checkMetaExport(conn: Conn, exp: BlockExport): void {
  if (exp !== conn.meta.exp) conn.meta.count = 0;
}

function attach(conn: Conn, exp: BlockExport): void {
  conn.exp = exp;
  exp.clients++;
  conn.counted = true;
}

async function handleExportName(conn: Conn, noZeroes: boolean): Promise<boolean> {
  if (conn.mode >= MODE_EXTENDED)
    throw new Drop('option negotiation failed: Extended headers already negotiated');
  if (conn.optlen > MAX_STRING_SIZE) throw new Drop('option negotiation failed: Bad length received');
  const name = (await conn.read(conn.optlen)).toString('utf8');
  conn.optlen = 0;
  const exp = conn.srv.findExport(name);
  if (!exp) throw new Drop('option negotiation failed: export not found');
  if (conn.srv.modern) checkMetaExport(conn, exp);
  let flags = exportFlags(conn, exp);
  if (conn.mode >= MODE_EXTENDED && conn.meta.count) flags |= FLAG_BLOCK_STAT_PAYLOAD;
  const reply = [u64(sizeOf(exp)), u16(flags)];
  if (!noZeroes) reply.push(Buffer.alloc(124));
  await conn.send(...reply);
  attach(conn, exp);
  if (!conn.srv.modern) checkMetaExport(conn, exp);
  return true;
}

function sendInfo(conn: Conn, info: number, payload: Uint8Array): Promise<void> {
  return sendRep(conn, REP.INFO, u16(info), payload);
}

/** NBD_OPT_INFO / NBD_OPT_GO; true when GO succeeded */
async function handleInfo(conn: Conn): Promise<boolean> {
  const name = await optReadName(conn);
  if (name === undefined) return false;
  const rq = await optRead(conn, 2, false);
  if (!rq) return false;
  let requests = rq.readUInt16BE(0);
  let sendName = false;
  let blockSize = false;
  while (requests-- > 0) {
    const r = await optRead(conn, 2, false);
    if (!r) return false;
    const info = r.readUInt16BE(0);
    if (info === INFO.NAME) sendName = true;
    else if (info === INFO.BLOCK_SIZE) blockSize = true;
  }
  if (conn.optlen) {
    await rejectLength(conn);
    return false;
  }
  const exp = conn.srv.findExport(name);
  if (!exp) {
    await sendRepErr(conn, REP.ERR_UNKNOWN, `export '${sanitize(name)}' not present`);
    return false;
  }
  if (conn.srv.modern && conn.opt === OPT.GO) checkMetaExport(conn, exp);
  if (sendName) await sendInfo(conn, INFO.NAME, Buffer.from(name, 'utf8'));
  if (exp.description !== undefined)
    await sendInfo(conn, INFO.DESCRIPTION, Buffer.from(exp.description, 'utf8'));
  // minimum: 1 for old clients, else blk_get_request_alignment, which is 1 for the simulator's nodes
  // (so NBD_REP_ERR_BLOCK_SIZE_REQD never comes up, and misaligned requests, which QEMU only traces,
  // need no check); preferred 4096; maximum NBD_MAX_BUFFER_SIZE (no node here limits transfers)
  const align = 1;
  const min = conn.opt === OPT.INFO || blockSize ? align : 1;
  await sendInfo(
    conn,
    INFO.BLOCK_SIZE,
    Buffer.concat([u32(min), u32(Math.max(4096, min)), u32(MAX_BUFFER_SIZE)]),
  );
  let flags = exportFlags(conn, exp);
  if (conn.mode >= MODE_EXTENDED && (conn.meta.count || conn.opt === OPT.INFO))
    flags |= FLAG_BLOCK_STAT_PAYLOAD;
  await sendInfo(conn, INFO.EXPORT, Buffer.concat([u64(sizeOf(exp)), u16(flags)]));
  await sendRep(conn, REP.ACK);
  if (conn.opt !== OPT.GO) return false;
  if (conn.closed || exp.shuttingDown) throw new Drop('export went away during negotiation', false);
  attach(conn, exp);
  if (!conn.srv.modern) checkMetaExport(conn, exp);
  return true;
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT */
async function handleMetaQueries(conn: Conn): Promise<void> {
  const isList = conn.opt === OPT.LIST_META_CONTEXT;
  if (!isList && conn.mode < MODE_STRUCTURED) {
    await optInvalid(conn, `request option '${optLabel(conn)}' when structured reply is not negotiated`);
    return;
  }
  const meta = emptyMeta();
  if (!isList) conn.meta = meta;
  const name = await optReadName(conn);
  if (name === undefined) return;
  const exp = conn.srv.findExport(name);
  if (!exp) {
    await optDrop(conn, REP.ERR_UNKNOWN, `export '${sanitize(name)}' not present`);
    return;
  }
  meta.exp = exp;
  const names = bitmapNames(exp);
  meta.bitmaps = names.map(() => false);
  const nq = await optRead(conn, 4, false);
  if (!nq) return;
  const queries = nq.readUInt32BE(0);
  if (isList && queries === 0) {
    meta.base = true;
    meta.depth = exp.allocationDepth;
    meta.bitmaps.fill(true);
  } else {
    for (let i = 0; i < queries; i++) {
      const l = await optRead(conn, 4, false);
      if (!l) return;
      const len = l.readUInt32BE(0);
      if (len > MAX_STRING_SIZE) {
        if (!(await optSkip(conn, len))) return;
        continue;
      }
      const q = await optRead(conn, len, true);
      if (!q) return;
      metaQuery(meta, exp, names, q.toString('utf8'), isList);
    }
  }
  let count = 0;
  const ctx = async (context: string, id: number): Promise<void> => {
    const c = Buffer.from(context, 'utf8');
    await sendRep(conn, REP.META_CONTEXT, u32(isList ? 0 : id), c);
    count++;
  };
  if (meta.base) await ctx('base:allocation', META_ID_BASE_ALLOCATION);
  if (meta.depth) await ctx('qemu:allocation-depth', META_ID_ALLOCATION_DEPTH);
  for (let i = 0; i < names.length; i++)
    if (meta.bitmaps[i]) await ctx(`qemu:dirty-bitmap:${names[i]}`, META_ID_DIRTY_BITMAP + i);
  await sendRep(conn, REP.ACK);
  meta.count = count;
}

function metaQuery(meta: Meta, exp: BlockExport, names: string[], query: string, isList: boolean): void {
  if (query.startsWith('base:')) {
    const q = query.slice(5);
    if (q === '' ? isList : q === 'allocation') meta.base = true;
    return;
  }
  if (!query.startsWith('qemu:')) return;
  const q = query.slice(5);
  if (q === '') {
    if (isList) {
      meta.depth = exp.allocationDepth;
      meta.bitmaps.fill(true);
    }
    return;
  }
  if (q === 'allocation-depth') {
    meta.depth = exp.allocationDepth;
    return;
  }
  if (q.startsWith('dirty-bitmap:')) {
    const b = q.slice('dirty-bitmap:'.length);
    if (b === '') {
      if (isList) meta.bitmaps.fill(true);
      return;
    }
    const i = names.indexOf(b);
    if (i >= 0) meta.bitmaps[i] = true;
  }
}
