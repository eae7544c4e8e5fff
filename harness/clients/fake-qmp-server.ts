/**
 * A scripted unix-socket server for client tests: it lets a test play a QMP server that never
 * answers, hangs up mid-call, or sends garbage — behaviour a real QEMU will not show on demand.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AsyncQueue } from './async-queue.js';

export const FAKE_GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: ['oob'] },
};

export interface FakeConnection {
  socket: net.Socket;
  /** lines the client sent, CR/LF stripped */
  nextLine(timeoutMs?: number): Promise<string>;
  send(msg: unknown): void;
  sendBytes(data: string | Uint8Array): void;
}

export interface FakeServer {
  path: string;
  nextConnection(timeoutMs?: number): Promise<FakeConnection>;
  close(): Promise<void>;
}

function wrap(socket: net.Socket): FakeConnection {
  const lines = new AsyncQueue<string>();
  let buf = '';
  socket.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i).replace(/\r$/, ''));
      buf = buf.slice(i + 1);
    }
  });
  // The client may hang up first; that is the point of several tests.
  socket.on('error', () => {});
  socket.on('close', () => lines.fail(new Error('fake server: client disconnected')));
  const sendBytes = (data: string | Uint8Array): void => {
    if (!socket.destroyed) socket.write(data);
  };
  return {
    socket,
    nextLine: (timeoutMs = 5_000) => lines.next(timeoutMs, () => 'fake server waiting for a client line'),
    send: (msg) => sendBytes(`${JSON.stringify(msg)}\r\n`),
    sendBytes,
  };
}

/** `onConnect` runs synchronously on accept, before any client byte is read. */
export async function startFakeServer(onConnect?: (c: FakeConnection) => void): Promise<FakeServer> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-lab-fake-'));
  const sockPath = path.join(dir, 'qmp.sock');
  const conns = new AsyncQueue<FakeConnection>();
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    const c = wrap(s);
    onConnect?.(c);
    conns.push(c);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  return {
    path: sockPath,
    nextConnection: (timeoutMs = 5_000) => conns.next(timeoutMs, () => 'fake server waiting for a client'),
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}
