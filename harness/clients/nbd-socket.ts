/**
 * Reaching an NBD server: the address forms (a unix path, TCP host and port, an nbd:// URI), the options
 * every connection takes, and a socket whose reads land in one reused buffer.
 */
import net from 'node:net';
import { ByteReader } from '../../sim/serve/nbd/reader.ts';
import { NbdConnectError, NbdTimeoutError } from './nbd-errors.js';

export const DEFAULT_TIMEOUT_MS = 10_000;

/** A unix socket path, or a TCP host and port. */
export type NbdAddress = string | { path: string } | { host: string; port: number };

export type ReplyMode = 'simple' | 'structured' | 'extended';

export interface NbdOptions {
  /** each handshake step, and each request from submission to its last reply chunk */
  timeoutMs?: number;
  /**
   * 'auto' (default): extended headers when the server has them, else structured replies, else simple;
   * or exactly one mode (negotiation fails if the server refuses it).
   */
  replies?: 'auto' | ReplyMode;
  /** requests sent before their replies arrive; more wait in a queue (default 64) */
  maxInFlight?: number;
  /** biggest reply chunk payload accepted (default 64 MiB); larger is a protocol error */
  maxPayload?: number;
}

export type Connected = { sock: net.Socket; reader: ByteReader };

function describeAddress(a: NbdAddress): string {
  if (typeof a === 'string') return a;
  return 'path' in a ? a.path : `${a.host}:${a.port}`;
}

const READ_BUFFER = 256 * 1024;

/**
 * Connect; the socket reads into one reused buffer (`onread`) that feeds a ByteReader, so a stream of
 * large replies does not allocate per socket read.
 */
export async function connectSocket(address: NbdAddress, timeoutMs: number): Promise<Connected> {
  const target =
    typeof address === 'string'
      ? { path: address }
      : 'path' in address
        ? { path: address.path }
        : { host: address.host, port: address.port };
  let reader: ByteReader | undefined;
  const early: Buffer[] = [];
  const opts = {
    ...target,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER),
      callback: (n: number, buf: Uint8Array): boolean => {
        const b = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (reader) return reader.feed(b);
        early.push(Buffer.from(b));
        return true;
      },
    },
  } as net.NetConnectOpts;
  return new Promise((resolve, reject) => {
    const sock = net.connect(opts);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new NbdTimeoutError(`connecting to ${describeAddress(address)} timed out after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.on('error', () => {});
      sock.setNoDelay(true);
      reader = new ByteReader(sock, 4 << 20, true);
      for (const b of early.splice(0)) reader.feed(b);
      resolve({ sock, reader });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new NbdConnectError(`cannot connect to ${describeAddress(address)}: ${e.message}`, e.code));
    });
  });
}

/** Parse `nbd+unix:///NAME?socket=PATH` or `nbd://HOST:PORT/NAME`. */
export function parseNbdUri(uri: string): { address: NbdAddress; exportName: string } {
  const u = new URL(uri);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol === 'nbd+unix:') {
    const socket = u.searchParams.get('socket');
    if (!socket) throw new Error(`${uri}: no socket= parameter`);
    return { address: { path: socket }, exportName: name };
  }
  if (u.protocol === 'nbd:' || u.protocol === 'nbd+tcp:')
    return { address: { host: u.hostname, port: u.port ? Number(u.port) : 10809 }, exportName: name };
  throw new Error(`${uri}: not an NBD URI`);
}
