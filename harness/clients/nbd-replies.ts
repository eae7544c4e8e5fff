/**
 * Reading the server's replies to a request: the chunks of structured and extended replies (data, holes,
 * errors, block status) checked against the request they answer, so that a read is covered exactly once
 * and block status names only negotiated contexts. Anything else is an NbdProtocolError.
 */
import { CMD, REPLY_TYPE } from '../../contract/nbd.ts';
import { NbdProtocolError, NbdRequestError } from './nbd-errors.js';
import { cmdName } from './nbd-wire.js';

export interface Extent {
  offset: number;
  length: number;
  flags: number;
}

/** a request waiting for its replies */
export interface Pending {
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

export function protocol(msg: string): never {
  throw new NbdProtocolError(msg);
}

export function applyChunk(
  p: Pending,
  type: number,
  body: Buffer,
  extended: boolean,
  idToContext: Map<number, string>,
): void {
  switch (type) {
    case REPLY_TYPE.NONE:
      if (body.length !== 0) protocol('NBD_REPLY_TYPE_NONE with a payload');
      return;
    case REPLY_TYPE.ERROR:
    case REPLY_TYPE.ERROR_OFFSET: {
      if (body.length < 6) protocol('error chunk too short');
      const code = body.readUInt32BE(0);
      const ml = body.readUInt16BE(4);
      const want = 6 + ml + (type === REPLY_TYPE.ERROR_OFFSET ? 8 : 0);
      if (body.length !== want) protocol('error chunk of inconsistent length');
      if (code === 0) protocol('error chunk with error 0');
      const msg = body.subarray(6, 6 + ml).toString('utf8');
      const at = type === REPLY_TYPE.ERROR_OFFSET ? Number(body.readBigUInt64BE(6 + ml)) : undefined;
      p.error ??= new NbdRequestError(cmdName(p.type), code, msg, at);
      return;
    }
    case REPLY_TYPE.OFFSET_DATA: {
      if (p.type !== CMD.READ) protocol(`data chunk in reply to ${cmdName(p.type)}`);
      if (body.length < 9) protocol('data chunk too short');
      const at = body.readBigUInt64BE(0);
      const n = body.length - 8;
      placeRead(p, at, n);
      body.copy(p.buf!, Number(at) - p.offset, 8);
      return;
    }
    case REPLY_TYPE.OFFSET_HOLE: {
      if (p.type !== CMD.READ) protocol(`hole chunk in reply to ${cmdName(p.type)}`);
      if (body.length !== 12) protocol('hole chunk of the wrong length');
      const at = body.readBigUInt64BE(0);
      const n = body.readUInt32BE(8);
      if (n === 0) protocol('empty hole chunk');
      placeRead(p, at, n);
      p.buf!.fill(0, Number(at) - p.offset, Number(at) - p.offset + n);
      return;
    }
    case REPLY_TYPE.BLOCK_STATUS:
    case REPLY_TYPE.BLOCK_STATUS_EXT: {
      if (p.type !== CMD.BLOCK_STATUS) protocol(`block status chunk in reply to ${cmdName(p.type)}`);
      const ext = type === REPLY_TYPE.BLOCK_STATUS_EXT;
      if (ext !== extended) protocol('block status chunk of the wrong width for the header mode');
      placeExtents(p, body, ext, idToContext);
      return;
    }
    default:
      if (type & 0x8000) {
        // an error type we do not know: still an error, the spec says
        if (body.length < 6) protocol('error chunk too short');
        p.error ??= new NbdRequestError(cmdName(p.type), body.readUInt32BE(0), undefined);
        return;
      }
      protocol(`unknown reply chunk type ${type}`);
  }
}

export function placeRead(p: Pending, at: bigint, n: number): void {
  const start = BigInt(p.offset);
  if (at < start || at + BigInt(n) > start + BigInt(p.length)) protocol('read chunk outside the request');
  if (p.pieces.length >= 1 << 20) protocol('too many chunks in one read reply');
  p.pieces.push([Number(at), n]);
}

/** the chunks of a successful read must cover it exactly once */
export function checkCovered(p: Pending): void {
  const pieces = p.pieces.sort((a, b) => a[0] - b[0]);
  let pos = p.offset;
  for (const [at, n] of pieces) {
    if (at !== pos) protocol(at < pos ? 'read chunks overlap' : `read reply leaves a gap at ${pos}`);
    pos = at + n;
  }
  if (pos !== p.offset + p.length) protocol(`read reply covers ${pos - p.offset} of ${p.length} bytes`);
}

function placeExtents(p: Pending, body: Buffer, ext: boolean, idToContext: Map<number, string>): void {
  if (body.length < 4) protocol('block status chunk too short');
  const id = body.readUInt32BE(0);
  const name = idToContext.get(id);
  if (name === undefined) protocol(`block status for context id ${id}, which was not negotiated`);
  if (p.extents!.has(name)) protocol(`two block status chunks for ${name}`);
  const list: Extent[] = [];
  let pos = p.offset;
  if (ext) {
    if (body.length < 8) protocol('block status chunk too short');
    const count = body.readUInt32BE(4);
    if (body.length !== 8 + 16 * count || count === 0) protocol('block status chunk of inconsistent length');
    for (let i = 0; i < count; i++) {
      const l = body.readBigUInt64BE(8 + 16 * i);
      const f = body.readBigUInt64BE(16 + 16 * i);
      if (l === 0n || l > BigInt(Number.MAX_SAFE_INTEGER)) protocol('bad extent length');
      list.push({ offset: pos, length: Number(l), flags: Number(f & 0xffffffffn) });
      pos += Number(l);
    }
  } else {
    if ((body.length - 4) % 8 !== 0 || body.length === 4)
      protocol('block status chunk of inconsistent length');
    for (let o = 4; o < body.length; o += 8) {
      const l = body.readUInt32BE(o);
      if (l === 0) protocol('zero-length extent');
      list.push({ offset: pos, length: l, flags: body.readUInt32BE(o + 4) });
      pos += l;
    }
  }
  p.extents!.set(name, list);
}
