/**
 * The QMP client (conformance/clients/qmp-client.ts) against a fake server that sends garbage and
 * wrong-shaped messages (random bytes, random JSON, replies of the wrong shape, stray ids, a second
 * greeting, hang-ups) early and in answer to each request. Every call resolves or rejects with one of the
 * client's own errors, of one line, within its timeout; nothing escapes as an unhandled rejection; the
 * event listeners a call made are gone after close; no socket is left open.
 */
import fc from 'fast-check';
import { z } from 'zod';
import { FAKE_GREETING, type FakeServer, startFakeServer } from '../../../harness/clients/fake-qmp-server.ts';
import {
  QmpClient,
  QmpConnectionClosedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from '../../../harness/clients/qmp-client.ts';
import { assertOneLine, Breach, type FuzzTarget, safeJson } from '../core.ts';

const GREETING_LINE = `${JSON.stringify(FAKE_GREETING)}\r\n`;
const CALL_TIMEOUT_MS = 40;
const SLOTS = 24;

const fragment = fc.constantFrom(
  '{"return": {}, "id": "fl-1"}\r\n',
  '{"return": {}, "id": "fl-2"}\r\n',
  '{"return": [], "id": "fl-3"}\r\n',
  '{"return": {}, "id": "fl-4"}\r\n',
  '{"error": {"class": "GenericError", "desc": "x"}, "id": "fl-2"}\r\n',
  '{"error": {"class": "GenericError", "desc": "two\\nlines"}, "id": "fl-3"}\r\n',
  '{"error": {"class": 1, "desc": "x"}, "id": "fl-3"}\r\n',
  '{"error": "flat", "id": "fl-2"}\r\n',
  '{"return": {}}\r\n',
  '{"return": {}, "id": 7}\r\n',
  '{"return": {}, "error": {"class": "a", "desc": "b"}, "id": "fl-2"}\r\n',
  '{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n',
  '{"event": "STOP", "timestamp": {"seconds": "1"}}\r\n',
  '{"event": 5}\r\n',
  '{"event": "X", "data": [], "timestamp": {"seconds": 1, "microseconds": 2}}\r\n',
  '{"a\\nb": 1}\r\n',
  GREETING_LINE,
  '{"QMP": {"version": {"qemu": {"major": -1}}}}\r\n',
  '{"return"',
  '}\r\n',
  '\r\n',
  '\n',
  '\r',
  '\xff\xfe\r\n',
  '[1,2]\r\n',
  'null\r\n',
  '"str"\r\n',
  `${'['.repeat(5000)}\r\n`,
);

const chunk = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.json().map((j) => `${j}\r\n`),
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `${s}\n`),
  { arbitrary: fragment, weight: 3 },
);

export interface QmpClientInput {
  greet: 'good' | 'none' | 'bad';
  early: (string | Uint8Array)[];
  late: (string | Uint8Array)[];
  ending: 'end' | 'destroy' | 'stay';
  negotiate: boolean;
  calls: ('execute' | 'raw' | 'parsed' | 'idless' | 'next' | 'waitFor')[];
}

const input: fc.Arbitrary<QmpClientInput> = fc.record({
  greet: fc.constantFrom('good', 'good', 'none', 'bad'),
  early: fc.array(chunk, { maxLength: 4 }),
  late: fc.array(chunk, { maxLength: 6 }),
  ending: fc.constantFrom('end', 'destroy', 'stay'),
  negotiate: fc.boolean(),
  calls: fc.array(fc.constantFrom('execute', 'raw', 'parsed', 'idless', 'next', 'waitFor'), {
    minLength: 1,
    maxLength: 5,
  }),
});

interface Slot {
  server: FakeServer;
  current: QmpClientInput | undefined;
}

interface State {
  free: Slot[];
  all: Slot[];
  escaped: unknown[];
  onEscape: (e: unknown) => void;
  baseline: number;
}

function ourError(e: unknown): string {
  if (e instanceof QmpError) return 'QmpError';
  if (e instanceof QmpTimeoutError) return 'timeout';
  if (e instanceof QmpConnectionClosedError) return 'closed';
  if (e instanceof QmpProtocolError) return 'protocol';
  // the client's own refusals (an id-less call while one is pending) are plain Errors it made
  if (e instanceof Error && e.constructor === Error && /^id-less /.test(e.message)) return 'refused';
  throw new Breach(`foreign rejection: ${(e as Error)?.name}: ${(e as Error)?.message ?? String(e)}`);
}

function serve(slot: Slot) {
  return (conn: Parameters<NonNullable<Parameters<typeof startFakeServer>[0]>>[0]) => {
    const s = slot.current;
    if (!s) {
      conn.socket.destroy();
      return;
    }
    if (s.greet === 'good') conn.sendBytes(GREETING_LINE);
    if (s.greet === 'bad') conn.sendBytes('{"QMP": {"version": 7}}\r\n');
    for (const c of s.early) conn.sendBytes(c);
    const late = [...s.late];
    const feed = async (): Promise<void> => {
      // one late chunk per client line, so replies race with pending calls
      for (;;) {
        await conn.nextLine(500);
        const c = late.shift();
        if (c === undefined) break;
        conn.sendBytes(c);
      }
      if (s.ending === 'end') conn.socket.end();
      if (s.ending === 'destroy') conn.socket.destroy();
    };
    feed().catch(() => undefined);
  };
}

function pipes(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap' || r === 'PipeConnectWrap').length;
}

async function run(slot: Slot, s: QmpClientInput, st: State): Promise<string> {
  slot.current = s;
  const escapedBefore = st.escaped.length;
  const outcomes: Promise<unknown>[] = [];
  let client: QmpClient | undefined;
  const t0 = Date.now();
  const connecting = QmpClient.connect(slot.server.path, {
    timeoutMs: CALL_TIMEOUT_MS,
    negotiate: s.negotiate,
  });
  outcomes.push(connecting);
  client = await connecting.catch(() => undefined);
  let listeners = 0;
  if (client) {
    for (const c of s.calls) {
      if (c === 'execute') outcomes.push(client.execute('query-status'));
      else if (c === 'raw') outcomes.push(client.executeRaw('query-name'));
      else if (c === 'parsed') outcomes.push(client.executeParsed(QmpObject, 'query-version'));
      else if (c === 'idless') outcomes.push(client.execute('query-status', undefined, { withId: false }));
      else {
        listeners++;
        const l = client.events.listen();
        outcomes.push(
          c === 'next'
            ? l.next({ timeoutMs: CALL_TIMEOUT_MS })
            : l.waitFor({ event: 'NEVER' }, { timeoutMs: CALL_TIMEOUT_MS }),
        );
      }
    }
  }
  const settled = await Promise.allSettled(outcomes);
  const took = Date.now() - t0;
  // connect: timeout per step (connect, greeting, negotiation); calls: their own timeout after that
  if (took > 3 * CALL_TIMEOUT_MS + 1000) throw new Breach(`settled only after ${took} ms`);
  const kinds = new Set<string>();
  for (const [k, r] of settled.entries()) {
    if (r.status === 'fulfilled') {
      kinds.add(k === 0 ? 'connected' : 'ok');
      continue;
    }
    const cls = ourError(r.reason);
    if (cls !== 'QmpError') assertOneLine((r.reason as Error).message, `${cls} error`);
    kinds.add(k === 0 ? `connect ${cls}` : cls);
  }
  if (client) {
    await client.close();
    // every listener ends when the client closes
    const left = (client.events as unknown as { listeners: Set<unknown> }).listeners.size;
    if (left > 0) throw new Breach(`${left} of ${listeners} event listeners left after close`);
  }
  await new Promise((r) => setImmediate(r));
  if (st.escaped.length > escapedBefore) throw new Breach(`escaped: ${String(st.escaped[escapedBefore])}`);
  return [...kinds].sort().join(' + ');
}

const QmpObject = z.object({ qemu: z.object({ major: z.number() }) });

export const qmpClient: FuzzTarget<QmpClientInput, State> = {
  name: 'qmp-client',
  what: 'the QMP client against a fake server sending garbage: every call settles in time with its own one-line error; no escape, no leak',
  input,
  concurrency: SLOTS,
  timeoutMs: 5000,
  checkEvery: 600,
  async setup() {
    const all: Slot[] = [];
    const escaped: unknown[] = [];
    const onEscape = (e: unknown) => escaped.push(e);
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
    const baseline = pipes();
    for (let i = 0; i < SLOTS; i++) {
      const slot: Slot = { server: undefined as unknown as FakeServer, current: undefined };
      slot.server = await startFakeServer((c) => serve(slot)(c));
      all.push(slot);
    }
    return { free: [...all], all, escaped, onEscape, baseline: baseline + SLOTS };
  },
  async exec(st, i) {
    const slot = st.free.pop();
    if (!slot) throw new Error('qmp-client: no free fake server');
    try {
      return await run(slot, i, st);
    } finally {
      st.free.push(slot);
    }
  },
  async check(st) {
    // the sockets of the inputs so far are all closed (the servers' own listeners stay)
    const until = Date.now() + 2000;
    while (pipes() > st.baseline && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    if (pipes() > st.baseline) throw new Breach(`${pipes() - st.baseline} sockets left open`);
  },
  async teardown(st) {
    process.off('unhandledRejection', st.onEscape);
    process.off('uncaughtException', st.onEscape);
    for (const s of st.all) await s.server.close();
  },
  show: (i) => safeJson(i),
};
