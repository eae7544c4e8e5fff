/**
 * Our NBD client: fixed newstyle handshake (LIST, INFO, GO, STRUCTURED_REPLY, EXTENDED_HEADERS,
 * LIST/SET_META_CONTEXT), then requests with any number in flight, matched to replies by cookie.
 * Simple, structured and extended replies; block status for any negotiated context.
 *
 * Every handshake step and every request has a timeout; every failure is a typed NbdError
 * (nbd-errors.ts). Anything malformed from the server closes the connection and fails what is pending,
 * so a broken or hostile server can make calls fail but never hang or grow memory without bound.
 */
import net from 'node:net';
import {
  CMD,
  CMD_FLAG,
  EXTENDED_REPLY_MAGIC,
  EXTENDED_REQUEST_MAGIC,
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  optionRequest,
  parseOptionReplyHeader,
  REP,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u16,
  u32,
  u64,
} from '../../contract/nbd.ts';
import { ByteReader, EofError } from '../../sim/serve/nbd/reader.ts';
import {
  NbdConnectError,
  NbdConnectionClosedError,
  NbdError,
  NbdOptionError,
  NbdProtocolError,
  NbdRequestError,
  NbdTimeoutError,
} from './nbd-errors.js';
import {
  cmdName,
  HS_FLAG_FIXED_NEWSTYLE,
  HS_FLAG_NO_ZEROES,
  lstring,
  OLDSTYLE_MAGIC,
  optName,
  REP_ERR_BIT,
  TX_FLAGS,
} from './nbd-wire.js';

export * from './nbd-errors.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
/** largest option reply we accept (names and messages are at most 4096 bytes) */
const MAX_OPTION_REPLY = 1 << 20;
/** largest reply chunk payload we accept by default: a 32 MiB read, or 2M block-status extents */
const DEFAULT_MAX_PAYLOAD = 64 << 20;

/** A unix socket path, or a TCP host and port. */
export type NbdAddress = string | { path: string } | { host: string; port: number };

export type ReplyMode = 'simple' | 'structured' | 'extended';

export interface NbdOptions {
  /** each handshake step, and each request from submission to its last reply chunk */
  timeoutMs?: number;
  /**
   * 'auto' (default): extended headers when the server has them, else structured replies, else simple;
   * or exactly one mode (negotiation fails if the server refuses it).
   */
  replies?: 'auto' | ReplyMode;
  /** requests sent before their replies arrive; more wait in a queue (default 64) */
  maxInFlight?: number;
  /** biggest reply chunk payload accepted (default 64 MiB); larger is a protocol error */
  maxPayload?: number;
}

export interface ConnectOptions extends NbdOptions {
  exportName: string;
  /** SET_META_CONTEXT queries, e.g. ['base:allocation', 'qemu:dirty-bitmap:b0'] (needs structured replies) */
  metaContexts?: string[];
  /** NBD_INFO_* requested with GO (default: NAME, DESCRIPTION, BLOCK_SIZE) */
  infoRequests?: number[];
}

export interface BlockSizes {
  minimum: number;
  preferred: number;
  maximum: number;
}

export interface ExportInfo {
  size: number;
  /** transmission flags (TX_FLAGS) */
  flags: number;
  name?: string;
  description?: string;
  blockSize?: BlockSizes;
}

export interface ExportListing {
  name: string;
  description: string;
}

export interface MetaContext {
  id: number;
  name: string;
}

export interface OptionReply {
  type: number;
  data: Buffer;
}

export interface Extent {
  offset: number;
  length: number;
  flags: number;
}

type Connected = { sock: net.Socket; reader: ByteReader };

function describeAddress(a: NbdAddress): string {
  if (typeof a === 'string') return a;
  return 'path' in a ? a.path : `${a.host}:${a.port}`;
}

const READ_BUFFER = 256 * 1024;

/**
 * Connect; the socket reads into one reused buffer (`onread`) that feeds a ByteReader, so a stream of
 * large replies does not allocate per socket read.
 */
async function connectSocket(address: NbdAddress, timeoutMs: number): Promise<Connected> {
  const target =
    typeof address === 'string'
      ? { path: address }
      : 'path' in address
        ? { path: address.path }
        : { host: address.host, port: address.port };
  let reader: ByteReader | undefined;
  const early: Buffer[] = [];
  const opts = {
    ...target,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER),
      callback: (n: number, buf: Uint8Array): boolean => {
        const b = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (reader) return reader.feed(b);
        early.push(Buffer.from(b));
        return true;
      },
    },
  } as net.NetConnectOpts;
  return new Promise((resolve, reject) => {
    const sock = net.connect(opts);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new NbdTimeoutError(`connecting to ${describeAddress(address)} timed out after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.on('error', () => {});
      sock.setNoDelay(true);
      reader = new ByteReader(sock, 4 << 20, true);
      for (const b of early.splice(0)) reader.feed(b);
      resolve({ sock, reader });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new NbdConnectError(`cannot connect to ${describeAddress(address)}: ${e.message}`, e.code));
    });
  });
}

/** Parse `nbd+unix:///NAME?socket=PATH` or `nbd://HOST:PORT/NAME`. */
export function parseNbdUri(uri: string): { address: NbdAddress; exportName: string } {
  const u = new URL(uri);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol === 'nbd+unix:') {
    const socket = u.searchParams.get('socket');
    if (!socket) throw new Error(`${uri}: no socket= parameter`);
    return { address: { path: socket }, exportName: name };
  }
  if (u.protocol === 'nbd:' || u.protocol === 'nbd+tcp:')
    return { address: { host: u.hostname, port: u.port ? Number(u.port) : 10809 }, exportName: name };
  throw new Error(`${uri}: not an NBD URI`);
}

/**
 * The option phase of one connection. Ends with `go`/`exportName` (which hand the socket to an
 * NbdClient), `abort`, or `close`.
 */
export class NbdHandshake {
  /** server handshake flags (NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES) */
  serverFlags = 0;
  mode: ReplyMode = 'simple';
  /** contexts the last SET_META_CONTEXT selected, by name */
  readonly contexts = new Map<string, number>();
  private done = false;
  private readonly timeoutMs: number;

  private constructor(
    private readonly c: Connected,
    private readonly opts: NbdOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  static async open(address: NbdAddress, opts: NbdOptions = {}): Promise<NbdHandshake> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const hs = new NbdHandshake(await connectSocket(address, timeoutMs), opts);
    try {
      await hs.greet();
    } catch (e) {
      hs.close();
      throw e;
    }
    return hs;
  }

  get fixedNewstyle(): boolean {
    return (this.serverFlags & HS_FLAG_FIXED_NEWSTYLE) !== 0;
  }

  /** Drop the connection without a word. */
  close(): void {
    this.done = true;
    this.c.sock.destroy();
  }

  private async step<T>(p: Promise<T>, what: string, ms = this.timeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.c.sock.destroy();
        reject(new NbdTimeoutError(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
    });
    try {
      return await Promise.race([p, timeout]);
    } catch (e) {
      if (e instanceof EofError) {
        this.c.sock.destroy();
        throw new NbdConnectionClosedError(`connection closed while waiting for ${what}`);
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private read(n: number, what: string): Promise<Buffer> {
    return this.step(this.c.reader.read(n), what);
  }

  private protocol(msg: string): never {
    this.close();
    throw new NbdProtocolError(msg);
  }

  private async greet(): Promise<void> {
    const g = await this.read(16, 'the greeting');
    if (!g.subarray(0, 8).equals(NBDMAGIC)) this.protocol('not an NBD server: bad greeting magic');
    const magic = g.subarray(8, 16);
    if (magic.equals(OLDSTYLE_MAGIC)) this.protocol('oldstyle negotiation is not supported');
    if (!magic.equals(IHAVEOPT)) this.protocol('bad newstyle magic in the greeting');
    this.serverFlags = (await this.read(2, 'the handshake flags')).readUInt16BE(0);
    let flags = 0;
    if (this.serverFlags & HS_FLAG_FIXED_NEWSTYLE) flags |= HS_FLAG_FIXED_NEWSTYLE;
    if (this.serverFlags & HS_FLAG_NO_ZEROES) flags |= HS_FLAG_NO_ZEROES;
    this.c.sock.write(u32(flags));
  }

  private ensureOpen(): void {
    if (this.done) throw new NbdConnectionClosedError('the handshake is over');
  }

  private sendOption(opt: number, payload: Buffer): void {
    this.ensureOpen();
    this.c.sock.write(optionRequest(opt, payload));
  }

  private async readReply(opt: number): Promise<OptionReply> {
    const what = `the reply to ${optName(opt)}`;
    const { magic, option: echoed, type, length: len } = parseOptionReplyHeader(await this.read(20, what));
    if (!magic) this.protocol(`bad option reply magic in ${what}`);
    if (echoed !== opt) this.protocol(`${what} names option ${echoed}`);
    if (len > MAX_OPTION_REPLY) this.protocol(`${what} is too long (${len} bytes)`);
    const data = await this.read(len, what);
    return { type, data };
  }

  /**
   * Send one option and collect its replies up to the final one (an ACK or an error). Errors throw
   * NbdOptionError; the connection stays usable.
   */
  async option(opt: number, payload: Buffer = Buffer.alloc(0)): Promise<OptionReply[]> {
    if (!this.fixedNewstyle) this.protocol('the server does not do fixed newstyle: only NBD_OPT_EXPORT_NAME');
    this.sendOption(opt, payload);
    const replies: OptionReply[] = [];
    for (;;) {
      const r = await this.readReply(opt);
      if (r.type >>> 0 >= REP_ERR_BIT)
        throw new NbdOptionError(opt, optName(opt), r.type, r.data.toString('utf8'));
      if (r.type === REP.ACK) {
        if (r.data.length) this.protocol(`NBD_REP_ACK to ${optName(opt)} carries data`);
        return replies;
      }
      replies.push(r);
      if (replies.length > 100_000) this.protocol(`too many replies to ${optName(opt)}`);
    }
  }

  async list(): Promise<ExportListing[]> {
    const out: ExportListing[] = [];
    for (const r of await this.option(OPT.LIST)) {
      if (r.type !== REP.SERVER || r.data.length < 4) this.protocol('malformed NBD_REP_SERVER');
      const n = r.data.readUInt32BE(0);
      if (n > r.data.length - 4) this.protocol('malformed NBD_REP_SERVER: name longer than the reply');
      out.push({
        name: r.data.subarray(4, 4 + n).toString('utf8'),
        description: r.data.subarray(4 + n).toString('utf8'),
      });
    }
    return out;
  }

  private parseInfo(replies: OptionReply[], opt: number): ExportInfo {
    let info: ExportInfo | undefined;
    let name: string | undefined;
    let description: string | undefined;
    let blockSize: BlockSizes | undefined;
    for (const r of replies) {
      if (r.type !== REP.INFO) this.protocol(`unexpected ${r.type} reply to ${optName(opt)}`);
      if (r.data.length < 2) this.protocol('NBD_REP_INFO without a type');
      const t = r.data.readUInt16BE(0);
      const d = r.data.subarray(2);
      if (t === INFO.EXPORT) {
        if (d.length !== 10) this.protocol('NBD_INFO_EXPORT of the wrong length');
        const size = d.readBigUInt64BE(0);
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) this.protocol(`export size ${size} is beyond 2^53`);
        info = { size: Number(size), flags: d.readUInt16BE(8) };
      } else if (t === INFO.NAME) name = d.toString('utf8');
      else if (t === INFO.DESCRIPTION) description = d.toString('utf8');
      else if (t === INFO.BLOCK_SIZE) {
        if (d.length !== 12) this.protocol('NBD_INFO_BLOCK_SIZE of the wrong length');
        blockSize = { minimum: d.readUInt32BE(0), preferred: d.readUInt32BE(4), maximum: d.readUInt32BE(8) };
      }
    }
    if (!info) this.protocol(`${optName(opt)} ended without NBD_INFO_EXPORT`);
    if (name !== undefined) info.name = name;
    if (description !== undefined) info.description = description;
    if (blockSize) info.blockSize = blockSize;
    return info;
  }

  private infoPayload(name: string, requests: number[]): Buffer {
    return Buffer.concat([lstring(name), u16(requests.length), ...requests.map((r) => u16(r))]);
  }

  async info(
    name: string,
    requests: number[] = [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE],
  ): Promise<ExportInfo> {
    return this.parseInfo(await this.option(OPT.INFO, this.infoPayload(name, requests)), OPT.INFO);
  }

  async structuredReply(): Promise<void> {
    await this.option(OPT.STRUCTURED_REPLY);
    this.mode = 'structured';
  }

  async extendedHeaders(): Promise<void> {
    await this.option(OPT.EXTENDED_HEADERS);
    this.mode = 'extended';
  }

  /** Negotiate the reply mode: `auto` tries extended headers, then structured replies. */
  async negotiateReplies(want: 'auto' | ReplyMode = 'auto'): Promise<ReplyMode> {
    if (want === 'simple') return this.mode;
    if (want === 'extended' || want === 'auto') {
      try {
        await this.extendedHeaders();
        return this.mode;
      } catch (e) {
        if (want === 'extended' || !(e instanceof NbdOptionError)) throw e;
      }
    }
    try {
      await this.structuredReply();
    } catch (e) {
      if (want === 'structured' || !(e instanceof NbdOptionError)) throw e;
    }
    return this.mode;
  }

  private async metaContext(opt: number, name: string, queries: string[]): Promise<MetaContext[]> {
    const payload = Buffer.concat([lstring(name), u32(queries.length), ...queries.map(lstring)]);
    const out: MetaContext[] = [];
    for (const r of await this.option(opt, payload)) {
      if (r.type !== REP.META_CONTEXT || r.data.length < 4) this.protocol('malformed NBD_REP_META_CONTEXT');
      out.push({ id: r.data.readUInt32BE(0), name: r.data.subarray(4).toString('utf8') });
    }
    return out;
  }

  listMetaContexts(name: string, queries: string[] = []): Promise<MetaContext[]> {
    return this.metaContext(OPT.LIST_META_CONTEXT, name, queries);
  }

  async setMetaContexts(name: string, queries: string[]): Promise<MetaContext[]> {
    this.contexts.clear();
    const got = await this.metaContext(OPT.SET_META_CONTEXT, name, queries);
    for (const c of got) this.contexts.set(c.name, c.id);
    return got;
  }

  /** NBD_OPT_GO: on success the connection moves to transmission and belongs to the returned client. */
  async go(
    name: string,
    requests: number[] = [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE],
  ): Promise<NbdClient> {
    const info = this.parseInfo(await this.option(OPT.GO, this.infoPayload(name, requests)), OPT.GO);
    return this.handOver(name, info);
  }

  /** NBD_OPT_EXPORT_NAME (the old way into transmission; the server hangs up on an unknown name). */
  async exportName(name: string): Promise<NbdClient> {
    const b = Buffer.from(name, 'utf8');
    this.ensureOpen();
    this.c.sock.write(optionRequest(OPT.EXPORT_NAME, b));
    const zeroes = this.serverFlags & HS_FLAG_NO_ZEROES ? 0 : 124;
    const r = await this.read(10 + zeroes, `the reply to NBD_OPT_EXPORT_NAME '${name}'`);
    const size = r.readBigUInt64BE(0);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) this.protocol(`export size ${size} is beyond 2^53`);
    return this.handOver(name, { size: Number(size), flags: r.readUInt16BE(8), name });
  }

  private handOver(name: string, info: ExportInfo): NbdClient {
    this.done = true;
    return new NbdClient(this.c, name, info, this.mode, new Map(this.contexts), this.opts);
  }

  /** NBD_OPT_ABORT, then close (the server may hang up before acknowledging). */
  async abort(): Promise<void> {
    if (this.done) return;
    try {
      this.sendOption(OPT.ABORT, Buffer.alloc(0));
      // the ack is a courtesy: wait briefly, then hang up anyway
      await this.step(this.c.reader.read(20), 'the reply to NBD_OPT_ABORT', Math.min(this.timeoutMs, 500));
    } catch {
      // a server may close without the ack: that is allowed
    } finally {
      this.close();
    }
  }
}

interface Pending {
  cookie: bigint;
  type: number;
  offset: number;
  length: number;
  buf?: Buffer;
  /** the [offset, length] pieces of a read that chunks have filled */
  pieces: [number, number][];
  extents?: Map<string, Extent[]>;
  error?: NbdRequestError;
  timer: NodeJS.Timeout | undefined;
  abandoned: boolean;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
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

  private protocol(msg: string): never {
    throw new NbdProtocolError(msg);
  }

  private async loop(): Promise<void> {
    const r = this.c.reader;
    try {
      for (;;) {
        const m = r.tryRead(4) ?? (await r.read(4));
        const magic = m.readUInt32BE(0);
        if (magic === SIMPLE_REPLY_MAGIC) await this.simpleReply();
        else if (magic === STRUCTURED_REPLY_MAGIC && this.mode === 'structured') await this.chunk(false);
        else if (magic === EXTENDED_REPLY_MAGIC && this.mode === 'extended') await this.chunk(true);
        else this.protocol(`bad reply magic 0x${magic.toString(16)}`);
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
    if (!p) this.protocol(`reply for unknown cookie ${cookie}`);
    return p;
  }

  private async simpleReply(): Promise<void> {
    if (this.mode === 'extended') this.protocol('simple reply while extended headers are in use');
    const h = await this.readN(12);
    const error = h.readUInt32BE(0);
    const p = this.lookup(h.readBigUInt64BE(4));
    if (error !== 0) {
      this.settle(p, new NbdRequestError(cmdName(p.type), error, undefined));
      return;
    }
    if (p.type === CMD.READ) {
      if (this.mode !== 'simple')
        this.protocol('simple reply with data to a read while structured replies are in use');
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
      if (l > BigInt(this.maxPayload)) this.protocol(`reply chunk of ${l} bytes exceeds the limit`);
      length = Number(l);
    } else {
      length = h.readUInt32BE(12);
      if (length > this.maxPayload) this.protocol(`reply chunk of ${length} bytes exceeds the limit`);
    }
    const p = this.lookup(cookie);
    if (type === REPLY_TYPE.OFFSET_DATA && p.type === CMD.READ && length > 8) {
      // data goes straight into the read's buffer
      const at = (await this.readN(8)).readBigUInt64BE(0);
      const n = length - 8;
      this.placeRead(p, at, n);
      await this.c.reader.readInto(p.buf!, Number(at) - p.offset, n);
    } else {
      const body = await this.readN(length);
      this.applyChunk(p, type, body, extended);
    }
    if (flags & REPLY_FLAG_DONE) {
      if (p.error) return this.settle(p, p.error);
      if (p.type === CMD.READ) {
        this.checkCovered(p);
        return this.settle(p, undefined, p.buf);
      }
      this.settle(p, undefined, p.type === CMD.BLOCK_STATUS ? p.extents : undefined);
    }
  }

  private applyChunk(p: Pending, type: number, body: Buffer, extended: boolean): void {
    switch (type) {
      case REPLY_TYPE.NONE:
        if (body.length !== 0) this.protocol('NBD_REPLY_TYPE_NONE with a payload');
        return;
      case REPLY_TYPE.ERROR:
      case REPLY_TYPE.ERROR_OFFSET: {
        if (body.length < 6) this.protocol('error chunk too short');
        const code = body.readUInt32BE(0);
        const ml = body.readUInt16BE(4);
        const want = 6 + ml + (type === REPLY_TYPE.ERROR_OFFSET ? 8 : 0);
        if (body.length !== want) this.protocol('error chunk of inconsistent length');
        if (code === 0) this.protocol('error chunk with error 0');
        const msg = body.subarray(6, 6 + ml).toString('utf8');
        const at = type === REPLY_TYPE.ERROR_OFFSET ? Number(body.readBigUInt64BE(6 + ml)) : undefined;
        p.error ??= new NbdRequestError(cmdName(p.type), code, msg, at);
        return;
      }
      case REPLY_TYPE.OFFSET_DATA: {
        if (p.type !== CMD.READ) this.protocol(`data chunk in reply to ${cmdName(p.type)}`);
        if (body.length < 9) this.protocol('data chunk too short');
        const at = body.readBigUInt64BE(0);
        const n = body.length - 8;
        this.placeRead(p, at, n);
        body.copy(p.buf!, Number(at) - p.offset, 8);
        return;
      }
      case REPLY_TYPE.OFFSET_HOLE: {
        if (p.type !== CMD.READ) this.protocol(`hole chunk in reply to ${cmdName(p.type)}`);
        if (body.length !== 12) this.protocol('hole chunk of the wrong length');
        const at = body.readBigUInt64BE(0);
        const n = body.readUInt32BE(8);
        if (n === 0) this.protocol('empty hole chunk');
        this.placeRead(p, at, n);
        p.buf!.fill(0, Number(at) - p.offset, Number(at) - p.offset + n);
        return;
      }
      case REPLY_TYPE.BLOCK_STATUS:
      case REPLY_TYPE.BLOCK_STATUS_EXT: {
        if (p.type !== CMD.BLOCK_STATUS) this.protocol(`block status chunk in reply to ${cmdName(p.type)}`);
        const ext = type === REPLY_TYPE.BLOCK_STATUS_EXT;
        if (ext !== extended) this.protocol('block status chunk of the wrong width for the header mode');
        this.placeExtents(p, body, ext);
        return;
      }
      default:
        if (type & 0x8000) {
          // an error type we do not know: still an error, the spec says
          if (body.length < 6) this.protocol('error chunk too short');
          p.error ??= new NbdRequestError(cmdName(p.type), body.readUInt32BE(0), undefined);
          return;
        }
        this.protocol(`unknown reply chunk type ${type}`);
    }
  }

  private placeRead(p: Pending, at: bigint, n: number): void {
    const start = BigInt(p.offset);
    if (at < start || at + BigInt(n) > start + BigInt(p.length))
      this.protocol('read chunk outside the request');
    if (p.pieces.length >= 1 << 20) this.protocol('too many chunks in one read reply');
    p.pieces.push([Number(at), n]);
  }

  /** the chunks of a successful read must cover it exactly once */
  private checkCovered(p: Pending): void {
    const pieces = p.pieces.sort((a, b) => a[0] - b[0]);
    let pos = p.offset;
    for (const [at, n] of pieces) {
      if (at !== pos) this.protocol(at < pos ? 'read chunks overlap' : `read reply leaves a gap at ${pos}`);
      pos = at + n;
    }
    if (pos !== p.offset + p.length)
      this.protocol(`read reply covers ${pos - p.offset} of ${p.length} bytes`);
  }

  private placeExtents(p: Pending, body: Buffer, ext: boolean): void {
    if (body.length < 4) this.protocol('block status chunk too short');
    const id = body.readUInt32BE(0);
    const name = this.idToContext.get(id);
    if (name === undefined) this.protocol(`block status for context id ${id}, which was not negotiated`);
    if (p.extents!.has(name)) this.protocol(`two block status chunks for ${name}`);
    const list: Extent[] = [];
    let pos = p.offset;
    if (ext) {
      if (body.length < 8) this.protocol('block status chunk too short');
      const count = body.readUInt32BE(4);
      if (body.length !== 8 + 16 * count || count === 0)
        this.protocol('block status chunk of inconsistent length');
      for (let i = 0; i < count; i++) {
        const l = body.readBigUInt64BE(8 + 16 * i);
        const f = body.readBigUInt64BE(16 + 16 * i);
        if (l === 0n || l > BigInt(Number.MAX_SAFE_INTEGER)) this.protocol('bad extent length');
        list.push({ offset: pos, length: Number(l), flags: Number(f & 0xffffffffn) });
        pos += Number(l);
      }
    } else {
      if ((body.length - 4) % 8 !== 0 || body.length === 4)
        this.protocol('block status chunk of inconsistent length');
      for (let o = 4; o < body.length; o += 8) {
        const l = body.readUInt32BE(o);
        if (l === 0) this.protocol('zero-length extent');
        list.push({ offset: pos, length: l, flags: body.readUInt32BE(o + 4) });
        pos += l;
      }
    }
    p.extents!.set(name, list);
  }
}
