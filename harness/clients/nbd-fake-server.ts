/**
 * A scriptable NBD server for testing the client: each connection goes to `onConnection`, which writes
 * whatever it likes. Helpers do the common good parts (greeting, option replies, a GO) so that a test
 * can break the protocol exactly where it wants.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  optionReply,
  parseOptionHeader,
  REP,
  u16,
  u32,
  u64,
} from '../../contract/nbd.ts';
import { ByteReader } from '../../sim/serve/nbd/reader.ts';

export interface FakeNbdServer {
  path: string;
  /** connections accepted so far */
  accepted(): number;
  /** connections still open */
  open(): number;
  close(): Promise<void>;
}

export interface FakeConn {
  sock: net.Socket;
  reader: ByteReader;
}

export async function startFakeNbdServer(
  onConnection: (c: FakeConn) => void | Promise<void>,
): Promise<FakeNbdServer> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-nbd-fake-'));
  const sockPath = path.join(dir, 'nbd.sock');
  const socks = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((sock) => {
    accepted++;
    socks.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => socks.delete(sock));
    const c = { sock, reader: new ByteReader(sock, 1 << 20) };
    Promise.resolve()
      .then(() => onConnection(c))
      .catch(() => sock.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    path: sockPath,
    accepted: () => accepted,
    open: () => socks.size,
    close: () => {
      closing ??= (async () => {
        for (const s of socks) s.destroy();
        await new Promise<void>((r) => server.close(() => r()));
        await fs.promises.rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** newstyle greeting with FIXED_NEWSTYLE | NO_ZEROES; then reads the client's flags */
export async function greet(c: FakeConn, flags = 3): Promise<number> {
  c.sock.write(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(flags)]));
  return (await c.reader.read(4)).readUInt32BE(0);
}

export interface ClientOption {
  option: number;
  data: Buffer;
}

export async function readOption(c: FakeConn): Promise<ClientOption> {
  const { option, length } = parseOptionHeader(await c.reader.read(16));
  return { option, data: await c.reader.read(length) };
}

/**
 * Answer options like a minimal server until GO: extended headers are refused unless `extended`,
 * structured replies accepted, meta contexts get base:allocation as id 0, GO gets a 1 MiB export.
 * Resolves with the reply mode the client ended up in.
 */
export async function serveHandshake(
  c: FakeConn,
  opts: { size?: number; flags?: number; extended?: boolean } = {},
): Promise<'simple' | 'structured' | 'extended'> {
  await greet(c);
  let mode: 'simple' | 'structured' | 'extended' = 'simple';
  for (;;) {
    const o = await readOption(c);
    switch (o.option) {
      case OPT.EXTENDED_HEADERS:
        if (opts.extended) {
          mode = 'extended';
          c.sock.write(optionReply(o.option, REP.ACK));
        } else c.sock.write(optionReply(o.option, 0x80000001, Buffer.from('no')));
        break;
      case OPT.STRUCTURED_REPLY:
        mode = 'structured';
        c.sock.write(optionReply(o.option, REP.ACK));
        break;
      case OPT.SET_META_CONTEXT:
        c.sock.write(
          Buffer.concat([
            optionReply(o.option, REP.META_CONTEXT, Buffer.concat([u32(0), Buffer.from('base:allocation')])),
            optionReply(o.option, REP.ACK),
          ]),
        );
        break;
      case OPT.GO:
        c.sock.write(
          Buffer.concat([
            optionReply(
              o.option,
              REP.INFO,
              Buffer.concat([u16(INFO.EXPORT), u64(opts.size ?? 1 << 20), u16(opts.flags ?? 0x1)]),
            ),
            optionReply(o.option, REP.ACK),
          ]),
        );
        return mode;
      default:
        c.sock.write(optionReply(o.option, 0x80000001));
    }
  }
}

/** Read one compact (28-byte) or extended (32-byte) request header, and a WRITE payload. */
export async function readRequest(
  c: FakeConn,
  extended = false,
): Promise<{ flags: number; type: number; cookie: bigint; offset: bigint; length: bigint }> {
  const h = await c.reader.read(extended ? 32 : 28);
  const r = {
    flags: h.readUInt16BE(4),
    type: h.readUInt16BE(6),
    cookie: h.readBigUInt64BE(8),
    offset: h.readBigUInt64BE(16),
    length: extended ? h.readBigUInt64BE(24) : BigInt(h.readUInt32BE(24)),
  };
  if (r.type === 1) await c.reader.skip(Number(r.length));
  return r;
}
