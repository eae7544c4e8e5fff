/**
 * Fuzzing the simulator's NBD server: random and half-valid bytes during the handshake and during
 * transmission. A bad connection may get error replies or be dropped, but only that one: a healthy
 * client on the same server keeps reading and writing correct data, the server lets go of every
 * connection its peer closed, and nothing throws.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CMD, IHAVEOPT, OPT, optionRequest, REQUEST_MAGIC, u32 } from '../../contract/nbd.ts';
import { NbdClient } from '../../harness/clients/nbd-client.ts';
import { attachNbdServer, type NbdServerHandle } from '../../sim/serve/nbd/server.ts';
import { createSim, type Sim } from '../../sim/sim.ts';

const SIZE = 1 << 20;
let dir: string;
let sim: Sim;
let server: NbdServerHandle;
let sock: string;
let healthy: NbdClient;

beforeAll(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-nbd-fuzz-'));
  sock = path.join(dir, 'nbd.sock');
  sim = createSim({ profile: '10.0', flavour: 'qsd', fs: 'memory' });
  server = attachNbdServer(sim.core);
  sim.core.fs.createRaw('disk.img', SIZE);
  sim.run('blockdev-add', { driver: 'file', 'node-name': 'd', filename: 'disk.img' });
  sim.run('block-dirty-bitmap-add', { node: 'd', name: 'b' });
  sim.run('nbd-server-start', { addr: { type: 'unix', data: { path: sock } } });
  sim.run('block-export-add', {
    type: 'nbd',
    id: 'e',
    'node-name': 'd',
    name: 'disk',
    writable: true,
    bitmaps: ['b'],
  });
  healthy = await NbdClient.connect(sock, {
    exportName: 'disk',
    metaContexts: ['base:allocation'],
    timeoutMs: 5000,
  });
});

afterAll(async () => {
  healthy?.close();
  await server?.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** what a well-behaved client says up to (and including) GO for 'disk' */
function handshakePrefix(structured: boolean): Buffer {
  const name = Buffer.from('disk');
  const go = Buffer.concat([u32(name.length), name, Buffer.from([0, 0])]);
  return Buffer.concat([
    u32(3),
    structured ? optionRequest(OPT.STRUCTURED_REPLY, Buffer.alloc(0)) : Buffer.alloc(0),
    optionRequest(OPT.GO, go),
  ]);
}

function request(type: number, flags: number, offset: bigint, length: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(123n, 8);
  b.writeBigUInt64BE(offset, 16);
  b.writeUInt32BE(length >>> 0, 24);
  return b;
}

/** Send `bytes` in `splits` pieces, then end, destroy, or linger; resolves once the socket is closed. */
async function attack(bytes: Buffer, splits: number[], finish: 'end' | 'destroy' | 'linger'): Promise<void> {
  const s = net.connect(sock);
  s.on('error', () => {});
  s.on('data', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  let pos = 0;
  for (const k of [...splits, bytes.length]) {
    const end = Math.min(bytes.length, Math.max(pos, k));
    if (end > pos) s.write(bytes.subarray(pos, end));
    pos = end;
    await new Promise((r) => setImmediate(r));
  }
  if (finish === 'end') s.end();
  if (finish === 'linger') await new Promise((r) => setTimeout(r, 20));
  if (finish !== 'end') s.destroy();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  s.destroy();
}

async function settles(): Promise<void> {
  const until = Date.now() + 2000;
  while (server.connectionCount() > 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  expect(server.connectionCount()).toBe(1);
  expect(sim.core.exports.get('e')!.clients).toBe(1);
}

let round = 0;
async function healthyStillWorks(): Promise<void> {
  round++;
  const data = Buffer.alloc(4096, round & 0xff);
  const off = (round * 4096) % SIZE;
  await healthy.write(off, data);
  expect((await healthy.read(off, 4096)).equals(data)).toBe(true);
  const st = await healthy.blockStatus(0, SIZE);
  expect(st.get('base:allocation')!.reduce((a, e) => a + e.length, 0)).toBe(SIZE);
}

const garbage = fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u));
const splits = fc.array(fc.nat({ max: 600 }), { maxLength: 4 });
const finish = fc.constantFrom<'end' | 'destroy' | 'linger'>('end', 'destroy', 'linger');

/** a request header with hostile fields, sometimes followed by part of a payload */
const hostileRequest = fc
  .record({
    type: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7), fc.nat({ max: 0xffff })),
    flags: fc.nat({ max: 0xffff }),
    offset: fc.oneof(
      fc.bigInt({ min: 0n, max: BigInt(SIZE) }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    ),
    length: fc.oneof(fc.nat({ max: 70000 }), fc.constantFrom(0, 0xffffffff, 32 << 20, (32 << 20) + 1)),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map((r) => Buffer.concat([request(r.type, r.flags, r.offset, r.length), Buffer.from(r.payload)]));

/** an option with hostile fields */
const hostileOption = fc
  .record({
    option: fc.oneof(fc.constantFrom(1, 2, 3, 5, 6, 7, 8, 9, 10, 11), fc.nat()),
    length: fc.oneof(fc.nat({ max: 300 }), fc.constantFrom(0xffffffff, (32 << 20) + 1)),
    data: fc.uint8Array({ maxLength: 300 }),
  })
  .map((o) => Buffer.concat([IHAVEOPT, u32(o.option), u32(o.length), Buffer.from(o.data)]));

describe('the simulator NBD server, fuzzed', () => {
  it('survives garbage in the handshake; only that connection suffers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          garbage,
          garbage.map((g) => Buffer.concat([u32(3), g])),
          fc.array(hostileOption, { minLength: 1, maxLength: 4 }).map((os) => Buffer.concat([u32(3), ...os])),
        ),
        splits,
        finish,
        async (bytes, sp, fin) => {
          await attack(bytes, sp, fin);
          await settles();
          await healthyStillWorks();
        },
      ),
      { numRuns: 120 },
    );
  }, 120_000);

  it('survives garbage in transmission; only that connection suffers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.oneof(
          garbage,
          fc.array(hostileRequest, { minLength: 1, maxLength: 5 }).map((r) => Buffer.concat(r)),
        ),
        splits,
        finish,
        async (structured, tail, sp, fin) => {
          await attack(Buffer.concat([handshakePrefix(structured), tail]), sp, fin);
          await settles();
          await healthyStillWorks();
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);

  it('drops a connection announcing an option longer than 32 MiB at once', async () => {
    const s = net.connect(sock);
    s.on('error', () => {});
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write(Buffer.concat([u32(3), IHAVEOPT, u32(OPT.GO), u32(0xffffffff)]));
    s.resume();
    await closed;
    await settles();
  });

  it('answers a WRITE longer than 32 MiB with EINVAL and hangs up without reading the payload', async () => {
    const s = net.connect(sock);
    s.on('error', () => {});
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => chunks.push(b));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write(Buffer.concat([handshakePrefix(false), request(CMD.WRITE, 0, 0n, (32 << 20) + 1)]));
    await closed;
    const all = Buffer.concat(chunks);
    const reply = all.subarray(all.length - 16);
    expect(reply.readUInt32BE(0)).toBe(0x67446698);
    expect(reply.readUInt32BE(4)).toBe(22);
    expect(reply.readBigUInt64BE(8)).toBe(123n);
    await settles();
  });

  it('stays bounded when a client pipelines reads and never reads the replies', async () => {
    const s = net.connect(sock);
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.pause();
    const reqs = Array.from({ length: 400 }, () => request(CMD.READ, 0, 0n, 1 << 20));
    s.write(Buffer.concat([handshakePrefix(true), ...reqs]));
    await new Promise((r) => setTimeout(r, 300));
    // the server stopped after a bounded amount of queued replies; the healthy client is unaffected
    await healthyStillWorks();
    s.destroy();
    await settles();
  });
});
