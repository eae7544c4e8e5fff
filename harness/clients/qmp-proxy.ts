/**
 * A transparent QMP proxy that records (`fleece-lab record --listen SOCK --upstream SOCK`): it listens on
 * a unix socket, and when a client connects it connects to QEMU's monitor and passes every byte both ways
 * unchanged, while keeping each message in the order the proxy saw it — the client's as QEMU's own JSON
 * streamer splits them (sim/serve/qobject/json-streamer.ts: a client need not end a command with a
 * newline), QEMU's one a line. Ids and order are the client's: nothing is added, changed or held back.
 *
 * Bounds: the wait for a client, the connection to the upstream, and the drain after one side closes.
 * A side that stops sending (half-close) is passed on as such; when either side closes, the other is
 * closed too and the proxy removes its socket.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { ConversationMessage } from '../../contract/formats/conversation-trace.ts';
import { JsonMessageParser } from '../../sim/serve/qobject/json-streamer.ts';
import { toPlain } from '../../sim/serve/qobject/qobject.ts';
import { LineFramer } from './line-framer.ts';

export interface ProxyOptions {
  listen: string;
  upstream: string;
  /** how long to wait for a client (default 60 s) */
  clientWaitMs?: number;
  /** how long to wait for the upstream to accept (default 5 s) */
  connectMs?: number;
  /** called once the proxy listens (the socket exists) */
  onListening?: () => void;
}

export interface ProxyRecording {
  messages: ConversationMessage[];
  /** which side ended the conversation */
  endedBy: 'client' | 'upstream';
}

function errText(e: unknown): string {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' ? c : e instanceof Error ? e.message : String(e);
}

async function listenOnce(o: ProxyOptions): Promise<{ server: net.Server; client: net.Socket }> {
  if (fs.existsSync(o.listen)) throw new Error(`${o.listen} exists: remove it or choose another path`);
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on ${o.listen}: ${errText(e)}`)));
    server.listen(o.listen, resolve);
  });
  o.onListening?.();
  const wait = o.clientWaitMs ?? 60_000;
  try {
    const client = await new Promise<net.Socket>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no client connected to ${o.listen} within ${wait} ms`)),
        wait,
      );
      server.once('connection', (s) => {
        clearTimeout(t);
        resolve(s);
      });
    });
    return { server, client };
  } catch (e) {
    server.close();
    throw e;
  }
}

async function connectUpstream(file: string, ms: number): Promise<net.Socket> {
  const sock = net.createConnection({ path: file, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`upstream ${file}: no connection within ${ms} ms`));
    }, ms);
    sock.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
    sock.once('error', (e) => {
      clearTimeout(t);
      reject(new Error(`upstream ${file}: ${errText(e)}`));
    });
  });
  return sock;
}

/** Proxies one client's conversation with the upstream, and returns it when either side has closed. */
export async function proxyOnce(o: ProxyOptions): Promise<ProxyRecording> {
  const { server, client } = await listenOnce(o);
  server.close(); // one client: no other may connect
  let upstream: net.Socket;
  try {
    upstream = await connectUpstream(o.upstream, o.connectMs ?? 5000);
  } catch (e) {
    client.destroy();
    throw e;
  } finally {
    fs.rmSync(o.listen, { force: true });
  }
  const t0 = Date.now();
  const messages: ConversationMessage[] = [];
  const at = () => Date.now() - t0;
  const fromClient = new JsonMessageParser('classic', (m) =>
    messages.push({
      dir: 'send',
      msg: 'value' in m ? toPlain(m.value) : { unparsed: `(not JSON to QEMU's parser: ${m.error})` },
      ms: at(),
    }),
  );
  const fromQemu = new LineFramer(64 << 20);
  client.on('data', (b: Buffer) => {
    fromClient.feed(b);
    upstream.write(b);
  });
  upstream.on('data', (b: Buffer) => {
    let lines: string[] = [];
    try {
      lines = fromQemu.push(b);
    } catch (e) {
      lines = [`(${errText(e)})`];
    }
    for (const line of lines) {
      if (line.trim() === '') continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = { unparsed: line };
      }
      messages.push({ dir: 'recv', msg, ms: at() });
    }
    client.write(b);
  });
  const endedBy = await new Promise<ProxyRecording['endedBy']>((resolve) => {
    let first: ProxyRecording['endedBy'] | undefined;
    let closing = false;
    // a side that stops sending (half-close) is passed on as such: QEMU decides what that means
    client.once('end', () => {
      first ??= 'client';
      upstream.end();
    });
    upstream.once('end', () => {
      first ??= 'upstream';
      client.end();
    });
    const closed = (who: ProxyRecording['endedBy']) => {
      first ??= who;
      if (closing) return;
      closing = true;
      (who === 'client' ? upstream : client).end();
      // half a second for what is still in flight, then both are gone
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
        resolve(first ?? who);
      }, 500);
    };
    client.once('close', () => closed('client'));
    upstream.once('close', () => closed('upstream'));
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.resume();
  });
  return { messages, endedBy };
}
