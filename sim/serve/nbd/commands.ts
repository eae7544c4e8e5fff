/**
 * Serving one checked request (QEMU: nbd_handle_request and the nbd_do_cmd_* / nbd_co_send_sparse_read
 * helpers): READ (sparse when structured replies allow), WRITE, WRITE_ZEROES, TRIM, FLUSH, CACHE and
 * BLOCK_STATUS over the export's node, with block-layer failures turned into the errno QEMU sends.
 */
import { CMD, CMD_FLAG } from '../../../contract/nbd.ts';
import type { BlockNode } from '../../block/graph.ts';
import { IoError, strerror } from '../../util/io-error.ts';
import type { Conn } from './connection.ts';
import { allocationFlags, bitmapExtents, chainStatus, collect, type NbdExtent } from './extents.ts';
import {
  EINVAL,
  EIO,
  errnoOf,
  META_ID_ALLOCATION_DEPTH,
  META_ID_BASE_ALLOCATION,
  META_ID_DIRTY_BITMAP,
  MODE_EXTENDED,
  MODE_STRUCTURED,
  messageOf,
  type Request,
} from './internal.ts';
import { MAX_BLOCK_STATUS_EXTENTS } from './proto.ts';
import {
  chunkData,
  chunkDone,
  chunkError,
  chunkHole,
  genericReply,
  sendExtents,
  simpleReply,
} from './replies.ts';

/** run a block-layer call, turning its failure into -errno */
function io(conn: Conn, fn: () => void): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (!(e instanceof IoError)) conn.srv.log(`nbd: block layer failure: ${messageOf(e)}`);
    return -errnoOf(e);
  }
}

function node(conn: Conn): BlockNode {
  const bs = conn.exp?.blk.bs;
  if (!bs) throw new IoError(EIO);
  return bs;
}

/** bytes of the export; the tail that rounding to 512 added past the node's end reads as zeroes */
function readBytes(conn: Conn, offset: number, length: number): Uint8Array {
  const bs = node(conn);
  const size = bs.size;
  if (offset + length <= size) return bs.read(offset, length);
  const out = new Uint8Array(length);
  if (offset < size) out.set(bs.read(offset, size - offset), 0);
  return out;
}

/** nbd_handle_request; false when the connection must drop (QEMU: "Failed to send reply") */
export async function handle(conn: Conn, req: Request, data: Uint8Array | undefined): Promise<boolean> {
  const from = Number(req.from);
  const len = Number(req.len);
  const fua = (req.flags & CMD_FLAG.FUA) !== 0;
  switch (req.type) {
    case CMD.CACHE: {
      const ret = io(conn, () => prefetch(conn, from, len));
      await genericReply(conn, req, ret, 'caching data failed');
      return true;
    }
    case CMD.READ:
      return cmdRead(conn, req, from, len);
    case CMD.WRITE: {
      let ret = io(conn, () => writeBytes(conn, from, data ?? new Uint8Array(0)));
      if (ret === 0 && fua) ret = io(conn, () => node(conn).flush());
      await genericReply(conn, req, ret, 'writing to file failed');
      return true;
    }
    case CMD.WRITE_ZEROES: {
      let ret = io(conn, () => inNode(conn, from, len, (o, l) => node(conn).writeZeroes(o, l)));
      if (ret === 0 && fua) ret = io(conn, () => node(conn).flush());
      await genericReply(conn, req, ret, 'writing to file failed');
      return true;
    }
    case CMD.FLUSH: {
      const ret = io(conn, () => node(conn).flush());
      await genericReply(conn, req, ret, 'flush failed');
      return true;
    }
    case CMD.TRIM: {
      // bdrv_co_pdiscard does nothing (and dirties nothing) unless the node was opened discard=unmap
      const unmap = ['unmap', 'on'].includes(String(node(conn).options.discard));
      let ret = unmap ? io(conn, () => inNode(conn, from, len, (o, l) => node(conn).discard(o, l))) : 0;
      if (ret === 0 && fua) ret = io(conn, () => node(conn).flush());
      await genericReply(conn, req, ret, 'discard failed');
      return true;
    }
    case CMD.BLOCK_STATUS:
      await cmdBlockStatus(conn, req, from, len);
      return true;
    default:
      await genericReply(conn, req, -EINVAL, `invalid request type (${req.type}) received`);
      return true;
  }
}

/**
 * NBD_CMD_CACHE is a read with BDRV_REQ_COPY_ON_READ | BDRV_REQ_PREFETCH: on a writable export of a
 * format node with a backing, the clusters it touches that the node does not hold yet are copied up
 * from the backing chain. Copy-on-read writes bypass dirty bitmaps, as in QEMU.
 */
function prefetch(conn: Conn, offset: number, length: number): void {
  const bs = node(conn);
  const size = bs.size;
  if (!conn.exp?.writable || !bs.backing || !bs.driver.isFormat || offset >= size) {
    readBytes(conn, offset, length);
    return;
  }
  const cs = (bs.driver as { layer?: { clusterSize?: number } }).layer?.clusterSize ?? 65536;
  const start = Math.floor(offset / cs) * cs;
  const end = Math.min(size, Math.ceil((offset + length) / cs) * cs);
  for (const e of bs.blockStatus(start, end - start)) {
    if (e.status !== 'unallocated') continue;
    bs.driver.write(bs, e.offset, bs.read(e.offset, e.length));
  }
}

/** apply a range operation to the part of [o, o+l) inside the node (the sector-rounding tail is not) */
function inNode(conn: Conn, o: number, l: number, fn: (o: number, l: number) => void): void {
  const size = node(conn).size;
  const end = Math.min(o + l, size);
  if (end > o) fn(o, end - o);
}

function writeBytes(conn: Conn, offset: number, data: Uint8Array): void {
  const bs = node(conn);
  const size = bs.size;
  if (offset + data.length <= size) bs.write(offset, data);
  else if (offset < size) bs.write(offset, data.subarray(0, size - offset));
}

async function cmdRead(conn: Conn, req: Request, from: number, len: number): Promise<boolean> {
  if (req.flags & CMD_FLAG.FUA) {
    const ret = io(conn, () => node(conn).flush());
    if (ret < 0) {
      await genericReply(conn, req, ret, 'flush failed');
      return true;
    }
  }
  if (conn.mode >= MODE_STRUCTURED && !(req.flags & CMD_FLAG.DF) && len > 0)
    return sparseRead(conn, req, from, len);
  let bytes: Uint8Array | undefined;
  const ret = io(conn, () => {
    bytes = readBytes(conn, from, len);
  });
  if (ret < 0) {
    await genericReply(conn, req, ret, 'reading from file failed');
    return true;
  }
  if (conn.mode >= MODE_STRUCTURED) {
    if (len > 0) await chunkData(conn, req, from, bytes!, true);
    else await chunkDone(conn, req);
  } else {
    await simpleReply(conn, req, 0, bytes);
  }
  return true;
}

/** nbd_co_send_sparse_read: zero ranges as holes, the rest as data, chunk by chunk */
async function sparseRead(conn: Conn, req: Request, from: number, len: number): Promise<boolean> {
  // one chunk per block-status answer, as QEMU asks block status and then reads each answer's range:
  // adjacent answers of one kind are not joined (a read split there can differ, see snapshotRun)
  let status: { offset: number; length: number; zero: boolean }[];
  try {
    status = chainStatus(node(conn), from, len);
  } catch (e) {
    const errno = errnoOf(e);
    await chunkError(conn, req, errno, `unable to check for holes: ${strerror(errno)}`);
    return true;
  }
  for (let i = 0; i < status.length; i++) {
    const s = status[i]!;
    const final = i === status.length - 1;
    if (s.zero) {
      await chunkHole(conn, req, s.offset, s.length, final);
    } else {
      let bytes: Uint8Array;
      try {
        bytes = readBytes(conn, s.offset, s.length);
      } catch (e) {
        conn.srv.log(
          `Disconnect client, due to: Failed to send reply: reading from file failed: ${messageOf(e)}`,
        );
        return false;
      }
      await chunkData(conn, req, s.offset, bytes, final);
    }
    if (conn.closed) return true;
  }
  return true;
}

async function cmdBlockStatus(conn: Conn, req: Request, from: number, len: number): Promise<void> {
  const ctx = req.contexts ?? conn.meta;
  const legacyEmpty = !conn.srv.modern && len === 0;
  if (legacyEmpty) {
    await genericReply(conn, req, -EINVAL, 'need non-zero length');
    return;
  }
  if (!ctx.count || (ctx === conn.meta && conn.meta.exp !== conn.exp)) {
    const msg =
      conn.srv.modern && ctx !== conn.meta && conn.meta.count
        ? 'CMD_BLOCK_STATUS payload not valid'
        : 'CMD_BLOCK_STATUS not negotiated';
    await genericReply(conn, req, -EINVAL, msg);
    return;
  }
  if (len === 0) {
    await genericReply(conn, req, -EINVAL, 'need non-zero length');
    return;
  }
  const ext = conn.mode >= MODE_EXTENDED;
  const opts = { maxCount: req.flags & CMD_FLAG.REQ_ONE ? 1 : MAX_BLOCK_STATUS_EXTENTS, extended: ext };
  let remaining = ctx.count;
  if (ctx.base) {
    remaining--;
    let list: NbdExtent[] | undefined;
    let errno = 0;
    try {
      list = collect(
        chainStatus(node(conn), from, len).map((e) => ({
          length: e.length,
          flags: allocationFlags(e, conn.srv.core.version.features.has('nbd-hole-without-data')),
        })),
        opts,
      );
    } catch (e) {
      errno = errnoOf(e);
    }
    if (list) await sendExtents(conn, req, META_ID_BASE_ALLOCATION, list, remaining === 0);
    else await chunkError(conn, req, errno, "can't get block status");
  }
  if (ctx.depth) {
    remaining--;
    let list: NbdExtent[] | undefined;
    let errno = 0;
    try {
      list = collect(
        chainStatus(node(conn), from, len).map((e) => ({ length: e.length, flags: e.depth })),
        opts,
      );
    } catch (e) {
      errno = errnoOf(e);
    }
    if (list) await sendExtents(conn, req, META_ID_ALLOCATION_DEPTH, list, remaining === 0);
    else await chunkError(conn, req, errno, "can't get block status");
  }
  const exp = conn.exp!;
  for (let i = 0; i < exp.bitmaps.length; i++) {
    if (!ctx.bitmaps[i]) continue;
    remaining--;
    const ref = exp.bitmaps[i]!;
    const bm = conn.srv.core.graph.find(ref.node)?.bitmaps.get(ref.name);
    const list = collect(bitmapExtents(bm, from, len), opts);
    await sendExtents(conn, req, META_ID_DIRTY_BITMAP + i, list, remaining === 0);
  }
}
