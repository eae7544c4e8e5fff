/**
 * The client's option phase (fixed newstyle: LIST, INFO, GO, STRUCTURED_REPLY, EXTENDED_HEADERS,
 * LIST/SET_META_CONTEXT, ABORT, and the old EXPORT_NAME), each step under a timeout; GO or EXPORT_NAME
 * hands the socket to an NbdClient for transmission.
 */
import {
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  optionRequest,
  parseOptionReplyHeader,
  REP,
  u16,
  u32,
} from '../../contract/nbd.ts';
import { EofError } from '../../sim/serve/nbd/reader.ts';
import { NbdClient } from './nbd-client.ts';
import { NbdConnectionClosedError, NbdOptionError, NbdProtocolError, NbdTimeoutError } from './nbd-errors.js';
import {
  type Connected,
  connectSocket,
  DEFAULT_TIMEOUT_MS,
  type NbdAddress,
  type NbdOptions,
  type ReplyMode,
} from './nbd-socket.ts';
import {
  HS_FLAG_FIXED_NEWSTYLE,
  HS_FLAG_NO_ZEROES,
  lstring,
  OLDSTYLE_MAGIC,
  optName,
  REP_ERR_BIT,
} from './nbd-wire.js';

/** largest option reply we accept (names and messages are at most 4096 bytes) */
const MAX_OPTION_REPLY = 1 << 20;

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
