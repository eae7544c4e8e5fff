/**
 * The NBD client (harness/clients/nbd-client.ts) against a lying server (harness/clients/nbd-lying-server.ts)
 * that sends garbage at the greeting, in the option phase or in place of a reply (often behind a valid
 * magic and cookie, so the parser goes deep), then maybe hangs up. Every call settles within its bound
 * with an NbdError of one line (the server's own message text aside); nothing escapes as an unhandled
 * rejection.
 */
import fc from 'fast-check';
import { NbdError, NbdOptionError, NbdRequestError } from '../../../harness/clients/nbd-errors.ts';
import { type FakeNbdServer, startFakeNbdServer } from '../../../harness/clients/nbd-fake-server.ts';
import { exerciseClient, type Lie, lie } from '../../../harness/clients/nbd-lying-server.ts';
import { assertOneLine, Breach, type FuzzTarget, safeJson } from '../core.ts';

const TIMEOUT = 60;
const SLOTS = 24;

export type NbdClientInput = Lie;

const input: fc.Arbitrary<NbdClientInput> = fc.record({
  stage: fc.constantFrom('greeting', 'option', 'reply', 'reply'),
  prefix: fc.constantFrom('none', 'magic', 'magic+cookie'),
  garbage: fc.uint8Array({ maxLength: 600 }),
  extended: fc.boolean(),
  hangUp: fc.boolean(),
});

interface Slot {
  server: FakeNbdServer;
  current: NbdClientInput | undefined;
}

interface State {
  free: Slot[];
  all: Slot[];
  escaped: unknown[];
  onEscape: (e: unknown) => void;
}

/** the message without the server's own text (kept verbatim in the error: it is what the server said) */
function ownText(e: NbdError): string {
  const server = e instanceof NbdRequestError || e instanceof NbdOptionError ? e.serverMessage : undefined;
  return server ? e.message.replace(server, '…') : e.message;
}

async function exercise(slot: Slot, k: NbdClientInput, st: State): Promise<string> {
  slot.current = k;
  const before = st.escaped.length;
  const t0 = Date.now();
  const { connected, errors } = await exerciseClient(slot.server.path, TIMEOUT);
  const took = Date.now() - t0;
  if (took > 20 * TIMEOUT) throw new Breach(`settled only after ${took} ms`);
  const kinds = new Set<string>();
  for (const e of errors) {
    if (!(e instanceof NbdError))
      throw new Breach(`not an NbdError: ${(e as Error)?.name}: ${(e as Error)?.message ?? String(e)}`);
    assertOneLine(ownText(e), e.constructor.name);
    kinds.add(e.constructor.name);
  }
  await new Promise((r) => setImmediate(r));
  if (st.escaped.length > before) throw new Breach(`escaped: ${String(st.escaped[before])}`);
  return `${k.stage}: ${connected ? 'connected' : 'not connected'}${kinds.size ? `, ${[...kinds].sort().join('+')}` : ''}`;
}

export const nbdClient: FuzzTarget<NbdClientInput, State> = {
  name: 'nbd-client',
  what: 'the NBD client against a fake server sending garbage: every call settles in time with a one-line NbdError; no escape',
  input,
  concurrency: SLOTS,
  timeoutMs: 5000,
  async setup() {
    const all: Slot[] = [];
    const escaped: unknown[] = [];
    const onEscape = (e: unknown) => escaped.push(e);
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
    for (let i = 0; i < SLOTS; i++) {
      const slot: Slot = { server: undefined as unknown as FakeNbdServer, current: undefined };
      slot.server = await startFakeNbdServer(async (c) => {
        if (slot.current) await lie(c, slot.current);
        else c.sock.destroy();
      });
      all.push(slot);
    }
    return { free: [...all], all, escaped, onEscape };
  },
  async exec(st, i) {
    const slot = st.free.pop();
    if (!slot) throw new Error('nbd-client: no free fake server');
    try {
      return await exercise(slot, i, st);
    } finally {
      st.free.push(slot);
    }
  },
  async teardown(st) {
    process.off('unhandledRejection', st.onEscape);
    process.off('uncaughtException', st.onEscape);
    for (const s of st.all) await s.server.close();
  },
  show: (i) => safeJson(i),
};
