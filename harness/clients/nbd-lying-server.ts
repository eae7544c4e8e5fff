/**
 * A lying NBD server for fuzzing the client: it sends garbage at the greeting, in the option phase or in
 * place of a reply (often behind a valid magic and cookie, so the parser goes deep), then maybe hangs
 * up. `exerciseClient` is what the client is put through against it: connect, then a read, a write,
 * block status and a flush at once. The client's fuzz test and the `nbd-client` fuzz target share both.
 */
import {
  EXTENDED_REPLY_MAGIC,
  IHAVEOPT,
  NBDMAGIC,
  REP_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  u32,
} from '../../contract/nbd.ts';
import { NbdClient } from './nbd-client.ts';
import { type FakeConn, greet, readOption, readRequest, serveHandshake } from './nbd-fake-server.ts';

/** How the server lies. */
export interface Lie {
  stage: 'greeting' | 'option' | 'reply';
  /** a plausible start for the garbage, so parsing gets past the first check */
  prefix: 'none' | 'magic' | 'magic+cookie';
  garbage: Uint8Array;
  extended: boolean;
  hangUp: boolean;
}

/** Serve one connection, lying as `k` says. */
export async function lie(c: FakeConn, k: Lie): Promise<void> {
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

/** connect, read, write, block status, flush; resolves with the errors seen */
export async function exerciseClient(
  path: string,
  timeoutMs: number,
): Promise<{ connected: boolean; errors: unknown[] }> {
  const errors: unknown[] = [];
  let c: NbdClient | undefined;
  try {
    c = await NbdClient.connect(path, {
      exportName: 'x',
      timeoutMs,
      metaContexts: ['base:allocation'],
      maxPayload: 1 << 20,
    });
  } catch (e) {
    errors.push(e);
  }
  if (c) {
    const calls = [c.read(0, 4096), c.write(0, Buffer.alloc(512)), c.blockStatus(0, 4096), c.flush()];
    for (const r of await Promise.allSettled(calls)) if (r.status === 'rejected') errors.push(r.reason);
    c.close();
  }
  return { connected: c !== undefined, errors };
}
