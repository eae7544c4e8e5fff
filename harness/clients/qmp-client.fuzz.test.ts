/**
 * Fuzz: whatever a server sends (random bytes, random JSON, plausible fragments, hang-ups),
 * every client promise settles in bounded time, failures are our own error types, and nothing
 * escapes as an uncaught exception or unhandled rejection.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { FAKE_GREETING, startFakeServer } from './fake-qmp-server.js';
import {
  QmpClient,
  QmpConnectionClosedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './qmp-client.js';

const GREETING_LINE = `${JSON.stringify(FAKE_GREETING)}\r\n`;
const CALL_TIMEOUT_MS = 80;
const WATCHDOG_MS = 3_000;

const fragment = fc.constantFrom(
  '{"return": {}, "id": "fl-1"}\r\n',
  '{"return": {}, "id": "fl-2"}\r\n',
  '{"return": [], "id": "fl-3"}\r\n',
  '{"error": {"class": "GenericError", "desc": "x"}, "id": "fl-2"}\r\n',
  '{"error": {"class": 1, "desc": "x"}, "id": "fl-3"}\r\n',
  '{"return": {}}\r\n',
  '{"return": {}, "error": {"class": "a", "desc": "b"}, "id": "fl-2"}\r\n',
  '{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n',
  '{"event": "STOP", "timestamp": {"seconds": "1"}}\r\n',
  '{"event": 5}\r\n',
  GREETING_LINE,
  '{"return"',
  '}\r\n',
  '\r\n',
  '\n',
  '\r',
  '\xff\xfe\r\n',
  '[1,2]\r\n',
  'null\r\n',
);

const chunk = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.json().map((j) => `${j}\r\n`),
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `${s}\n`),
  fragment,
);

const scenario = fc.record({
  greet: fc.boolean(),
  early: fc.array(chunk, { maxLength: 6 }),
  late: fc.array(chunk, { maxLength: 6 }),
  ending: fc.constantFrom('end', 'destroy', 'stay'),
  negotiate: fc.boolean(),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

function isOurError(e: unknown): boolean {
  return (
    e instanceof QmpTimeoutError ||
    e instanceof QmpConnectionClosedError ||
    e instanceof QmpProtocolError ||
    e instanceof QmpError
  );
}

async function runScenario(s: Scenario): Promise<void> {
  const escapedBefore = escaped.length;
  try {
    await runClient(s);
  } finally {
    // let a stray rejection surface inside this run, so fast-check shrinks the scenario that caused it
    await new Promise((r) => setImmediate(r));
  }
  if (escaped.length > escapedBefore) {
    throw new Error(`escaped: ${String(escaped[escapedBefore])} on ${JSON.stringify(s)}`);
  }
}

async function runClient(s: Scenario): Promise<void> {
  const server = await startFakeServer((conn) => {
    if (s.greet) conn.sendBytes(GREETING_LINE);
    for (const c of s.early) conn.sendBytes(c);
    const late = [...s.late];
    const feed = async (): Promise<void> => {
      // one late chunk per client line, so replies race with pending calls
      for (;;) {
        await conn.nextLine(1_000);
        const c = late.shift();
        if (c === undefined) break;
        conn.sendBytes(c);
      }
      if (s.ending === 'end') conn.socket.end();
      if (s.ending === 'destroy') conn.socket.destroy();
    };
    feed().catch(() => undefined);
  });
  let client: QmpClient | undefined;
  try {
    const outcomes: Promise<unknown>[] = [];
    const connecting = QmpClient.connect(server.path, { timeoutMs: CALL_TIMEOUT_MS, negotiate: s.negotiate });
    outcomes.push(connecting);
    client = await connecting.catch(() => undefined);
    if (client !== undefined) {
      const l = client.events.listen();
      outcomes.push(client.execute('query-status'));
      outcomes.push(client.executeRaw('query-name'));
      outcomes.push(l.next({ timeoutMs: CALL_TIMEOUT_MS }));
      outcomes.push(l.waitFor({ event: 'NEVER' }, { timeoutMs: CALL_TIMEOUT_MS }));
    }
    let watchdog: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      watchdog = setTimeout(() => reject(new Error(`client hung on ${JSON.stringify(s)}`)), WATCHDOG_MS);
    });
    const settled = await Promise.race([Promise.allSettled(outcomes), hung]).finally(() =>
      clearTimeout(watchdog),
    );
    for (const r of settled) {
      if (r.status === 'rejected' && !isOurError(r.reason)) {
        throw new Error(`foreign rejection ${String(r.reason)} on ${JSON.stringify(s)}`);
      }
    }
  } finally {
    await client?.close();
    await server.close();
  }
}

const escaped: unknown[] = [];
const onEscape = (e: unknown): void => {
  escaped.push(e);
};
beforeEach(() => {
  process.on('unhandledRejection', onEscape);
  process.on('uncaughtException', onEscape);
});
afterEach(() => {
  process.off('unhandledRejection', onEscape);
  process.off('uncaughtException', onEscape);
});

it('never hangs, never throws uncaught, always rejects with its own errors', async () => {
  await fc.assert(fc.asyncProperty(scenario, runScenario), { numRuns: 120 });
  expect(escaped).toEqual([]);
}, 120_000);
