/**
 * Our NBD client: fixed newstyle handshake (LIST, INFO, GO, STRUCTURED_REPLY, EXTENDED_HEADERS,
 * LIST/SET_META_CONTEXT), then requests with any number in flight, matched to replies by cookie.
 * Simple, structured and extended replies; block status for any negotiated context.
 *
 * Every handshake step and every request has a timeout; every failure is a typed NbdError
 * (nbd-errors.ts). Anything malformed from the server closes the connection and fails what is pending,
 * so a broken or hostile server can make calls fail but never hang or grow memory without bound.
 *
 * This file is the client's API and its transmission phase; nbd-socket.ts connects, nbd-handshake.ts
 * negotiates, nbd-replies.ts checks reply chunks.
 */
import {
  CMD,
  CMD_FLAG,
  EXTENDED_REPLY_MAGIC,
  EXTENDED_REQUEST_MAGIC,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u32,
  u64,
} from '../../contract/nbd.ts';
import { EofError } from '../../sim/serve/nbd/reader.ts';
import {
  NbdConnectionClosedError,
  NbdError,
  NbdOptionError,
  NbdProtocolError,
  NbdRequestError,
  NbdTimeoutError,
} from './nbd-errors.js';
import { type ExportInfo, NbdHandshake } from './nbd-handshake.ts';
import { applyChunk, checkCovered, type Extent, type Pending, placeRead, protocol } from './nbd-replies.ts';
import {
  type Connected,
  DEFAULT_TIMEOUT_MS,
  type NbdAddress,
  type NbdOptions,
  type ReplyMode,
} from './nbd-socket.ts';
import { cmdName, TX_FLAGS } from './nbd-wire.js';

export * from './nbd-errors.js';

/** largest reply chunk payload we accept by default: a 32 MiB read, or 2M block-status extents */
const DEFAULT_MAX_PAYLOAD = 64 << 20;

export interface ConnectOptions extends NbdOptions {
  exportName: string;
  /** SET_META_CONTEXT queries, e.g. ['base:allocation', 'qemu:dirty-bitmap:b0'] (needs structured replies) */
  metaContexts?: string[];
  /** NBD_INFO_* requested with GO (default: NAME, DESCRIPTION, BLOCK_SIZE) */
  infoRequests?: number[];
}

export interface RequestOptions {
  timeoutMs?: number;
  /** for reads: the buffer to fill */
  into?: Buffer;
}

/** A connection in the transmission phase. */
export class NbdClient {
  private readonly pending = new Map<bigint, Pending>();
  private readonly queue: (() => void)[] = [];
  private inFlight = 0;
  private nextCookie = 1n;
  private failure: NbdError | undefined;
  private readonly idToContext = new Map<number, string>();
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly maxPayload: number;
  private readonly closedPromise: Promise<void>;

  /** connect, negotiate replies and contexts, and GO (falls back to EXPORT_NAME for GO-less servers) */
  static async connect(address: NbdAddress, opts: ConnectOptions): Promise<NbdClient> {
    const hs = await NbdHandshake.open(address, opts);
    try {
      if (!hs.fixedNewstyle) return await hs.exportName(opts.exportName);
      await hs.negotiateReplies(opts.replies ?? 'auto');
      if (opts.metaContexts?.length) await hs.setMetaContexts(opts.exportName, opts.metaContexts);
      try {
        return await hs.go(opts.exportName, opts.infoRequests);
      } catch (e) {
        if (e instanceof NbdOptionError && e.replyName === 'NBD_REP_ERR_UNSUP')
          return await hs.exportName(opts.exportName);
        throw e;
      }
    } catch (e) {
      hs.close();
      throw e;
    }
  }

  constructor(
    private readonly c: Connected,
    readonly exportName: string,
    readonly info: ExportInfo,
    readonly mode: ReplyMode,
    /** negotiated meta contexts: name → id */
    readonly contexts: Map<string, number>,
    opts: NbdOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 64);
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    for (const [n, id] of contexts) this.idToContext.set(id, n);
    this.closedPromise = new Promise((resolve) => {
      if (c.sock.destroyed) resolve();
      else c.sock.once('close', () => resolve());
    });
    void this.loop();
  }

  get size(): number {
    return this.info.size;
  }

  get flags(): number {
    return this.info.flags;
  }

  get readOnly(): boolean {
    return (this.info.flags & TX_FLAGS.READ_ONLY) !== 0;
  }

  /** true once the connection is gone (closed by either side or failed) */
  get isClosed(): boolean {
    return this.failure !== undefined;
  }

  /** resolves when the socket has closed */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  // ------------------------------------------------------------------ commands

  /**
   * Read `length` bytes. `into`: a buffer of at least `length` bytes to fill (and return a view of)
   * instead of allocating one; it must not be touched until the promise settles.
   */
  async read(
    offset: number,
    length: number,
    opts: RequestOptions & { df?: boolean; fua?: boolean; into?: Buffer } = {},
  ): Promise<Buffer> {
    let flags = 0;
    if (opts.df) flags |= CMD_FLAG.DF;
    if (opts.fua) flags |= CMD_FLAG.FUA;
    if (opts.into && opts.into.length < length) throw new RangeError('read: `into` is shorter than the read');
    const into = opts.into?.subarray(0, length);
    return (await this.request(CMD.READ, flags, offset, length, undefined, { ...opts, into })) as Buffer;
  }

  async write(
    offset: number,
    data: Uint8Array,
    opts: RequestOptions & { fua?: boolean } = {},
  ): Promise<void> {
    let flags = opts.fua ? CMD_FLAG.FUA : 0;
    if (this.mode === 'extended') flags |= CMD_FLAG.PAYLOAD_LEN;
    await this.request(CMD.WRITE, flags, offset, data.length, data, opts);
  }

  async writeZeroes(
    offset: number,
    length: number,
    opts: RequestOptions & { fua?: boolean; noHole?: boolean; fastZero?: boolean } = {},
  ): Promise<void> {
    let flags = 0;
    if (opts.fua) flags |= CMD_FLAG.FUA;
    if (opts.noHole) flags |= CMD_FLAG.NO_HOLE;
    if (opts.fastZero) flags |= CMD_FLAG.FAST_ZERO;
    await this.request(CMD.WRITE_ZEROES, flags, offset, length, undefined, opts);
  }

  async trim(offset: number, length: number, opts: RequestOptions & { fua?: boolean } = {}): Promise<void> {
    await this.request(CMD.TRIM, opts.fua ? CMD_FLAG.FUA : 0, offset, length, undefined, opts);
  }

  async flush(opts: RequestOptions = {}): Promise<void> {
    await this.request(CMD.FLUSH, 0, 0, 0, undefined, opts);
  }

  async cache(offset: number, length: number, opts: RequestOptions = {}): Promise<void> {
    await this.request(CMD.CACHE, 0, offset, length, undefined, opts);
  }

  /**
   * Block status for every negotiated context (or, with extended headers and a server that allows it,
   * only `contexts`). Extents carry absolute offsets.
   */
  async blockStatus(
    offset: number,
    length: number,
    opts: RequestOptions & { reqOne?: boolean; contexts?: string[] } = {},
  ): Promise<Map<string, Extent[]>> {
    let flags = opts.reqOne ? CMD_FLAG.REQ_ONE : 0;
    let payload: Buffer | undefined;
    let len = length;
    if (opts.contexts) {
      if (this.mode !== 'extended' || !(this.info.flags & TX_FLAGS.BLOCK_STAT_PAYLOAD))
        throw new NbdError(
          'choosing contexts per request needs extended headers and NBD_FLAG_BLOCK_STAT_PAYLOAD',
        );
      const ids = opts.contexts.map((n) => {
        const id = this.contexts.get(n);
        if (id === undefined) throw new NbdError(`meta context '${n}' was not negotiated`);
        return u32(id);
      });
      payload = Buffer.concat([u64(length), ...ids]);
      flags |= CMD_FLAG.PAYLOAD_LEN;
      len = payload.length;
    }
    const r = (await this.request(CMD.BLOCK_STATUS, flags, offset, len, payload, opts, length)) as Map<
      string,
      Extent[]
    >;
    return r;
  }

  /**
   * Send any request (for tests that probe a server): `length` is the header's length field, `payload`
   * follows the header. Resolves with the read bytes, the block-status map, or undefined.
   */
  request(
    type: number,
    flags: number,
    offset: number | bigint,
    length: number | bigint,
    payload?: Uint8Array,
    opts: RequestOptions = {},
    effectLength?: number,
  ): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const off = BigInt(offset);
    const len = BigInt(length);
    if (off < 0n || len < 0n) return Promise.reject(new RangeError('negative offset or length'));
    if (this.mode !== 'extended' && len > 0xffffffffn)
      return Promise.reject(new RangeError('length does not fit in 32 bits without extended headers'));
    if (type === CMD.READ && len > BigInt(this.maxPayload))
      return Promise.reject(new RangeError(`read of ${len} bytes exceeds maxPayload`));
    const cookie = this.nextCookie++;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        cookie,
        type,
        offset: Number(off),
        length: effectLength ?? Number(len),
        pieces: [],
        timer: undefined,
        abandoned: false,
        resolve,
        reject,
      };
      // a caller's buffer is not cleared first: a successful reply covers every byte of it
      if (type === CMD.READ) p.buf = opts.into ?? Buffer.alloc(Number(len));
      if (type === CMD.BLOCK_STATUS) p.extents = new Map();
      p.timer = setTimeout(() => {
        p.timer = undefined;
        p.abandoned = true;
        const i = this.queue.indexOf(send);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new NbdTimeoutError(`NBD ${cmdName(type)} at ${off} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const send = (): void => {
        if (this.failure) {
          this.settle(p, this.failure);
          return;
        }
        if (type !== CMD.DISC) {
          this.pending.set(cookie, p);
          this.inFlight++;
        }
        this.c.sock.write(this.header(type, flags, cookie, off, len));
        if (payload?.length) this.c.sock.write(payload);
        if (type === CMD.DISC) this.settle(p, undefined, undefined);
      };
      if (this.inFlight < this.maxInFlight && this.queue.length === 0) send();
      else this.queue.push(send);
    });
  }

  private header(type: number, flags: number, cookie: bigint, offset: bigint, length: bigint): Buffer {
    if (this.mode === 'extended') {
      const b = Buffer.allocUnsafe(32);
      b.writeUInt32BE(EXTENDED_REQUEST_MAGIC, 0);
      b.writeUInt16BE(flags, 4);
      b.writeUInt16BE(type, 6);
      b.writeBigUInt64BE(cookie, 8);
      b.writeBigUInt64BE(offset, 16);
      b.writeBigUInt64BE(length, 24);
      return b;
    }
    const b = Buffer.allocUnsafe(28);
    b.writeUInt32BE(REQUEST_MAGIC, 0);
    b.writeUInt16BE(flags, 4);
    b.writeUInt16BE(type, 6);
    b.writeBigUInt64BE(cookie, 8);
    b.writeBigUInt64BE(offset, 16);
    b.writeUInt32BE(Number(length), 24);
    return b;
  }

  private settle(p: Pending, err: Error | undefined, value?: unknown): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    if (this.pending.get(p.cookie) === p) {
      this.pending.delete(p.cookie);
      this.inFlight--;
    }
    if (!p.abandoned) {
      p.abandoned = true;
      if (err) p.reject(err);
      else p.resolve(value);
    }
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) this.queue.shift()!();
  }

  /** Wait for what is in flight, send NBD_CMD_DISC and close. */
  async disconnect(opts: RequestOptions = {}): Promise<void> {
    if (this.failure) return;
    const waits = [...this.pending.values()].map(
      (p) =>
        new Promise<void>((r) => {
          const done = p.resolve;
          const fail = p.reject;
          p.resolve = (v) => {
            done(v);
            r();
          };
          p.reject = (e) => {
            fail(e);
            r();
          };
        }),
    );
    await Promise.all(waits);
    if (!this.failure) {
      await this.request(CMD.DISC, 0, 0, 0, undefined, opts).catch(() => undefined);
      this.c.sock.end();
      const t = setTimeout(() => this.c.sock.destroy(), opts.timeoutMs ?? this.timeoutMs);
      await this.closedPromise;
      clearTimeout(t);
    }
    this.fail(new NbdConnectionClosedError('the client disconnected'));
  }

  /** Close now: pending requests fail with NbdConnectionClosedError. */
  close(): void {
    this.fail(new NbdConnectionClosedError('the client closed the connection'));
  }

  private fail(err: NbdError): void {
    if (!this.failure) this.failure = err;
    this.c.sock.destroy();
    for (const p of [...this.pending.values()]) this.settle(p, this.failure);
    for (const send of this.queue.splice(0)) send();
  }

  // ------------------------------------------------------------------ replies

  private async loop(): Promise<void> {
    const r = this.c.reader;
    try {
      for (;;) {
        const m = r.tryRead(4) ?? (await r.read(4));
        const magic = m.readUInt32BE(0);
        if (magic === SIMPLE_REPLY_MAGIC) await this.simpleReply();
        else if (magic === STRUCTURED_REPLY_MAGIC && this.mode === 'structured') await this.chunk(false);
        else if (magic === EXTENDED_REPLY_MAGIC && this.mode === 'extended') await this.chunk(true);
        else protocol(`bad reply magic 0x${magic.toString(16)}`);
      }
    } catch (e) {
      if (e instanceof EofError) {
        this.fail(
          new NbdConnectionClosedError(
            e.partial
              ? 'the server closed the connection in the middle of a reply'
              : 'the server closed the connection',
          ),
        );
      } else if (e instanceof NbdError) {
        this.fail(e);
      } else {
        this.fail(
          new NbdProtocolError(`reply handling failed: ${e instanceof Error ? e.message : String(e)}`),
        );
      }
    }
  }

  private async readN(n: number): Promise<Buffer> {
    const r = this.c.reader;
    return r.tryRead(n) ?? r.read(n);
  }

  private lookup(cookie: bigint): Pending {
    const p = this.pending.get(cookie);
    if (!p) protocol(`reply for unknown cookie ${cookie}`);
    return p;
  }

  private async simpleReply(): Promise<void> {
    if (this.mode === 'extended') protocol('simple reply while extended headers are in use');
    const h = await this.readN(12);
    const error = h.readUInt32BE(0);
    const p = this.lookup(h.readBigUInt64BE(4));
    if (error !== 0) {
      this.settle(p, new NbdRequestError(cmdName(p.type), error, undefined));
      return;
    }
    if (p.type === CMD.READ) {
      if (this.mode !== 'simple')
        protocol('simple reply with data to a read while structured replies are in use');
      await this.c.reader.readInto(p.buf!, 0, p.length);
      this.settle(p, undefined, p.buf);
      return;
    }
    this.settle(p, undefined, p.type === CMD.BLOCK_STATUS ? p.extents : undefined);
  }

  private async chunk(extended: boolean): Promise<void> {
    const h = await this.readN(extended ? 28 : 16);
    const flags = h.readUInt16BE(0);
    const type = h.readUInt16BE(2);
    const cookie = h.readBigUInt64BE(4);
    let length: number;
    if (extended) {
      const l = h.readBigUInt64BE(20);
      if (l > BigInt(this.maxPayload)) protocol(`reply chunk of ${l} bytes exceeds the limit`);
      length = Number(l);
    } else {
      length = h.readUInt32BE(12);
      if (length > this.maxPayload) protocol(`reply chunk of ${length} bytes exceeds the limit`);
    }
    const p = this.lookup(cookie);
    if (type === REPLY_TYPE.OFFSET_DATA && p.type === CMD.READ && length > 8) {
      // data goes straight into the read's buffer
      const at = (await this.readN(8)).readBigUInt64BE(0);
      const n = length - 8;
      placeRead(p, at, n);
      await this.c.reader.readInto(p.buf!, Number(at) - p.offset, n);
    } else {
      const body = await this.readN(length);
      applyChunk(p, type, body, extended, this.idToContext);
    }
    if (flags & REPLY_FLAG_DONE) {
      if (p.error) return this.settle(p, p.error);
      if (p.type === CMD.READ) {
        checkCovered(p);
        return this.settle(p, undefined, p.buf);
      }
      this.settle(p, undefined, p.type === CMD.BLOCK_STATUS ? p.extents : undefined);
    }
  }
}
