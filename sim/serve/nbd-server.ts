/**
 * The simulator's NBD server on real sockets: what QEMU's nbd/server.c (7.2; 8.2+ for extended headers)
 * does with a client, over the exports the QMP side keeps in `core.exports`. `attachNbdServer(core)`
 * installs the socket hooks that nbd-server-start / nbd-server-stop / block-export-del call.
 *
 * Requests are served one after another (the block layer here is synchronous), so replies come in
 * request order; clients may still keep many requests in flight. Memory per connection is bounded by
 * one request (WRITE payloads are at most 32 MiB, as in QEMU) plus the reader's high-water mark; a
 * connection whose peer sends garbage is dropped alone, never the process.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  CMD,
  CMD_FLAG,
  EXTENDED_REPLY_MAGIC,
  EXTENDED_REQUEST_MAGIC,
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  REP,
  REP_MAGIC,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
} from '../../contract/nbd.ts';
import type { BlockNode } from '../block/graph.ts';
import type { BlockExport } from '../block/nbd-state.ts';
import type { SimCore } from '../core/core.ts';
import { IoError, strerror } from '../util/io-error.ts';
import { generic } from '../util/qmp-error.ts';
import { allocationFlags, bitmapExtents, chainStatus, collect, type NbdExtent } from './nbd-extents.ts';
import {
  cmdName,
  EXTENDED_REQUEST_SIZE,
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
  MAX_BLOCK_STATUS_EXTENTS,
  MAX_BUFFER_SIZE,
  MAX_STRING_SIZE,
  NBD_ERR,
  optName,
  REQUEST_SIZE,
  systemErrnoToNbd,
} from './nbd-proto.ts';
import { ByteReader, EofError } from './nbd-reader.ts';

export interface NbdServerOptions {
  /** where QEMU would print to stderr ("Disconnect client, due to: …"); default: nowhere */
  log?: (line: string) => void;
  /** bytes a connection may buffer beyond the request being read (default 1 MiB) */
  readHighWater?: number;
  /** replies queued in the socket beyond which the server waits for the client to read (default 8 MiB) */
  writeHighWater?: number;
  /** connections waiting for a slot under max-connections (QEMU leaves them in the listen backlog) */
  maxPending?: number;
}

export interface NbdServerHandle {
  /** Stops listening, drops every client and removes the hooks. Idempotent. */
  close(): Promise<void>;
  /** the bound address: a unix path, or host/port; null when not listening */
  address(): string | net.AddressInfo | null;
  /** resolves once the listener is bound (inet binds asynchronously); rejects if binding failed */
  ready(): Promise<void>;
  /** connections open now: negotiating, transmitting, or waiting for a slot */
  connectionCount(): number;
}

// client modes (NBDMode)
const MODE_EXPORT_NAME = 0;
const MODE_SIMPLE = 1;
const MODE_STRUCTURED = 2;
const MODE_EXTENDED = 3;

const META_ID_BASE_ALLOCATION = 0;
const META_ID_ALLOCATION_DEPTH = 1;
const META_ID_DIRTY_BITMAP = 2;

const EINVAL = 22;
const EIO = 5;
const EROFS = 30;
const ENOSPC = 28;

interface Meta {
  exp: BlockExport | undefined;
  count: number;
  base: boolean;
  depth: boolean;
  bitmaps: boolean[];
}

function emptyMeta(): Meta {
  return { exp: undefined, count: 0, base: false, depth: false, bitmaps: [] };
}

interface Request {
  flags: number;
  type: number;
  cookie: Buffer;
  from: bigint;
  len: bigint;
  /** block status with a payload naming a subset of the negotiated contexts */
  contexts?: Meta;
}

/** A request that must be answered with an error (nbd_co_receive_request's errp). */
class RequestError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** The connection must end now (QEMU's -EIO / negotiation failure); `report`: print it like QEMU. */
class Drop extends Error {
  constructor(
    message: string,
    readonly report = true,
  ) {
    super(message);
  }
}

function u16(v: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(v);
  return b;
}

function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

function u64(v: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

function errnoOf(e: unknown): number {
  return e instanceof IoError ? e.errno : EIO;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** nbd_sanitize_name */
function sanitize(name: string): string {
  return name.length < 80 ? name : `${name.slice(0, 80)}...`;
}

/** what QEMU's block layer reports as the export's length: whole 512-byte sectors, rounded up */
function exportSize(bs: BlockNode): number {
  return Math.ceil(bs.size / 512) * 512;
}

class Server {
  listener: net.Server | undefined;
  unixPath: string | undefined;
  readonly conns = new Set<Conn>();
  readonly pending: net.Socket[] = [];
  active = 0;
  bound: Promise<void> = Promise.resolve();
  /** settles once the last listener closed */
  stopped: Promise<void> = Promise.resolve();
  readonly log: (line: string) => void;
  readonly readHighWater: number;
  readonly writeHighWater: number;
  readonly maxPending: number;
  /** QEMU 8.2+: extended headers, 64-bit lengths, reworded messages */
  readonly modern: boolean;
  readonly extendedHeaders: boolean;
  /** QEMU 7.1+: NBD_FLAG_CAN_MULTI_CONN unless max-connections is 1 */
  readonly multiConn: boolean;
  /** QEMU 5.2 reports a client that closes between requests without NBD_CMD_DISC */
  readonly reportsEofAtRequest: boolean;
  /** QEMU 9.1+ drops clients that have not finished the handshake after handshake-max-seconds (10) */
  readonly handshakeMaxMs: number;

  constructor(
    readonly core: SimCore,
    opts: NbdServerOptions,
  ) {
    this.log = opts.log ?? (() => {});
    this.readHighWater = opts.readHighWater ?? 1 << 20;
    this.writeHighWater = opts.writeHighWater ?? 8 << 20;
    this.maxPending = opts.maxPending ?? 128;
    const { major, minor } = core.version.qemu;
    const v = major * 100 + minor;
    this.modern = v >= 802;
    this.extendedHeaders = core.version.features.has('nbd-extended-headers');
    this.multiConn = v >= 701;
    this.reportsEofAtRequest = v < 600;
    this.handshakeMaxMs = v >= 901 ? 10_000 : 0;
  }

  get maxConnections(): number {
    return this.core.nbd?.maxConnections ?? 0;
  }

  findExport(name: string): BlockExport | undefined {
    for (const e of this.core.exports.values()) if (e.name === name && !e.shuttingDown) return e;
    return undefined;
  }

  listen(addr: { type: string; data?: Record<string, unknown> } & Record<string, unknown>): void {
    if (this.listener) this.unlisten();
    const data = (addr.data ?? addr) as Record<string, unknown>;
    const server = net.createServer({ pauseOnConnect: true }, (s) => this.accept(s));
    let boundResolve!: () => void;
    let boundReject!: (e: Error) => void;
    this.bound = new Promise<void>((res, rej) => {
      boundResolve = res;
      boundReject = rej;
    });
    this.bound.catch(() => {});
    server.on('listening', () => boundResolve());
    server.on('error', (e) => {
      this.log(`nbd: listener error: ${e.message}`);
      boundReject(e);
    });
    if (addr.type === 'unix') {
      const cwd = 'cwd' in this.core.fs ? String((this.core.fs as { cwd: string }).cwd) : process.cwd();
      const p = path.resolve(cwd, String(data.path ?? ''));
      // QEMU unlinks a stale socket before binding; anything else in the way is a bind error
      try {
        if (fs.lstatSync(p).isSocket()) fs.unlinkSync(p);
      } catch {
        // nothing there
      }
      server.listen(p);
      if (!server.listening) {
        server.close();
        throw generic(`Failed to bind socket to ${p}: Address already in use`);
      }
      try {
        fs.chmodSync(p, 0o600);
      } catch {
        // the socket vanished under us: the listener reports it
      }
      this.unixPath = p;
    } else if (addr.type === 'inet') {
      const host = String(data.host ?? '');
      const portText = String(data.port ?? '0');
      // inet_listen_saddr: getaddrinfo(host, port) takes a number or a service name of /etc/services
      const port = /^\d+$/.test(portText) ? Number(portText) : serviceLookup(portText);
      if (port === undefined || port > 65535)
        throw generic(
          `address resolution failed for ${host}:${portText}: Servname not supported for ai_socktype`,
        );
      server.listen({ host: host || undefined, port, ipv6Only: data.ipv6 === true && data.ipv4 !== true });
    } else {
      throw generic(`socket address type '${addr.type}' is not supported by the simulator's NBD server`);
    }
    this.listener = server;
  }

  /** nbd-server-stop: no new connections, and every client goes (CVE-2024-7409 fix, in 7.2.x too) */
  unlisten(): void {
    const l = this.listener;
    this.listener = undefined;
    if (l) this.stopped = new Promise<void>((r) => l.close(() => r()));
    if (this.unixPath) {
      try {
        fs.unlinkSync(this.unixPath);
      } catch {
        // already gone
      }
      this.unixPath = undefined;
    }
    for (const s of this.pending.splice(0)) s.destroy();
    for (const c of [...this.conns]) c.close();
  }

  private accept(sock: net.Socket): void {
    sock.on('error', () => {});
    if (!this.listener) {
      sock.destroy();
      return;
    }
    const max = this.maxConnections;
    if (max > 0 && this.active >= max) {
      if (this.pending.length >= this.maxPending) {
        sock.destroy();
        return;
      }
      this.pending.push(sock);
      sock.once('close', () => {
        const i = this.pending.indexOf(sock);
        if (i >= 0) this.pending.splice(i, 1);
      });
      return;
    }
    this.start(sock);
  }

  private start(sock: net.Socket): void {
    this.active++;
    const c = new Conn(this, sock);
    this.conns.add(c);
    void c.run().finally(() => {
      this.conns.delete(c);
      this.active--;
      this.admitPending();
    });
  }

  private admitPending(): void {
    while (this.pending.length > 0 && this.listener) {
      const max = this.maxConnections;
      if (max > 0 && this.active >= max) return;
      const s = this.pending.shift()!;
      if (s.destroyed) continue;
      this.start(s);
    }
  }

  exportClosing(exp: BlockExport): void {
    for (const c of [...this.conns]) if (c.exp === exp) c.close();
  }

  address(): string | net.AddressInfo | null {
    if (!this.listener) return null;
    return this.unixPath ?? this.listener.address();
  }
}

class Conn {
  mode = MODE_EXPORT_NAME;
  exp: BlockExport | undefined;
  meta: Meta = emptyMeta();
  private opt = 0;
  private optlen = 0;
  private closed = false;
  private counted = false;
  private readonly reader: ByteReader;

  constructor(
    private readonly srv: Server,
    private readonly sock: net.Socket,
  ) {
    this.reader = new ByteReader(sock, srv.readHighWater);
    sock.setNoDelay(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    if (this.counted && this.exp) {
      this.exp.clients = Math.max(0, this.exp.clients - 1);
      this.counted = false;
    }
  }

  async run(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.srv.handshakeMaxMs > 0) timer = setTimeout(() => this.close(), this.srv.handshakeMaxMs);
      const go = await this.negotiate();
      clearTimeout(timer);
      if (go && !this.closed) await this.transmission();
    } catch (e) {
      if (!this.closed) {
        if (e instanceof Drop) {
          if (e.report) this.srv.log(e.message);
        } else if (e instanceof EofError) {
          if (e.partial) this.srv.log(`Disconnect client, due to: ${e.message}`);
        } else {
          this.srv.log(`nbd: internal error, dropping the client: ${messageOf(e)}`);
        }
      }
    } finally {
      clearTimeout(timer);
      this.close();
    }
  }

  // ------------------------------------------------------------------ sending

  private async send(...parts: Uint8Array[]): Promise<void> {
    if (this.closed) return;
    const s = this.sock;
    if (parts.length > 1) s.cork();
    for (const p of parts) s.write(p);
    if (parts.length > 1) s.uncork();
    if (s.writableLength > this.srv.writeHighWater) await this.drained();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.sock.writableLength === 0) return resolve();
      const done = () => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        resolve();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  // ------------------------------------------------------------------ handshake

  private read(n: number): Promise<Buffer> {
    return this.reader.read(n);
  }

  private sendRep(type: number, ...payload: Uint8Array[]): Promise<void> {
    const len = payload.reduce((a, p) => a + p.length, 0);
    return this.send(REP_MAGIC, u32(this.opt), u32(type), u32(len), ...payload);
  }

  private sendRepErr(type: number, msg: string): Promise<void> {
    return this.sendRep(type, Buffer.from(msg, 'utf8'));
  }

  /** nbd_opt_drop: discard the rest of the option, then reply with an error */
  private async optDrop(type: number, msg: string): Promise<void> {
    await this.reader.skip(this.optlen);
    this.optlen = 0;
    await this.sendRepErr(type, msg);
  }

  private optInvalid(msg: string): Promise<void> {
    return this.optDrop(REP.ERR_INVALID, msg);
  }

  private get optLabel(): string {
    return optName(this.opt, this.srv.modern);
  }

  /** nbd_opt_read: undefined when the option was answered with an error instead */
  private async optRead(size: number, checkNul: boolean): Promise<Buffer | undefined> {
    if (size > this.optlen) {
      await this.optInvalid(`Inconsistent lengths in option ${this.optLabel}`);
      return undefined;
    }
    this.optlen -= size;
    const b = await this.read(size);
    if (checkNul && b.includes(0)) {
      await this.optInvalid(`Unexpected embedded NUL in option ${this.optLabel}`);
      return undefined;
    }
    return b;
  }

  private async optSkip(size: number): Promise<boolean> {
    if (size > this.optlen) {
      await this.optInvalid(`Inconsistent lengths in option ${this.optLabel}`);
      return false;
    }
    this.optlen -= size;
    await this.reader.skip(size);
    return true;
  }

  private async optReadName(): Promise<string | undefined> {
    const l = await this.optRead(4, false);
    if (!l) return undefined;
    const len = l.readUInt32BE(0);
    if (len > MAX_STRING_SIZE) {
      await this.optInvalid(`Invalid name length: ${len}`);
      return undefined;
    }
    const b = await this.optRead(len, true);
    return b?.toString('utf8');
  }

  private async rejectLength(): Promise<void> {
    await this.optInvalid(`option '${this.optLabel}' has unexpected length`);
  }

  /** true: move to transmission; false: the client aborted */
  private async negotiate(): Promise<boolean> {
    await this.send(NBDMAGIC, IHAVEOPT, u16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
    let flags: number;
    try {
      flags = (await this.read(4)).readUInt32BE(0);
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
      this.mode = MODE_SIMPLE;
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
      if (this.closed) return false;
      const head = await this.read(16);
      if (!head.subarray(0, 8).equals(IHAVEOPT))
        throw new Drop('option negotiation failed: Bad magic received');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      this.opt = option;
      this.optlen = length;
      if (length > MAX_BUFFER_SIZE)
        throw new Drop(
          `option negotiation failed: len (${length}) is larger than max len (${MAX_BUFFER_SIZE})`,
        );
      if (!fixed) {
        if (option === OPT.EXPORT_NAME) return this.handleExportName(noZeroes);
        throw new Drop(`option negotiation failed: Unsupported option ${option} (${this.optLabel})`);
      }
      switch (option) {
        case OPT.LIST:
          if (length) await this.rejectLength();
          else await this.handleList();
          break;
        case OPT.ABORT:
          // the client may hang up before reading the ack
          await this.sendRep(REP.ACK);
          await this.drained();
          return false;
        case OPT.EXPORT_NAME:
          return this.handleExportName(noZeroes);
        case OPT.INFO:
        case OPT.GO:
          if (await this.handleInfo()) return true;
          break;
        case OPT.STARTTLS:
          if (length) await this.rejectLength();
          else await this.sendRepErr(REP.ERR_POLICY, 'TLS not configured');
          break;
        case OPT.STRUCTURED_REPLY:
          if (length) await this.rejectLength();
          else if (this.mode >= MODE_EXTENDED)
            await this.sendRepErr(REP.ERR_EXT_HEADER_REQD, 'extended headers already negotiated');
          else if (this.mode >= MODE_STRUCTURED)
            await this.sendRepErr(REP.ERR_INVALID, 'structured reply already negotiated');
          else {
            await this.sendRep(REP.ACK);
            this.mode = MODE_STRUCTURED;
          }
          break;
        case OPT.LIST_META_CONTEXT:
        case OPT.SET_META_CONTEXT:
          await this.handleMetaQueries();
          break;
        case OPT.EXTENDED_HEADERS:
          if (!this.srv.extendedHeaders) {
            await this.optDrop(REP.ERR_UNSUP, `Unsupported option ${option} (${this.optLabel})`);
          } else if (length) await this.rejectLength();
          else if (this.mode >= MODE_EXTENDED)
            await this.sendRepErr(REP.ERR_INVALID, 'extended headers already negotiated');
          else {
            await this.sendRep(REP.ACK);
            this.mode = MODE_EXTENDED;
          }
          break;
        default:
          await this.optDrop(REP.ERR_UNSUP, `Unsupported option ${option} (${this.optLabel})`);
      }
    }
  }

  private async handleList(): Promise<void> {
    for (const e of this.srv.core.exports.values()) {
      if (e.shuttingDown) continue;
      const name = Buffer.from(e.name, 'utf8');
      const desc = Buffer.from(e.description ?? '', 'utf8');
      await this.sendRep(REP.SERVER, u32(name.length), name, desc);
    }
    await this.sendRep(REP.ACK);
  }

  private exportFlags(exp: BlockExport): number {
    let f = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE;
    // before 7.1 (nbd_export_create): a read-only export is shared, and only a shared one can multi-conn
    if (this.srv.multiConn ? this.srv.maxConnections !== 1 : !exp.writable) f |= FLAG_CAN_MULTI_CONN;
    if (exp.writable) f |= FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES | FLAG_SEND_FAST_ZERO;
    else f |= FLAG_READ_ONLY;
    if (this.mode >= MODE_STRUCTURED) f |= FLAG_SEND_DF;
    return f;
  }

  private sizeOf(exp: BlockExport): number {
    const bs = exp.blk.bs;
    return bs ? exportSize(bs) : 0;
  }

  /** nbd_check_meta_export: contexts negotiated for another export do not carry over */
  private checkMetaExport(exp: BlockExport): void {
    if (exp !== this.meta.exp) this.meta.count = 0;
  }

  private attach(exp: BlockExport): void {
    this.exp = exp;
    exp.clients++;
    this.counted = true;
  }

  private async handleExportName(noZeroes: boolean): Promise<boolean> {
    if (this.mode >= MODE_EXTENDED)
      throw new Drop('option negotiation failed: Extended headers already negotiated');
    if (this.optlen > MAX_STRING_SIZE) throw new Drop('option negotiation failed: Bad length received');
    const name = (await this.read(this.optlen)).toString('utf8');
    this.optlen = 0;
    const exp = this.srv.findExport(name);
    if (!exp) throw new Drop('option negotiation failed: export not found');
    if (this.srv.modern) this.checkMetaExport(exp);
    let flags = this.exportFlags(exp);
    if (this.mode >= MODE_EXTENDED && this.meta.count) flags |= FLAG_BLOCK_STAT_PAYLOAD;
    const reply = [u64(this.sizeOf(exp)), u16(flags)];
    if (!noZeroes) reply.push(Buffer.alloc(124));
    await this.send(...reply);
    this.attach(exp);
    if (!this.srv.modern) this.checkMetaExport(exp);
    return true;
  }

  private sendInfo(info: number, payload: Uint8Array): Promise<void> {
    return this.sendRep(REP.INFO, u16(info), payload);
  }

  /** NBD_OPT_INFO / NBD_OPT_GO; true when GO succeeded */
  private async handleInfo(): Promise<boolean> {
    const name = await this.optReadName();
    if (name === undefined) return false;
    const rq = await this.optRead(2, false);
    if (!rq) return false;
    let requests = rq.readUInt16BE(0);
    let sendName = false;
    let blockSize = false;
    while (requests-- > 0) {
      const r = await this.optRead(2, false);
      if (!r) return false;
      const info = r.readUInt16BE(0);
      if (info === INFO.NAME) sendName = true;
      else if (info === INFO.BLOCK_SIZE) blockSize = true;
    }
    if (this.optlen) {
      await this.rejectLength();
      return false;
    }
    const exp = this.srv.findExport(name);
    if (!exp) {
      await this.sendRepErr(REP.ERR_UNKNOWN, `export '${sanitize(name)}' not present`);
      return false;
    }
    if (this.srv.modern && this.opt === OPT.GO) this.checkMetaExport(exp);
    if (sendName) await this.sendInfo(INFO.NAME, Buffer.from(name, 'utf8'));
    if (exp.description !== undefined)
      await this.sendInfo(INFO.DESCRIPTION, Buffer.from(exp.description, 'utf8'));
    // minimum: 1 for old clients, else blk_get_request_alignment, which is 1 for the simulator's nodes
    // (so NBD_REP_ERR_BLOCK_SIZE_REQD never comes up, and misaligned requests, which QEMU only traces,
    // need no check); preferred 4096; maximum NBD_MAX_BUFFER_SIZE (no node here limits transfers)
    const align = 1;
    const min = this.opt === OPT.INFO || blockSize ? align : 1;
    await this.sendInfo(
      INFO.BLOCK_SIZE,
      Buffer.concat([u32(min), u32(Math.max(4096, min)), u32(MAX_BUFFER_SIZE)]),
    );
    let flags = this.exportFlags(exp);
    if (this.mode >= MODE_EXTENDED && (this.meta.count || this.opt === OPT.INFO))
      flags |= FLAG_BLOCK_STAT_PAYLOAD;
    await this.sendInfo(INFO.EXPORT, Buffer.concat([u64(this.sizeOf(exp)), u16(flags)]));
    await this.sendRep(REP.ACK);
    if (this.opt !== OPT.GO) return false;
    if (this.closed || exp.shuttingDown) throw new Drop('export went away during negotiation', false);
    this.attach(exp);
    if (!this.srv.modern) this.checkMetaExport(exp);
    return true;
  }

  private bitmapNames(exp: BlockExport): string[] {
    return exp.bitmaps.map((b) => b.name);
  }

  /** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT */
  private async handleMetaQueries(): Promise<void> {
    const isList = this.opt === OPT.LIST_META_CONTEXT;
    if (!isList && this.mode < MODE_STRUCTURED) {
      await this.optInvalid(`request option '${this.optLabel}' when structured reply is not negotiated`);
      return;
    }
    const meta = emptyMeta();
    if (!isList) this.meta = meta;
    const name = await this.optReadName();
    if (name === undefined) return;
    const exp = this.srv.findExport(name);
    if (!exp) {
      await this.optDrop(REP.ERR_UNKNOWN, `export '${sanitize(name)}' not present`);
      return;
    }
    meta.exp = exp;
    const names = this.bitmapNames(exp);
    meta.bitmaps = names.map(() => false);
    const nq = await this.optRead(4, false);
    if (!nq) return;
    const queries = nq.readUInt32BE(0);
    if (isList && queries === 0) {
      meta.base = true;
      meta.depth = exp.allocationDepth;
      meta.bitmaps.fill(true);
    } else {
      for (let i = 0; i < queries; i++) {
        const l = await this.optRead(4, false);
        if (!l) return;
        const len = l.readUInt32BE(0);
        if (len > MAX_STRING_SIZE) {
          if (!(await this.optSkip(len))) return;
          continue;
        }
        const q = await this.optRead(len, true);
        if (!q) return;
        this.metaQuery(meta, exp, names, q.toString('utf8'), isList);
      }
    }
    let count = 0;
    const ctx = async (context: string, id: number): Promise<void> => {
      const c = Buffer.from(context, 'utf8');
      await this.sendRep(REP.META_CONTEXT, u32(isList ? 0 : id), c);
      count++;
    };
    if (meta.base) await ctx('base:allocation', META_ID_BASE_ALLOCATION);
    if (meta.depth) await ctx('qemu:allocation-depth', META_ID_ALLOCATION_DEPTH);
    for (let i = 0; i < names.length; i++)
      if (meta.bitmaps[i]) await ctx(`qemu:dirty-bitmap:${names[i]}`, META_ID_DIRTY_BITMAP + i);
    await this.sendRep(REP.ACK);
    meta.count = count;
  }

  private metaQuery(meta: Meta, exp: BlockExport, names: string[], query: string, isList: boolean): void {
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

  // ------------------------------------------------------------------ transmission

  private async transmission(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const size = this.mode >= MODE_EXTENDED ? EXTENDED_REQUEST_SIZE : REQUEST_SIZE;
      let h: Buffer;
      try {
        h = this.reader.tryRead(size) ?? (await this.read(size));
      } catch (e) {
        if (e instanceof EofError && !e.partial) {
          // before 6.0 nbd_receive_request read the header with nbd_read, not nbd_read_eof: a client
          // that closes without NBD_CMD_DISC is reported
          if (this.srv.reportsEofAtRequest)
            this.srv.log(
              'Disconnect client, due to: Failed to read request: Unexpected end-of-file before all bytes were read',
            );
          return;
        }
        throw e;
      }
      if (this.closed) return;
      const magic = h.readUInt32BE(0);
      const req: Request = {
        flags: h.readUInt16BE(4),
        type: h.readUInt16BE(6),
        cookie: Buffer.from(h.subarray(8, 16)),
        from: h.readBigUInt64BE(16),
        len: this.mode >= MODE_EXTENDED ? h.readBigUInt64BE(24) : BigInt(h.readUInt32BE(24)),
      };
      const expect = this.mode >= MODE_EXTENDED ? EXTENDED_REQUEST_MAGIC : REQUEST_MAGIC;
      let complete = true;
      let data: Uint8Array | undefined;
      let error: RequestError | undefined;
      if (magic !== expect) {
        // QEMU answers the garbage with EINVAL, then hangs up (the request never completed)
        complete = false;
        error = new RequestError(
          EINVAL,
          this.srv.modern
            ? `invalid magic (got 0x${hex(magic)}, expected 0x${hex(expect)})`
            : `invalid magic (got 0x${hex(magic)})`,
        );
      } else {
        if (req.type === CMD.DISC) return;
        const r = await this.receive(req);
        complete = r.complete;
        data = r.data;
        error = r.error;
      }
      if (this.closed) return;
      if (error) {
        await this.genericReply(req, -EINVAL, error.message);
      } else {
        const ok = await this.handle(req, data);
        if (!ok) throw new Drop('Disconnect client, due to: Failed to send reply: reading from file failed');
      }
      if (!complete)
        throw new Drop('Disconnect client, due to: Request handling failed in intermediate state');
    }
  }

  /** nbd_co_receive_request: payload, then the sanity checks, in QEMU's order */
  private async receive(
    req: Request,
  ): Promise<{ complete: boolean; data?: Uint8Array; error?: RequestError }> {
    const exp = this.exp!;
    const size = BigInt(this.sizeOf(exp));
    const max = BigInt(MAX_BUFFER_SIZE);
    let valid = CMD_FLAG.FUA;
    let checkRofs = false;
    let checkLength = false;
    let payloadOkay = false;
    let payloadLen = 0n;
    const ext = this.mode >= MODE_EXTENDED;
    const extWithPayload = ext && (req.flags & CMD_FLAG.PAYLOAD_LEN) !== 0;
    const lenMsg = (len: bigint) =>
      this.srv.modern
        ? `len (${len}) is larger than max len (${MAX_BUFFER_SIZE})`
        : `len (${len} ) is larger than max len (${MAX_BUFFER_SIZE})`;
    if (extWithPayload) {
      payloadLen = req.len;
      checkLength = true;
    }
    switch (req.type) {
      case CMD.READ:
        if (this.mode >= MODE_STRUCTURED) valid |= CMD_FLAG.DF;
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
          const r = await this.blockStatusPayload(req);
          if (r) return { complete: false, error: r };
          checkLength = false;
          payloadLen = 0n;
          valid |= CMD_FLAG.PAYLOAD_LEN;
        } else {
          req.contexts = this.meta;
        }
        valid |= CMD_FLAG.REQ_ONE;
        break;
    }
    let complete = payloadLen === 0n;
    if (checkLength && req.len > max) return { complete, error: new RequestError(EINVAL, lenMsg(req.len)) };
    if (payloadLen && !payloadOkay) req.len = 0n;
    let data: Uint8Array | undefined;
    if (payloadLen) {
      if (payloadOkay) data = await this.read(Number(payloadLen));
      else await this.reader.skip(Number(payloadLen));
      complete = true;
    }
    if (exp.shuttingDown || !this.exp) return { complete, error: new RequestError(EIO, 'export is gone') };
    if (!exp.writable && checkRofs)
      return { complete, error: new RequestError(EROFS, 'Export is read-only') };
    if (req.from > size || req.len > size - req.from) {
      const errno = req.type === CMD.WRITE || req.type === CMD.WRITE_ZEROES ? ENOSPC : EINVAL;
      return {
        complete,
        error: new RequestError(
          errno,
          `operation past EOF; From: ${req.from}, Len: ${req.len}, Size: ${size}`,
        ),
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
  private async blockStatusPayload(req: Request): Promise<RequestError | undefined> {
    const payloadLen = req.len;
    if (payloadLen > BigInt(MAX_BUFFER_SIZE))
      return new RequestError(EINVAL, `len (${payloadLen}) is larger than max len (${MAX_BUFFER_SIZE})`);
    const names = this.exp ? this.bitmapNames(this.exp) : [];
    const contexts: Meta = { ...emptyMeta(), exp: this.exp, bitmaps: names.map(() => false) };
    req.contexts = contexts;
    const n = Number(payloadLen);
    if (n % 4 !== 0 || n < 8 || n > 8 + 4 * this.meta.count) {
      req.len = 0n;
      await this.reader.skip(n);
      return undefined;
    }
    const buf = await this.read(n);
    const count = (n - 8) / 4;
    for (let i = 0; i < count; i++) {
      const id = buf.readUInt32BE(8 + 4 * i);
      let bad = false;
      if (id === META_ID_BASE_ALLOCATION) {
        bad = !this.meta.base || contexts.base;
        contexts.base = true;
      } else if (id === META_ID_ALLOCATION_DEPTH) {
        bad = !this.meta.depth || contexts.depth;
        contexts.depth = true;
      } else {
        const idx = id - META_ID_DIRTY_BITMAP;
        bad = idx >= names.length || !this.meta.bitmaps[idx] || contexts.bitmaps[idx] === true;
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

  // ------------------------------------------------------------------ replies

  private chunkHeader(req: Request, flags: number, type: number, length: number): Buffer {
    if (this.mode >= MODE_EXTENDED) {
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

  private simpleReply(req: Request, errno: number, data?: Uint8Array): Promise<void> {
    const b = Buffer.allocUnsafe(16);
    b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
    b.writeUInt32BE(systemErrnoToNbd(errno), 4);
    req.cookie.copy(b, 8);
    return data && data.length > 0 ? this.send(b, data) : this.send(b);
  }

  private chunkDone(req: Request): Promise<void> {
    return this.send(this.chunkHeader(req, REPLY_FLAG_DONE, REPLY_TYPE.NONE, 0));
  }

  private chunkError(req: Request, errno: number, msg: string): Promise<void> {
    const m = Buffer.from(msg, 'utf8');
    const body = Buffer.allocUnsafe(6);
    body.writeUInt32BE(systemErrnoToNbd(errno) || NBD_ERR.EINVAL, 0);
    body.writeUInt16BE(m.length, 4);
    return this.send(this.chunkHeader(req, REPLY_FLAG_DONE, REPLY_TYPE.ERROR, 6 + m.length), body, m);
  }

  private chunkData(req: Request, offset: number, data: Uint8Array, final: boolean): Promise<void> {
    return this.send(
      this.chunkHeader(req, final ? REPLY_FLAG_DONE : 0, REPLY_TYPE.OFFSET_DATA, 8 + data.length),
      u64(offset),
      data,
    );
  }

  private chunkHole(req: Request, offset: number, length: number, final: boolean): Promise<void> {
    const body = Buffer.allocUnsafe(12);
    body.writeBigUInt64BE(BigInt(offset), 0);
    body.writeUInt32BE(length, 8);
    return this.send(this.chunkHeader(req, final ? REPLY_FLAG_DONE : 0, REPLY_TYPE.OFFSET_HOLE, 12), body);
  }

  /** nbd_send_generic_reply: ret < 0 is -errno */
  private genericReply(req: Request, ret: number, msg: string): Promise<void> {
    if (this.mode >= MODE_STRUCTURED && ret < 0) return this.chunkError(req, -ret, msg);
    if (this.mode >= MODE_EXTENDED) return this.chunkDone(req);
    return this.simpleReply(req, ret < 0 ? -ret : 0);
  }

  /** run a block-layer call, turning its failure into -errno */
  private io(fn: () => void): number {
    try {
      fn();
      return 0;
    } catch (e) {
      if (!(e instanceof IoError)) this.srv.log(`nbd: block layer failure: ${messageOf(e)}`);
      return -errnoOf(e);
    }
  }

  private node(): BlockNode {
    const bs = this.exp?.blk.bs;
    if (!bs) throw new IoError(EIO);
    return bs;
  }

  /** bytes of the export; the tail that rounding to 512 added past the node's end reads as zeroes */
  private readBytes(offset: number, length: number): Uint8Array {
    const bs = this.node();
    const size = bs.size;
    if (offset + length <= size) return bs.read(offset, length);
    const out = new Uint8Array(length);
    if (offset < size) out.set(bs.read(offset, size - offset), 0);
    return out;
  }

  /** nbd_handle_request; false when the connection must drop (QEMU: "Failed to send reply") */
  private async handle(req: Request, data: Uint8Array | undefined): Promise<boolean> {
    const from = Number(req.from);
    const len = Number(req.len);
    const fua = (req.flags & CMD_FLAG.FUA) !== 0;
    switch (req.type) {
      case CMD.CACHE: {
        const ret = this.io(() => this.prefetch(from, len));
        await this.genericReply(req, ret, 'caching data failed');
        return true;
      }
      case CMD.READ:
        return this.cmdRead(req, from, len);
      case CMD.WRITE: {
        let ret = this.io(() => this.writeBytes(from, data ?? new Uint8Array(0)));
        if (ret === 0 && fua) ret = this.io(() => this.node().flush());
        await this.genericReply(req, ret, 'writing to file failed');
        return true;
      }
      case CMD.WRITE_ZEROES: {
        let ret = this.io(() => this.inNode(from, len, (o, l) => this.node().writeZeroes(o, l)));
        if (ret === 0 && fua) ret = this.io(() => this.node().flush());
        await this.genericReply(req, ret, 'writing to file failed');
        return true;
      }
      case CMD.FLUSH: {
        const ret = this.io(() => this.node().flush());
        await this.genericReply(req, ret, 'flush failed');
        return true;
      }
      case CMD.TRIM: {
        // bdrv_co_pdiscard does nothing (and dirties nothing) unless the node was opened discard=unmap
        const unmap = ['unmap', 'on'].includes(String(this.node().options.discard));
        let ret = unmap ? this.io(() => this.inNode(from, len, (o, l) => this.node().discard(o, l))) : 0;
        if (ret === 0 && fua) ret = this.io(() => this.node().flush());
        await this.genericReply(req, ret, 'discard failed');
        return true;
      }
      case CMD.BLOCK_STATUS:
        await this.cmdBlockStatus(req, from, len);
        return true;
      default:
        await this.genericReply(req, -EINVAL, `invalid request type (${req.type}) received`);
        return true;
    }
  }

  /**
   * NBD_CMD_CACHE is a read with BDRV_REQ_COPY_ON_READ | BDRV_REQ_PREFETCH: on a writable export of a
   * format node with a backing, the clusters it touches that the node does not hold yet are copied up
   * from the backing chain. Copy-on-read writes bypass dirty bitmaps, as in QEMU.
   */
  private prefetch(offset: number, length: number): void {
    const bs = this.node();
    const size = bs.size;
    if (!this.exp?.writable || !bs.backing || !bs.driver.isFormat || offset >= size) {
      this.readBytes(offset, length);
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
  private inNode(o: number, l: number, fn: (o: number, l: number) => void): void {
    const size = this.node().size;
    const end = Math.min(o + l, size);
    if (end > o) fn(o, end - o);
  }

  private writeBytes(offset: number, data: Uint8Array): void {
    const bs = this.node();
    const size = bs.size;
    if (offset + data.length <= size) bs.write(offset, data);
    else if (offset < size) bs.write(offset, data.subarray(0, size - offset));
  }

  private async cmdRead(req: Request, from: number, len: number): Promise<boolean> {
    if (req.flags & CMD_FLAG.FUA) {
      const ret = this.io(() => this.node().flush());
      if (ret < 0) {
        await this.genericReply(req, ret, 'flush failed');
        return true;
      }
    }
    if (this.mode >= MODE_STRUCTURED && !(req.flags & CMD_FLAG.DF) && len > 0)
      return this.sparseRead(req, from, len);
    let bytes: Uint8Array | undefined;
    const ret = this.io(() => {
      bytes = this.readBytes(from, len);
    });
    if (ret < 0) {
      await this.genericReply(req, ret, 'reading from file failed');
      return true;
    }
    if (this.mode >= MODE_STRUCTURED) {
      if (len > 0) await this.chunkData(req, from, bytes!, true);
      else await this.chunkDone(req);
    } else {
      await this.simpleReply(req, 0, bytes);
    }
    return true;
  }

  /** nbd_co_send_sparse_read: zero ranges as holes, the rest as data, chunk by chunk */
  private async sparseRead(req: Request, from: number, len: number): Promise<boolean> {
    // one chunk per block-status answer, as QEMU asks block status and then reads each answer's range:
    // adjacent answers of one kind are not joined (a read split there can differ, see snapshotRun)
    let status: { offset: number; length: number; zero: boolean }[];
    try {
      status = chainStatus(this.node(), from, len);
    } catch (e) {
      const errno = errnoOf(e);
      await this.chunkError(req, errno, `unable to check for holes: ${strerror(errno)}`);
      return true;
    }
    for (let i = 0; i < status.length; i++) {
      const s = status[i]!;
      const final = i === status.length - 1;
      if (s.zero) {
        await this.chunkHole(req, s.offset, s.length, final);
      } else {
        let bytes: Uint8Array;
        try {
          bytes = this.readBytes(s.offset, s.length);
        } catch (e) {
          this.srv.log(
            `Disconnect client, due to: Failed to send reply: reading from file failed: ${messageOf(e)}`,
          );
          return false;
        }
        await this.chunkData(req, s.offset, bytes, final);
      }
      if (this.closed) return true;
    }
    return true;
  }

  private async cmdBlockStatus(req: Request, from: number, len: number): Promise<void> {
    const ctx = req.contexts ?? this.meta;
    const legacyEmpty = !this.srv.modern && len === 0;
    if (legacyEmpty) {
      await this.genericReply(req, -EINVAL, 'need non-zero length');
      return;
    }
    if (!ctx.count || (ctx === this.meta && this.meta.exp !== this.exp)) {
      const msg =
        this.srv.modern && ctx !== this.meta && this.meta.count
          ? 'CMD_BLOCK_STATUS payload not valid'
          : 'CMD_BLOCK_STATUS not negotiated';
      await this.genericReply(req, -EINVAL, msg);
      return;
    }
    if (len === 0) {
      await this.genericReply(req, -EINVAL, 'need non-zero length');
      return;
    }
    const ext = this.mode >= MODE_EXTENDED;
    const opts = { maxCount: req.flags & CMD_FLAG.REQ_ONE ? 1 : MAX_BLOCK_STATUS_EXTENTS, extended: ext };
    let remaining = ctx.count;
    if (ctx.base) {
      remaining--;
      let list: NbdExtent[] | undefined;
      let errno = 0;
      try {
        list = collect(
          chainStatus(this.node(), from, len).map((e) => ({
            length: e.length,
            flags: allocationFlags(e, this.srv.core.version.features.has('nbd-hole-without-data')),
          })),
          opts,
        );
      } catch (e) {
        errno = errnoOf(e);
      }
      if (list) await this.sendExtents(req, META_ID_BASE_ALLOCATION, list, remaining === 0);
      else await this.chunkError(req, errno, "can't get block status");
    }
    if (ctx.depth) {
      remaining--;
      let list: NbdExtent[] | undefined;
      let errno = 0;
      try {
        list = collect(
          chainStatus(this.node(), from, len).map((e) => ({ length: e.length, flags: e.depth })),
          opts,
        );
      } catch (e) {
        errno = errnoOf(e);
      }
      if (list) await this.sendExtents(req, META_ID_ALLOCATION_DEPTH, list, remaining === 0);
      else await this.chunkError(req, errno, "can't get block status");
    }
    const exp = this.exp!;
    for (let i = 0; i < exp.bitmaps.length; i++) {
      if (!ctx.bitmaps[i]) continue;
      remaining--;
      const ref = exp.bitmaps[i]!;
      const bm = this.srv.core.graph.find(ref.node)?.bitmaps.get(ref.name);
      const list = collect(bitmapExtents(bm, from, len), opts);
      await this.sendExtents(req, META_ID_DIRTY_BITMAP + i, list, remaining === 0);
    }
  }

  private sendExtents(req: Request, id: number, list: NbdExtent[], last: boolean): Promise<void> {
    const flags = last ? REPLY_FLAG_DONE : 0;
    if (this.mode >= MODE_EXTENDED) {
      const body = Buffer.allocUnsafe(8 + 16 * list.length);
      body.writeUInt32BE(id, 0);
      body.writeUInt32BE(list.length, 4);
      list.forEach((e, i) => {
        body.writeBigUInt64BE(BigInt(e.length), 8 + 16 * i);
        body.writeBigUInt64BE(BigInt(e.flags), 16 + 16 * i);
      });
      return this.send(this.chunkHeader(req, flags, REPLY_TYPE.BLOCK_STATUS_EXT, body.length), body);
    }
    const body = Buffer.allocUnsafe(4 + 8 * list.length);
    body.writeUInt32BE(id, 0);
    list.forEach((e, i) => {
      body.writeUInt32BE(e.length, 4 + 8 * i);
      body.writeUInt32BE(e.flags, 8 + 8 * i);
    });
    return this.send(this.chunkHeader(req, flags, REPLY_TYPE.BLOCK_STATUS, body.length), body);
  }
}

function hex(n: number): string {
  return (n >>> 0).toString(16);
}

/**
 * Makes `nbd-server-start` listen for real: sets core.nbdListen / nbdUnlisten / exportClosing. When the
 * core already runs an NBD server (started before attaching), it listens at once.
 */
export function attachNbdServer(core: SimCore, opts: NbdServerOptions = {}): NbdServerHandle {
  const srv = new Server(core, opts);
  const listen = (addr: { type: string; data: Record<string, unknown> }) => srv.listen(addr);
  const unlisten = () => srv.unlisten();
  const closing = (exp: BlockExport) => srv.exportClosing(exp);
  core.nbdListen = listen;
  core.nbdUnlisten = unlisten;
  core.exportClosing = closing;
  if (core.nbd) srv.listen(core.nbd.addr);
  let closed: Promise<void> | undefined;
  return {
    close: () => {
      closed ??= (async () => {
        srv.unlisten();
        if (core.nbdListen === listen) core.nbdListen = undefined;
        if (core.nbdUnlisten === unlisten) core.nbdUnlisten = undefined;
        if (core.exportClosing === closing) core.exportClosing = undefined;
        await srv.stopped;
      })();
      return closed;
    },
    address: () => srv.address(),
    ready: () => srv.bound,
    connectionCount: () => srv.active + srv.pending.length,
  };
}

/** a tcp service name's port, as getaddrinfo finds it in /etc/services */
function serviceLookup(name: string): number | undefined {
  let text = '';
  try {
    text = fs.readFileSync('/etc/services', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(words[1] ?? '');
    if (m && (words[0] === name || words.slice(2).includes(name))) return Number(m[1]);
  }
  return undefined;
}
