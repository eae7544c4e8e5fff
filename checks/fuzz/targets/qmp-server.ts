/**
 * The simulator's QMP server (sim/serve/qmp-server.ts), fed in memory through a connection without a
 * socket (the same QmpSession code a socket gets), a fresh connection per input:
 * - messages: a sequence of JSON messages (non-objects, objects with bad members, commands of the schema
 *   with arguments of their schema or random ones, unknown commands, before and after negotiation), split at
 *   random points. Every
 *   message gets exactly one reply, of the class real qsd gives it (GenericError for a malformed request,
 *   CommandNotFound before negotiation and for unknown commands, a return or one of QEMU's error classes
 *   for a command of the schema), with the id echoed; never a "fleece-lab internal error".
 * - garbage: random bytes and byte-mutated messages. Every line out is a JSON object (reply or event)
 *   with one of QEMU's error classes, and a resynchronising request afterwards is answered.
 * Health check (every 500 inputs): a fresh connection, and one over a real unix socket, answer query-version.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { SchemaArbitraries, vocabulary } from '../../../contract/qapi/arbitrary.ts';
import type { Profile } from '../../../contract/versions.ts';
import { SocketServerChardev } from '../../../sim/serve/chardev/char-socket.ts';
import { QmpHub, QmpMonitor, qmpFormat } from '../../../sim/serve/qmp-server.ts';
import { createSim, type Sim } from '../../../sim/sim.ts';
import { Breach, type FuzzTarget, oneLine, safeJson } from '../core.ts';
import { applyByteEdits, type ByteEdit, byteEdit } from '../mutate.ts';

const QEMU_CLASSES = new Set([
  'GenericError',
  'CommandNotFound',
  'DeviceNotFound',
  'DeviceNotActive',
  'KVMMissingCap',
]);
const PROFILES: Profile[] = ['5.2', '7.2', '10.0', '11.1'];

/** the commands of qsd 7.2's schema (the same names are tried on every profile) */
const INTRO = createSim({ profile: '7.2', flavour: 'qsd' }).core.intro;
const COMMANDS = [...INTRO.commands.keys()].filter((c) => c !== 'quit').sort();

const word = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-_0123456789'.split('')),
  maxLength: 10,
});
const ascii = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 12,
});
const plainValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    ascii,
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(
      'n0',
      'n1',
      'f',
      'j0',
      'e0',
      'null-co',
      'file',
      'raw',
      'qcow2',
      'full',
      'none',
      'top',
      'b0',
    ),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(word, tie('v'), { maxKeys: 3 }),
  ),
})).v;
const ARG_KEYS = [
  'device',
  'node-name',
  'driver',
  'job-id',
  'id',
  'name',
  'filename',
  'size',
  'sync',
  'target',
  'bitmap',
  'node',
  'file',
  'speed',
  'type',
  'addr',
  'writable',
  'backing',
];
const args = fc.oneof(
  fc.dictionary(fc.constantFrom(...ARG_KEYS), plainValue, { maxKeys: 4 }),
  fc.constantFrom<Record<string, unknown>>(
    { driver: 'null-co', 'node-name': 'n0', size: 1048576 },
    { driver: 'null-co', 'node-name': 'n1' },
    { 'job-id': 'j0', device: 'n0', target: 'n1', sync: 'full' },
    { 'job-id': 'j0', device: 'n0', target: 'n1', sync: 'none' },
    { addr: { type: 'unix', path: 'nbd.sock' } },
    { type: 'nbd', id: 'e0', 'node-name': 'n0' },
    { node: 'n0', name: 'b0' },
    { id: 'j0' },
    { device: 'j0' },
    { 'node-name': 'n0' },
  ),
);

const nodes = fc.constantFrom('n0', 'n1', 'f');
const words = vocabulary({
  'node-name': nodes,
  device: nodes,
  node: nodes,
  target: nodes,
  file: nodes,
  backing: nodes,
  'job-id': fc.constant('j0'),
  id: fc.constantFrom('j0', 'e0'),
  name: fc.constantFrom('b0', 'e0'),
  bitmap: fc.constant('b0'),
  filename: fc.constant('f'),
});
/** arguments the schema accepts, naming the objects the simulator may have (node n0, job j0, export e0, bitmap b0) */
const schemaArgs = new SchemaArbitraries(INTRO, {
  maxDepth: 2,
  value: (at) =>
    at.path.join('.') === 'driver'
      ? fc.oneof(fc.constantFrom('null-co', 'file', 'raw', 'qcow2'), fc.constantFrom(...enumOf(at.type)))
      : words(at),
});
function enumOf(t: { 'meta-type': string; values?: string[] }): string[] {
  return t['meta-type'] === 'enum' && t.values ? t.values : ['null-co'];
}

/** one message, and what a real qsd answers it with, class-wise (decided when it is sent) */
type Msg =
  | { kind: 'non-object'; value: unknown }
  | {
      kind: 'object';
      execute: { cmd: string } | { bad: unknown } | undefined;
      oob: boolean;
      arguments: { ok: Record<string, unknown> } | { bad: unknown } | undefined;
      id: unknown;
      extra: string | undefined;
    };

type Call = Pick<Extract<Msg, { kind: 'object' }>, 'execute' | 'arguments'>;
const badArgs = fc.oneof(fc.integer(), ascii, fc.constant(null), fc.constant([])).map((bad) => ({ bad }));
const anyArgs: fc.Arbitrary<Call['arguments']> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: args.map((ok) => ({ ok })), weight: 6 },
  { arbitrary: badArgs, weight: 1 },
);
/**
 * a command of the schema with arguments of its type as often as random ones; qmp_capabilities keeps random
 * ones (arguments it takes would negotiate OOB, which the expected classes do not follow)
 */
const commandArgs = (cmd: string): fc.Arbitrary<Call['arguments']> =>
  cmd === 'qmp_capabilities'
    ? anyArgs
    : fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 3 },
        { arbitrary: args.map((ok) => ({ ok })), weight: 3 },
        { arbitrary: schemaArgs.command(cmd).map((ok) => ({ ok })), weight: 3 },
        { arbitrary: badArgs, weight: 1 },
      );
const call: fc.Arbitrary<Call> = fc.oneof(
  {
    arbitrary: fc
      .constantFrom(...COMMANDS)
      .chain((cmd) => commandArgs(cmd).map((a) => ({ execute: { cmd }, arguments: a }))),
    weight: 8,
  },
  {
    arbitrary: fc
      .oneof(
        { arbitrary: fc.constant({ cmd: 'qmp_capabilities' }), weight: 3 },
        { arbitrary: word.map((w) => ({ cmd: `x-nope-${w}` })), weight: 1 },
        {
          arbitrary: fc
            .oneof(fc.integer(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }))
            .map((bad) => ({ bad })),
          weight: 1,
        },
        { arbitrary: fc.constant(undefined), weight: 1 },
      )
      .chain((execute) => anyArgs.map((a) => ({ execute, arguments: a }))),
    weight: 6,
  },
);

const msg: fc.Arbitrary<Msg> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('non-object' as const),
      value: fc.oneof(
        fc.integer(),
        ascii,
        fc.boolean(),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 3 }),
      ),
    }),
    weight: 1,
  },
  {
    arbitrary: fc
      .record({
        kind: fc.constant('object' as const),
        call,
        oob: fc.nat({ max: 15 }).map((x) => x === 0),
        id: fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 2 },
          fc.integer(),
          ascii,
          fc.dictionary(word, fc.integer(), { maxKeys: 2 }),
        ),
        extra: fc.oneof(
          { arbitrary: fc.constant(undefined), weight: 12 },
          word.map((w) => `x${w}`),
        ),
      })
      .map(({ call: c, ...m }): Msg => ({ ...m, ...c })),
    weight: 6,
  },
);

function encode(m: Msg): string {
  if (m.kind === 'non-object') return JSON.stringify(m.value);
  const o: Record<string, unknown> = {};
  if (m.execute) o[m.oob ? 'exec-oob' : 'execute'] = 'cmd' in m.execute ? m.execute.cmd : m.execute.bad;
  if (m.arguments) o.arguments = 'ok' in m.arguments ? m.arguments.ok : m.arguments.bad;
  if (m.id !== undefined) o.id = m.id;
  if (m.extra) o[m.extra] = 1;
  return JSON.stringify(o);
}

/** the class qsd answers with ('return' for success; 'any' when a command of the schema decides) */
function expected(
  m: Msg,
  negotiated: boolean,
): { cls: 'GenericError' | 'CommandNotFound' | 'return' | 'any' | 'negotiate'; id: boolean } {
  if (m.kind === 'non-object') return { cls: 'GenericError', id: false };
  const id = m.id !== undefined;
  if (m.extra) return { cls: 'GenericError', id };
  if (m.execute && 'bad' in m.execute) return { cls: 'GenericError', id };
  if (m.arguments && 'bad' in m.arguments) return { cls: 'GenericError', id };
  if (!m.execute) return { cls: 'GenericError', id };
  // exec-oob without the oob capability: "QMP input member 'exec-oob' is unexpected" (qsd 7.2)
  if (m.oob) return { cls: 'GenericError', id };
  const cmd = m.execute.cmd;
  if (!negotiated)
    return cmd === 'qmp_capabilities' ? { cls: 'negotiate', id } : { cls: 'CommandNotFound', id };
  // qmp_capabilities' arguments are visited before it says negotiation is over (qmp_marshal_qmp_capabilities)
  if (cmd === 'qmp_capabilities')
    return {
      cls: m.arguments && Object.keys(m.arguments.ok).length > 0 ? 'GenericError' : 'CommandNotFound',
      id,
    };
  if (!COMMANDS.includes(cmd)) return { cls: 'CommandNotFound', id };
  return { cls: 'any', id };
}

export interface QmpServerInput {
  profile: number;
  garbage: boolean;
  msgs: Msg[];
  separators: number[];
  cuts: number[];
  bytes: ByteEdit[];
  raw: Uint8Array;
}

const input: fc.Arbitrary<QmpServerInput> = fc.record({
  profile: fc.nat({ max: PROFILES.length - 1 }),
  garbage: fc.nat({ max: 3 }).map((x) => x === 0),
  msgs: fc.array(msg, { minLength: 1, maxLength: 8 }),
  separators: fc.array(fc.nat({ max: 3 }), { maxLength: 8 }),
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
  bytes: fc.array(byteEdit, { minLength: 1, maxLength: 4 }),
  raw: fc.uint8Array({ maxLength: 60 }),
});

/** a connection without a socket: pushed bytes are input, written bytes are kept */
class MemConn {
  readonly out: Buffer[] = [];
  readonly conn: Duplex;
  constructor() {
    this.conn = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        this.out.push(Buffer.from(chunk));
        cb();
      },
    });
  }
  text(): string {
    return Buffer.concat(this.out).toString('latin1');
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

interface Hub {
  sim: Sim;
  hub: QmpHub;
  uses: number;
}

interface State {
  hubs: (Hub | undefined)[];
  dir: string;
  sockHub: Hub;
  chardev: SocketServerChardev;
}

function makeHub(profile: Profile): Hub {
  const sim = createSim({ profile, flavour: 'qsd', fs: 'memory' });
  const hub = new QmpHub(sim, { format: qmpFormat(profile) });
  hub.start();
  return { sim, hub, uses: 0 };
}

function hubFor(st: State, p: number): Hub {
  let h = st.hubs[p];
  // a fresh simulator now and then, so that state piles up for a while but not for ever
  if (!h || h.uses >= 2000) {
    h?.hub.close();
    h = makeHub(PROFILES[p]);
    st.hubs[p] = h;
  }
  h.uses++;
  return h;
}

async function session(h: Hub, chunks: string[]): Promise<string> {
  const c = new MemConn();
  new QmpMonitor(h.hub, false).open(c.conn, true);
  await tick();
  const greeting = c.text();
  if (!greeting.startsWith('{"QMP": ')) throw new Breach(`no greeting: ${oneLine(greeting)}`);
  for (const ch of chunks) {
    c.conn.push(Buffer.from(ch, 'latin1'));
    await tick();
  }
  await tick();
  await tick();
  c.conn.destroy();
  return c.text().slice(greeting.length);
}

type Line = Record<string, unknown>;

function lines(out: string): Line[] {
  if (out !== '' && !out.endsWith('\r\n'))
    throw new Breach(`output does not end in CRLF: ${oneLine(out.slice(-80))}`);
  return out
    .split('\r\n')
    .slice(0, -1)
    .map((l) => {
      let v: unknown;
      try {
        // QEMU prints a double that overflowed as inf/-inf/nan (%.17g), as the simulator does
        v = JSON.parse(l.replace(/(?<=[:[,] ?)-?(inf|nan)(?=[,}\]])/g, '0'));
      } catch {
        throw new Breach(`a line out is not JSON: ${oneLine(l)}`);
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        throw new Breach(`a line out is not an object: ${oneLine(l)}`);
      return v as Line;
    });
}

function checkReply(l: Line): string {
  if ('return' in l) return 'return';
  const e = l.error as { class?: unknown; desc?: unknown } | undefined;
  if (!e || typeof e.class !== 'string' || typeof e.desc !== 'string')
    throw new Breach(`neither reply nor event: ${oneLine(JSON.stringify(l))}`);
  if (!QEMU_CLASSES.has(e.class)) throw new Breach(`error class QEMU does not have: ${e.class}`);
  if (/fleece-lab internal error/.test(e.desc))
    throw new Breach(`simulator crash behind the reply: ${oneLine(e.desc)}`);
  return e.class;
}

function split(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of [...points, text.length]) {
    if (p > prev) out.push(text.slice(prev, p));
    prev = p;
  }
  return out;
}

const SEPARATORS = ['\r\n', '\n', '', ' \t'];
const SYNC = '\xff\n{"execute":"qmp_capabilities","id":"sync"}\r\n';

async function messages(h: Hub, i: QmpServerInput): Promise<string> {
  // nothing between two messages only where both are objects (two scalars would run together)
  const sep = (k: number) =>
    i.msgs[k].kind === 'object' && i.msgs[k + 1]?.kind === 'object'
      ? SEPARATORS[i.separators[k] ?? 0]
      : '\r\n';
  const text = i.msgs.map((m, k) => encode(m) + sep(k)).join('') + '\r\n';
  const out = lines(await session(h, split(text, i.cuts)));
  const replies = out.filter((l) => !('event' in l));
  if (replies.length !== i.msgs.length)
    throw new Breach(
      `${i.msgs.length} messages, ${replies.length} replies: ${oneLine(text, 300)} -> ${oneLine(JSON.stringify(replies), 300)}`,
    );
  let negotiated = false;
  const seen: string[] = [];
  i.msgs.forEach((m, k) => {
    const r = replies[k];
    const cls = checkReply(r);
    const want = expected(m, negotiated);
    if (want.id !== 'id' in r)
      throw new Breach(`message ${k}: id ${want.id ? 'not echoed' : 'made up'}: ${oneLine(encode(m))}`);
    if (want.id && m.kind === 'object' && !isDeepStrictEqual(r.id, JSON.parse(JSON.stringify(m.id))))
      throw new Breach(`message ${k}: id ${safeJson(m.id)} came back as ${safeJson(r.id)}`);
    if (want.cls === 'negotiate') {
      // qmp_capabilities with arguments qsd does not take is refused; otherwise negotiated
      if (cls === 'return') negotiated = true;
      else if (cls !== 'GenericError') throw new Breach(`message ${k}: qmp_capabilities answered ${cls}`);
    } else if (want.cls !== 'any' && want.cls !== cls)
      throw new Breach(
        `message ${k}: ${oneLine(encode(m))} answered ${cls}, qsd answers ${want.cls}${negotiated ? '' : ' (not negotiated)'}: ${oneLine(JSON.stringify(r), 200)}`,
      );
    seen.push(
      want.cls === 'any'
        ? `${cls === 'return' ? 'return' : 'error'}`
        : want.cls === 'negotiate'
          ? 'negotiated'
          : cls,
    );
  });
  return `messages: ${[...new Set(seen)].sort().join('+')}`;
}

async function garbage(h: Hub, i: QmpServerInput): Promise<string> {
  const base = i.msgs.map(encode).join('\r\n');
  const mutated = applyByteEdits(base, i.bytes) + Buffer.from(i.raw).toString('latin1');
  // quit would end the simulated QEMU: not part of what garbage may do here
  const text = mutated.replace(/quit/g, 'qu1t');
  const out = lines(await session(h, [...split(text, i.cuts), SYNC]));
  let errors = 0;
  for (const l of out) {
    if ('event' in l) continue;
    const cls = checkReply(l);
    if (cls !== 'return') errors++;
  }
  const last = out.filter((l) => !('event' in l)).pop();
  if (last?.id !== 'sync')
    throw new Breach(`the request after the garbage got no answer: ${oneLine(JSON.stringify(last ?? null))}`);
  return `garbage: ${errors === 0 ? 'no error' : errors === 1 ? '1 error' : errors < 5 ? '2-4 errors' : '5+ errors'}, then answered`;
}

async function queryVersion(h: Hub): Promise<void> {
  const out = lines(
    await session(h, ['{"execute":"qmp_capabilities"}\r\n{"execute":"query-version","id":"v"}\r\n']),
  );
  const r = out.filter((l) => l.id === 'v')[0];
  if (!r || !('return' in r))
    throw new Breach(`query-version on a fresh connection: ${oneLine(JSON.stringify(out))}`);
}

async function overSocket(st: State): Promise<void> {
  const s = net.createConnection({ path: path.join(st.dir, 'qmp.sock') });
  s.on('error', () => {});
  let buf = '';
  s.on('data', (b: Buffer) => {
    buf += b.toString('latin1');
  });
  try {
    s.write('{"execute":"qmp_capabilities"}\r\n{"execute":"query-version","id":"v"}\r\n');
    const until = Date.now() + 3000;
    while (!buf.includes('"id": "v"') && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    if (!buf.includes('"return": {"qemu"'))
      throw new Breach(`query-version over the unix socket: ${oneLine(buf)}`);
  } finally {
    s.destroy();
  }
}

export const qmpServer: FuzzTarget<QmpServerInput, State> = {
  name: 'qmp-server',
  what: "the simulator's QMP server fed messages and garbage in memory: one reply per message of qsd's class, never a crash; query-version still answers",
  input,
  checkEvery: 500,
  async setup() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-fuzz-qmp-'));
    const sockHub = makeHub('7.2');
    const chardev = await SocketServerChardev.listen('c0', { type: 'unix', path: 'qmp.sock' }, dir);
    sockHub.hub.addMonitor(chardev, false);
    return { hubs: [], dir, sockHub, chardev };
  },
  async exec(st, i) {
    const h = hubFor(st, i.profile);
    return i.garbage ? garbage(h, i) : messages(h, i);
  },
  async check(st) {
    for (const h of st.hubs) if (h) await queryVersion(h);
    await overSocket(st);
  },
  async teardown(st) {
    for (const h of st.hubs) h?.hub.close();
    st.chardev.close();
    st.sockHub.hub.close();
    fs.rmSync(st.dir, { recursive: true, force: true });
  },
  show: (i) => safeJson({ ...i, text: i.garbage ? undefined : i.msgs.map(encode) }),
};
