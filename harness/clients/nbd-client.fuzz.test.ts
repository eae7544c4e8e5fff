/**
 * Fuzzing the NBD client with a server that sends garbage: at the greeting, in the option phase, or in
 * place of a reply (often behind a valid magic so the parser goes deep). Whatever comes, every call
 * settles in bounded time with an NbdError, and nothing escapes as an unhandled rejection.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdError } from './nbd-errors.js';
import { type FakeNbdServer, startFakeNbdServer } from './nbd-fake-server.js';
import { exerciseClient, type Lie, lie } from './nbd-lying-server.ts';

let current: Lie | undefined;

let server: FakeNbdServer;
beforeAll(async () => {
  server = await startFakeNbdServer((c) => lie(c, current!));
});
afterAll(async () => {
  await server.close();
});

const TIMEOUT = 150;

describe('NbdClient fuzzed by a garbage-sending server', () => {
  it('always settles, in bounded time, with NbdErrors only', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          stage: fc.constantFrom<Lie['stage']>('greeting', 'option', 'reply'),
          prefix: fc.constantFrom<Lie['prefix']>('none', 'magic', 'magic+cookie'),
          garbage: fc.uint8Array({ maxLength: 600 }),
          extended: fc.boolean(),
          hangUp: fc.boolean(),
        }),
        async (k) => {
          current = k;
          const t0 = Date.now();
          const bound = new Promise<'hang'>((r) => setTimeout(() => r('hang'), 20 * TIMEOUT).unref());
          const result = await Promise.race([
            exerciseClient(server.path, TIMEOUT).then((r) => r.errors),
            bound,
          ]);
          expect(result).not.toBe('hang');
          for (const e of result as unknown[]) expect(e).toBeInstanceOf(NbdError);
          expect(Date.now() - t0).toBeLessThan(20 * TIMEOUT);
        },
      ),
      { numRuns: 120 },
    );
  }, 120_000);
});
