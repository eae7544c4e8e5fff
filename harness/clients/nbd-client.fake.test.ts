/**
 * The NBD client against a scripted server: replies out of order, chunked reads, timeouts, and each
 * way a server can break the protocol.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  optionReply,
  REPLY_TYPE,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u16,
  u32,
  u64,
} from '../../contract/nbd.ts';
import {
  NbdClient,
  NbdConnectError,
  NbdConnectionClosedError,
  NbdOptionError,
  NbdProtocolError,
  NbdRequestError,
  NbdTimeoutError,
} from './nbd-client.js';
import {
  type FakeConn,
  type FakeNbdServer,
  greet,
  readOption,
  readRequest,
  serveHandshake,
  startFakeNbdServer,
} from './nbd-fake-server.js';
import { NbdHandshake } from './nbd-handshake.ts';

let server: FakeNbdServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function fake(fn: (c: FakeConn) => Promise<void>): Promise<FakeNbdServer> {
  server = await startFakeNbdServer(fn);
  return server;
}

function simple(cookie: bigint, error = 0, data?: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  h.writeUInt32BE(error, 4);
  h.writeBigUInt64BE(cookie, 8);
  return data ? Buffer.concat([h, data]) : h;
}

function chunk(cookie: bigint, flags: number, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  h.writeUInt16BE(flags, 4);
  h.writeUInt16BE(type, 6);
  h.writeBigUInt64BE(cookie, 8);
  h.writeUInt32BE(payload.length, 16);
  return Buffer.concat([h, payload]);
}

describe('NbdClient against a scripted server', () => {
  it('matches replies that come in reverse order to their requests by cookie', async () => {
    const s = await fake(async (c) => {
      await serveHandshake(c);
      const reqs = [];
      for (let i = 0; i < 3; i++) reqs.push(await readRequest(c));
      for (const r of reqs.reverse())
        c.sock.write(simple(r.cookie, 0, Buffer.alloc(Number(r.length), Number(r.offset) / 512)));
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', replies: 'simple', timeoutMs: 2000 });
    const got = await Promise.all([cl.read(512, 16), cl.read(1024, 16), cl.read(1536, 16)]);
    expect(got.map((b) => b[0])).toEqual([1, 2, 3]);
    cl.close();
  });

  it('assembles a structured read from data and hole chunks', async () => {
    const s = await fake(async (c) => {
      expect(await serveHandshake(c)).toBe('structured');
      const r = await readRequest(c);
      const hole = Buffer.concat([u64(r.offset), u32(8)]);
      const data = Buffer.concat([u64(r.offset + 8n), Buffer.alloc(8, 7)]);
      c.sock.write(
        Buffer.concat([
          chunk(r.cookie, 0, REPLY_TYPE.OFFSET_DATA, data),
          chunk(r.cookie, 1, REPLY_TYPE.OFFSET_HOLE, hole),
        ]),
      );
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', timeoutMs: 2000 });
    expect(cl.mode).toBe('structured');
    expect([...(await cl.read(4096, 16))]).toEqual([...Array(8).fill(0), ...Array(8).fill(7)]);
    cl.close();
  });

  it('turns error chunks and simple errors into NbdRequestError with the code name', async () => {
    const s = await fake(async (c) => {
      await serveHandshake(c);
      const r = await readRequest(c);
      const msg = Buffer.from('no such luck');
      c.sock.write(chunk(r.cookie, 1, REPLY_TYPE.ERROR, Buffer.concat([u32(5), u16(msg.length), msg])));
      const r2 = await readRequest(c);
      c.sock.write(simple(r2.cookie, 28));
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', timeoutMs: 2000 });
    const e1 = await cl.read(0, 512).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(NbdRequestError);
    expect(e1).toMatchObject({ codeName: 'EIO', code: 5, serverMessage: 'no such luck', command: 'read' });
    const e2 = await cl.flush().catch((e: unknown) => e);
    expect(e2).toMatchObject({ codeName: 'ENOSPC', command: 'flush' });
    cl.close();
  });

  it('times out a request the server ignores, ignores its late reply, and keeps working', async () => {
    const s = await fake(async (c) => {
      await serveHandshake(c);
      const slow = await readRequest(c);
      const next = await readRequest(c);
      c.sock.write(simple(slow.cookie));
      c.sock.write(simple(next.cookie));
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', replies: 'simple', timeoutMs: 2000 });
    const t0 = Date.now();
    await expect(cl.flush({ timeoutMs: 100 })).rejects.toBeInstanceOf(NbdTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(cl.flush()).resolves.toBeUndefined();
    cl.close();
  });

  it('fails everything pending on a reply for an unknown cookie, and closes', async () => {
    const s = await fake(async (c) => {
      await serveHandshake(c);
      await readRequest(c);
      c.sock.write(simple(999n));
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', replies: 'simple', timeoutMs: 2000 });
    await expect(cl.flush()).rejects.toBeInstanceOf(NbdProtocolError);
    await cl.closed;
    await expect(cl.flush()).rejects.toBeInstanceOf(NbdProtocolError);
  });

  it('rejects a reply chunk larger than maxPayload without reading it', async () => {
    const s = await fake(async (c) => {
      await serveHandshake(c);
      const r = await readRequest(c);
      const h = chunk(r.cookie, 1, REPLY_TYPE.OFFSET_DATA, Buffer.alloc(0));
      h.writeUInt32BE(0xfffffff0, 16);
      c.sock.write(h);
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', timeoutMs: 2000, maxPayload: 1 << 20 });
    await expect(cl.read(0, 4096)).rejects.toThrow(/exceeds the limit/);
  });

  it('reports a server that hangs up in the middle of a reply', async () => {
    const s = await fake(async (c) => {
      await serveHandshake(c);
      const r = await readRequest(c);
      c.sock.end(simple(r.cookie, 0, Buffer.alloc(10)));
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'x', replies: 'simple', timeoutMs: 2000 });
    const e = await cl.read(0, 4096).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NbdConnectionClosedError);
    expect((e as Error).message).toMatch(/middle of a reply/);
  });

  it('keeps at most maxInFlight requests on the wire', async () => {
    let most = 0;
    const s = await fake(async (c) => {
      await serveHandshake(c);
      const held: bigint[] = [];
      for (let i = 0; i < 10; i++) {
        held.push((await readRequest(c)).cookie);
        most = Math.max(most, held.length);
        if (held.length === 3) for (const k of held.splice(0)) c.sock.write(simple(k));
      }
      for (const k of held) c.sock.write(simple(k));
    });
    const cl = await NbdClient.connect(s.path, {
      exportName: 'x',
      replies: 'simple',
      timeoutMs: 1000,
      maxInFlight: 3,
    });
    const all = await Promise.allSettled(Array.from({ length: 10 }, () => cl.flush()));
    expect(all.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(most).toBeLessThanOrEqual(3);
    cl.close();
  });

  it('gives option errors with the reply name and the server text', async () => {
    const s = await fake(async (c) => {
      await greet(c);
      const o = await readOption(c);
      c.sock.write(optionReply(o.option, 0x80000006, Buffer.from("export 'x' not present")));
      await readOption(c);
    });
    const hs = await NbdHandshake.open(s.path, { timeoutMs: 2000 });
    const e = await hs.go('x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NbdOptionError);
    expect(e).toMatchObject({ replyName: 'NBD_REP_ERR_UNKNOWN', serverMessage: "export 'x' not present" });
    await hs.abort();
  });

  it('times out a server that never greets', async () => {
    const s = await fake(async () => {});
    const t0 = Date.now();
    await expect(NbdHandshake.open(s.path, { timeoutMs: 150 })).rejects.toBeInstanceOf(NbdTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('says why it cannot connect', async () => {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-nbd-'));
    try {
      const e = await NbdHandshake.open(path.join(dir, 'none.sock')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(NbdConnectError);
      expect((e as NbdConnectError).code).toBe('ENOENT');
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  });

  it('uses NBD_OPT_EXPORT_NAME with a server that is not fixed newstyle', async () => {
    const s = await fake(async (c) => {
      expect(await greet(c, 0)).toBe(0);
      const h = await c.reader.read(16);
      const name = await c.reader.read(h.readUInt32BE(12));
      expect(name.toString()).toBe('old');
      c.sock.write(Buffer.concat([u64(8192), u16(3), Buffer.alloc(124)]));
    });
    const cl = await NbdClient.connect(s.path, { exportName: 'old', timeoutMs: 2000 });
    expect(cl.info).toMatchObject({ size: 8192, flags: 3 });
    expect(cl.readOnly).toBe(true);
    cl.close();
  });
});
