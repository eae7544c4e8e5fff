/**
 * The simulator's NBD server (sim/serve/nbd/) over a real unix socket: random bytes, mutated
 * handshakes (hostile options) and, after a valid handshake, hostile requests, split at random points, then
 * a half-close, a reset or a pause. Invariants: the server never crashes; what it sends follows the
 * protocol (the greeting, option replies framed with their magic and echoing an option the client sent,
 * then simple/structured/extended replies whose cookies the client sent) until it closes the connection;
 * it lets go of the connection; a healthy client on the same server keeps reading and writing correct data.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  CMD,
  EXTENDED_REPLY_MAGIC,
  IHAVEOPT,
  NBDMAGIC,
  OPT,
  optionRequest,
  REP,
  REP_MAGIC,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u32,
} from '../../../contract/nbd.ts';
import { NbdClient } from '../../../harness/clients/nbd-client.ts';
import { attachNbdServer, type NbdServerHandle } from '../../../sim/serve/nbd/server.ts';
import { createSim, type Sim } from '../../../sim/sim.ts';
import { Breach, type FuzzTarget, oneLine, safeJson } from '../core.ts';

const SIZE = 1 << 20;
const SLOTS = 8;

function handshake(structured: boolean, extended: boolean, meta: boolean): Buffer {
  const name = Buffer.from('disk');
  const go = Buffer.concat([u32(name.length), name, Buffer.from([0, 0])]);
  const q = Buffer.from('base:allocation');
  const ctx = Buffer.concat([u32(name.length), name, u32(1), u32(q.length), q]);
  return Buffer.concat([
    u32(3),
    extended ? optionRequest(OPT.EXTENDED_HEADERS, Buffer.alloc(0)) : Buffer.alloc(0),
    structured ? optionRequest(OPT.STRUCTURED_REPLY, Buffer.alloc(0)) : Buffer.alloc(0),
    meta ? optionRequest(OPT.SET_META_CONTEXT, ctx) : Buffer.alloc(0),
    optionRequest(OPT.GO, go),
  ]);
}

function request(
  extended: boolean,
  type: number,
  flags: number,
  cookie: number,
  offset: bigint,
  length: bigint,
): Buffer {
  const b = Buffer.alloc(extended ? 32 : 28);
  b.writeUInt32BE(extended ? 0x21e41c71 : REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(BigInt(cookie), 8);
  b.writeBigUInt64BE(offset, 16);
  if (extended) b.writeBigUInt64BE(length, 24);
  else b.writeUInt32BE(Number(length & 0xffffffffn), 24);
  return b;
}

const hostileRequest = fc.record({
  type: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7), fc.nat({ max: 0xffff })),
  flags: fc.oneof(fc.constantFrom(0, 1, 2, 4, 8, 16, 32), fc.nat({ max: 0xffff })),
  cookie: fc.nat({ max: 0xffffff }).map((c) => c + 1),
  offset: fc.oneof(fc.bigInt({ min: 0n, max: BigInt(SIZE) }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  length: fc.oneof(
    fc.bigInt({ min: 0n, max: 70000n }),
    fc.constantFrom(0n, 0xffffffffn, 32n << 20n, (32n << 20n) + 1n),
  ),
  payload: fc.uint8Array({ maxLength: 200 }),
});

const hostileOption = fc
  .record({
    option: fc.oneof(fc.constantFrom(1, 2, 3, 5, 6, 7, 8, 9, 10, 11), fc.nat()),
    length: fc.oneof(fc.nat({ max: 300 }), fc.constantFrom(0xffffffff, (32 << 20) + 1)),
    data: fc.uint8Array({ maxLength: 300 }),
  })
  .map((o) => Buffer.concat([IHAVEOPT, u32(o.option), u32(o.length), Buffer.from(o.data)]));

export interface NbdServerInput {
  stage: 'garbage' | 'options' | 'requests';
  garbage: Uint8Array;
  options: Buffer[];
  structured: boolean;
  extended: boolean;
  meta: boolean;
  requests: {
    type: number;
    flags: number;
    cookie: number;
    offset: bigint;
    length: bigint;
    payload: Uint8Array;
  }[];
  splits: number[];
  finish: 'end' | 'destroy' | 'linger';
}

const input: fc.Arbitrary<NbdServerInput> = fc.record({
  stage: fc.constantFrom('garbage', 'options', 'requests', 'requests'),
  garbage: fc.uint8Array({ maxLength: 300 }),
  options: fc.array(hostileOption, { minLength: 1, maxLength: 4 }),
  structured: fc.boolean(),
  extended: fc.nat({ max: 3 }).map((x) => x === 0),
  meta: fc.boolean(),
  requests: fc.array(hostileRequest, { minLength: 1, maxLength: 5 }),
  splits: fc.array(fc.nat({ max: 600 }), { maxLength: 3 }),
  finish: fc.constantFrom('end', 'end', 'destroy', 'linger'),
});

function bytesOf(i: NbdServerInput): Buffer {
  if (i.stage === 'garbage') return Buffer.from(i.garbage);
  if (i.stage === 'options') return Buffer.concat([u32(3), ...i.options]);
  return Buffer.concat([
    handshake(i.structured, i.extended, i.meta),
    ...i.requests.map((r) =>
      Buffer.concat([
        request(i.extended, r.type, r.flags, r.cookie, r.offset, r.length),
        Buffer.from(r.payload),
      ]),
    ),
  ]);
}

/**
 * Reads what the server sent as the protocol frames it: the greeting, option replies (magic, an option
 * the client sent, a reply type, a length that fits), then transmission replies (magic, a cookie the
 * client sent). A frame cut at the end is allowed only when the client did not wait for the server to
 * finish. Returns how far it got.
 */
function validate(out: Buffer, sent: Buffer, complete: boolean): string {
  if (out.length === 0) return 'closed at once';
  if (out.length < 18) {
    if (
      complete ||
      !NBDMAGIC.subarray(0, Math.min(8, out.length)).equals(out.subarray(0, Math.min(8, out.length)))
    )
      throw new Breach(`greeting cut short: ${out.toString('hex')}`);
    return 'greeting cut';
  }
  if (!out.subarray(0, 8).equals(NBDMAGIC) || !out.subarray(8, 16).equals(IHAVEOPT))
    throw new Breach(`bad greeting: ${out.subarray(0, 18).toString('hex')}`);
  let at = 18;
  const noZeroes = sent.length >= 4 && (sent.readUInt32BE(0) & 2) !== 0;
  const cut = (what: string) => {
    if (complete) throw new Breach(`${what} cut short at byte ${at} of ${out.length}`);
    return `${what} cut`;
  };
  let phase: 'options' | 'transmission' = 'options';
  let extended = false;
  let last = 'greeting';
  while (at < out.length) {
    if (phase === 'options') {
      if (out.length - at < 8) return cut('option reply');
      if (!out.subarray(at, at + 8).equals(REP_MAGIC)) {
        // NBD_OPT_EXPORT_NAME's reply has no magic: size, flags, and 124 zeroes unless NO_ZEROES
        const need = 10 + (noZeroes ? 0 : 124);
        if (out.length - at < need) return cut('export-name reply');
        at += need;
        phase = 'transmission';
        last = 'export-name';
        continue;
      }
      if (out.length - at < 20) return cut('option reply');
      const option = out.readUInt32BE(at + 8);
      const type = out.readUInt32BE(at + 12);
      const len = out.readUInt32BE(at + 16);
      if (sent.indexOf(Buffer.concat([IHAVEOPT, u32(option)])) < 0)
        throw new Breach(`reply to option ${option}, which the client never sent`);
      if (len > 64 << 20) throw new Breach(`option reply of ${len} bytes`);
      if (out.length - at < 20 + len) return cut('option reply');
      at += 20 + len;
      last = 'option replies';
      if (type === REP.ACK && option === OPT.EXTENDED_HEADERS) extended = true;
      if (type === REP.ACK && option === OPT.GO) {
        phase = 'transmission';
        last = 'GO';
      }
      continue;
    }
    if (out.length - at < 4) return cut('reply');
    const magic = out.readUInt32BE(at);
    let head: number;
    let payload = 0;
    let cookieAt: number;
    if (magic === SIMPLE_REPLY_MAGIC) {
      head = 16;
      cookieAt = 8;
    } else if (magic === STRUCTURED_REPLY_MAGIC) {
      head = 20;
      cookieAt = 8;
      if (out.length - at >= 20) payload = out.readUInt32BE(at + 16);
    } else if (magic === EXTENDED_REPLY_MAGIC && extended) {
      head = 32;
      cookieAt = 8;
      if (out.length - at >= 32) payload = Number(out.readBigUInt64BE(at + 24));
    } else throw new Breach(`transmission reply with magic 0x${magic.toString(16)} at byte ${at}`);
    if (out.length - at < head) return cut('reply header');
    const cookie = out.subarray(at + cookieAt, at + cookieAt + 8);
    if (sent.indexOf(cookie) < 0)
      throw new Breach(`reply with cookie ${cookie.toString('hex')}, which the client never sent`);
    if (magic === SIMPLE_REPLY_MAGIC && out.readUInt32BE(at + 4) === 0) {
      // a successful simple reply to a READ carries the data: the length the request asked for
      const req = findRequest(sent, cookie);
      if (req && req.type === CMD.READ) payload = req.length;
    }
    if (out.length - at < head + payload) return cut('reply payload');
    at += head + payload;
    last = 'replies';
  }
  return last;
}

function findRequest(sent: Buffer, cookie: Buffer): { type: number; length: number } | undefined {
  const i = sent.indexOf(cookie);
  if (i < 8) return undefined;
  return { type: sent.readUInt16BE(i - 2), length: sent.length >= i + 20 ? sent.readUInt32BE(i + 16) : 0 };
}

interface State {
  dir: string;
  sock: string;
  sim: Sim;
  server: NbdServerHandle;
  healthy: NbdClient;
  round: number;
}

async function attack(st: State, i: NbdServerInput): Promise<string> {
  const bytes = bytesOf(i);
  const s = net.connect(st.sock);
  s.on('error', () => {});
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  await new Promise<void>((r, j) => {
    s.once('connect', () => r());
    s.once('error', j);
  });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  let pos = 0;
  for (const k of [...i.splits, bytes.length]) {
    const end = Math.min(bytes.length, Math.max(pos, k));
    if (end > pos) s.write(bytes.subarray(pos, end));
    pos = end;
    await new Promise((r) => setImmediate(r));
  }
  if (i.finish === 'end') s.end();
  if (i.finish === 'linger') await new Promise((r) => setTimeout(r, 20));
  if (i.finish !== 'end') s.destroy();
  // after a half-close the server must finish and hang up by itself
  const t0 = Date.now();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
  const hungUp = s.destroyed || s.closed;
  s.destroy();
  if (i.finish === 'end' && Date.now() - t0 >= 3000 && !hungUp)
    throw new Breach('the server kept a half-closed connection for 3 s');
  const got = validate(Buffer.concat(chunks), bytes, i.finish === 'end');
  return `${i.stage}: ${got}`;
}

async function healthy(st: State): Promise<void> {
  st.round++;
  const data = Buffer.alloc(4096, st.round & 0xff);
  const off = (st.round * 4096) % SIZE;
  await st.healthy.write(off, data);
  if (!(await st.healthy.read(off, 4096)).equals(data))
    throw new Breach('the healthy client read back other data');
  const until = Date.now() + 3000;
  while (st.server.connectionCount() > 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  if (st.server.connectionCount() !== 1)
    throw new Breach(`${st.server.connectionCount() - 1} fuzz connections left open`);
  if (st.sim.core.exports.get('e')!.clients !== 1)
    throw new Breach(`export counts ${st.sim.core.exports.get('e')!.clients} clients`);
}

export const nbdServer: FuzzTarget<NbdServerInput, State> = {
  name: 'nbd-server',
  what: "the simulator's NBD server fed garbage, hostile options and requests: replies follow the protocol or it hangs up; other clients unaffected",
  input,
  concurrency: SLOTS,
  timeoutMs: 8000,
  checkEvery: 400,
  async setup() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-fuzz-nbd-'));
    const sock = path.join(dir, 'nbd.sock');
    const sim = createSim({ profile: '10.0', flavour: 'qsd', fs: 'memory' });
    const server = attachNbdServer(sim.core);
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
    const healthyClient = await NbdClient.connect(sock, {
      exportName: 'disk',
      metaContexts: ['base:allocation'],
      timeoutMs: 5000,
    });
    return { dir, sock, sim, server, healthy: healthyClient, round: 0 };
  },
  exec: attack,
  check: healthy,
  async teardown(st) {
    st.healthy.close();
    await st.server.close();
    fs.rmSync(st.dir, { recursive: true, force: true });
  },
  show: (i) => oneLine(safeJson({ ...i, bytes: bytesOf(i).toString('hex') }), 4000),
};
