/**
 * Fuzzing the NBD client with a server that sends garbage: at the greeting, in the option phase, or in
 * place of a reply (often behind a valid magic so the parser goes deep). Whatever comes, every call
 * settles in bounded time with an NbdError, and nothing escapes as an unhandled rejection.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXTENDED_REPLY_MAGIC,
  IHAVEOPT,
  NBDMAGIC,
  REP_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u32,
} from '../../contract/nbd.ts';
import { NbdClient, NbdError } from './nbd-client.js';
import {
  type FakeConn,
  type FakeNbdServer,
  greet,
  readOption,
  readRequest,
  serveHandshake,
  startFakeNbdServer,
} from './nbd-fake-server.js';

type Stage = 'greeting' | 'option' | 'reply';

interface Case {
  stage: Stage;
  /** a plausible start for the garbage, so parsing gets past the first check */
  prefix: 'none' | 'magic' | 'magic+cookie';
  garbage: Uint8Array;
  extended: boolean;
  hangUp: boolean;
}

let current: Case | undefined;

async function misbehave(c: FakeConn): Promise<void> {
  const k = current!;
  const send = (b: Uint8Array) => {
    c.sock.write(b);
    if (k.hangUp) c.sock.end();
  };
  if (k.stage === 'greeting') {
    const pre =
      k.prefix === 'none'
        ? Buffer.alloc(0)
        : k.prefix === 'magic'
          ? NBDMAGIC
          : Buffer.concat([NBDMAGIC, IHAVEOPT]);
    send(Buffer.concat([pre, k.garbage]));
    return;
  }
  if (k.stage === 'option') {
    await greet(c);
    const o = await readOption(c);
    const pre =
      k.prefix === 'none'
        ? Buffer.alloc(0)
        : k.prefix === 'magic'
          ? REP_MAGIC
          : Buffer.concat([REP_MAGIC, u32(o.option)]);
    send(Buffer.concat([pre, k.garbage]));
    return;
  }
  const mode = await serveHandshake(c, { extended: k.extended });
  const r = await readRequest(c, mode === 'extended');
  const magic =
    mode === 'extended'
      ? EXTENDED_REPLY_MAGIC
      : mode === 'structured'
        ? STRUCTURED_REPLY_MAGIC
        : SIMPLE_REPLY_MAGIC;
  let pre: Buffer = Buffer.alloc(0);
  if (k.prefix !== 'none') {
    pre = u32(magic);
    if (k.prefix === 'magic+cookie') {
      // flags+type (structured) or error (simple) from the garbage, then the right cookie
      const mid = Buffer.from(k.garbage.subarray(0, 4));
      const cookie = Buffer.alloc(8);
      cookie.writeBigUInt64BE(r.cookie);
      pre = Buffer.concat([pre, mid, Buffer.alloc(4 - mid.length), cookie]);
    }
  }
  send(Buffer.concat([pre, k.garbage]));
}

let server: FakeNbdServer;
beforeAll(async () => {
  server = await startFakeNbdServer(misbehave);
});
afterAll(async () => {
  await server.close();
});

const TIMEOUT = 150;

/** connect, read, write, block status; resolves with the errors seen */
async function exercise(): Promise<unknown[]> {
  const errors: unknown[] = [];
  let c: NbdClient | undefined;
  try {
    c = await NbdClient.connect(server.path, {
      exportName: 'x',
      timeoutMs: TIMEOUT,
      metaContexts: ['base:allocation'],
      maxPayload: 1 << 20,
    });
  } catch (e) {
    errors.push(e);
    return errors;
  }
  const calls = [c.read(0, 4096), c.write(0, Buffer.alloc(512)), c.blockStatus(0, 4096), c.flush()];
  for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') errors.push(r.reason);
  c.close();
  return errors;
}

describe('NbdClient fuzzed by a garbage-sending server', () => {
  it('always settles, in bounded time, with NbdErrors only', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          stage: fc.constantFrom<Stage>('greeting', 'option', 'reply'),
          prefix: fc.constantFrom<Case['prefix']>('none', 'magic', 'magic+cookie'),
          garbage: fc.uint8Array({ maxLength: 600 }),
          extended: fc.boolean(),
          hangUp: fc.boolean(),
        }),
        async (k) => {
          current = k;
          const t0 = Date.now();
          const bound = new Promise<'hang'>((r) => setTimeout(() => r('hang'), 20 * TIMEOUT).unref());
          const result = await Promise.race([exercise(), bound]);
          expect(result).not.toBe('hang');
          for (const e of result as unknown[]) expect(e).toBeInstanceOf(NbdError);
          expect(Date.now() - t0).toBeLessThan(20 * TIMEOUT);
        },
      ),
      { numRuns: 120 },
    );
  }, 120_000);
});
