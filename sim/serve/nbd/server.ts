/**
 * The simulator's NBD server on real sockets: what QEMU's nbd/server.c (7.2; 8.2+ for extended headers)
 * does with a client, over the exports the QMP side keeps in `core.exports`. `attachNbdServer(core)`
 * installs the socket hooks that nbd-server-start / nbd-server-stop / block-export-del call.
 *
 * Requests are served one after another (the block layer here is synchronous), so replies come in
 * request order; clients may still keep many requests in flight. Memory per connection is bounded by
 * one request (WRITE payloads are at most 32 MiB, as in QEMU) plus the reader's high-water mark; a
 * connection whose peer sends garbage is dropped alone, never the process.
 *
 * This file: the listener, max-connections and the hooks; connection.ts is one client's lifecycle,
 * handshake.ts the option phase, transmission.ts reading requests, commands.ts serving them, replies.ts
 * encoding the answers.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { BlockExport } from '../../block/nbd-state.ts';
import type { SimCore } from '../../core/core.ts';
import { generic } from '../../util/qmp-error.ts';
import { Conn } from './connection.ts';

export interface NbdServerOptions {
  /** where QEMU would print to stderr ("Disconnect client, due to: …"); default: nowhere */
  log?: (line: string) => void;
  /** bytes a connection may buffer beyond the request being read (default 1 MiB) */
  readHighWater?: number;
  /** replies queued in the socket beyond which the server waits for the client to read (default 8 MiB) */
  writeHighWater?: number;
  /** connections waiting for a slot under max-connections (QEMU leaves them in the listen backlog) */
  maxPending?: number;
}

export interface NbdServerHandle {
  /** Stops listening, drops every client and removes the hooks. Idempotent. */
  close(): Promise<void>;
  /** the bound address: a unix path, or host/port; null when not listening */
  address(): string | net.AddressInfo | null;
  /** resolves once the listener is bound (inet binds asynchronously); rejects if binding failed */
  ready(): Promise<void>;
  /** connections open now: negotiating, transmitting, or waiting for a slot */
  connectionCount(): number;
}

export class Server {
  listener: net.Server | undefined;
  unixPath: string | undefined;
  readonly conns = new Set<Conn>();
  readonly pending: net.Socket[] = [];
  active = 0;
  bound: Promise<void> = Promise.resolve();
  /** settles once the last listener closed */
  stopped: Promise<void> = Promise.resolve();
  readonly log: (line: string) => void;
  readonly readHighWater: number;
  readonly writeHighWater: number;
  readonly maxPending: number;
  /** QEMU 8.2+: extended headers, 64-bit lengths, reworded messages */
  readonly modern: boolean;
  readonly extendedHeaders: boolean;
  /** QEMU 7.1+: NBD_FLAG_CAN_MULTI_CONN unless max-connections is 1 */
  readonly multiConn: boolean;
  /** QEMU 5.2 reports a client that closes between requests without NBD_CMD_DISC */
  readonly reportsEofAtRequest: boolean;
  /**
   * drops clients that have not finished the handshake after handshake-max-seconds (10), on the simulated
   * clock (CVE-2024-7409 fix: 9.1, and 7.2.x stable)
   */
  readonly handshakeMaxMs: number;

  constructor(
    readonly core: SimCore,
    opts: NbdServerOptions,
  ) {
    this.log = opts.log ?? (() => {});
    this.readHighWater = opts.readHighWater ?? 1 << 20;
    this.writeHighWater = opts.writeHighWater ?? 8 << 20;
    this.maxPending = opts.maxPending ?? 128;
    const { major, minor } = core.version.qemu;
    const v = major * 100 + minor;
    this.modern = v >= 802;
    this.extendedHeaders = core.version.features.has('nbd-extended-headers');
    this.multiConn = v >= 701;
    this.reportsEofAtRequest = v < 600;
    this.handshakeMaxMs = core.version.features.has('nbd-handshake-limit') ? 10_000 : 0;
  }

  get maxConnections(): number {
    return this.core.nbd?.maxConnections ?? 0;
  }

  findExport(name: string): BlockExport | undefined {
    for (const e of this.core.exports.values()) if (e.name === name && !e.shuttingDown) return e;
    return undefined;
  }

  listen(addr: { type: string; data?: Record<string, unknown> } & Record<string, unknown>): void {
    if (this.listener) this.unlisten();
    const data = (addr.data ?? addr) as Record<string, unknown>;
    const server = net.createServer({ pauseOnConnect: true }, (s) => this.accept(s));
    let boundResolve!: () => void;
    let boundReject!: (e: Error) => void;
    this.bound = new Promise<void>((res, rej) => {
      boundResolve = res;
      boundReject = rej;
    });
    this.bound.catch(() => {});
    server.on('listening', () => boundResolve());
    server.on('error', (e) => {
      this.log(`nbd: listener error: ${e.message}`);
      boundReject(e);
    });
    if (addr.type === 'unix') {
      const cwd = 'cwd' in this.core.fs ? String((this.core.fs as { cwd: string }).cwd) : process.cwd();
      const p = path.resolve(cwd, String(data.path ?? ''));
      // QEMU unlinks a stale socket before binding; anything else in the way is a bind error
      try {
        if (fs.lstatSync(p).isSocket()) fs.unlinkSync(p);
      } catch {
        // nothing there
      }
      server.listen(p);
      if (!server.listening) {
        server.close();
        throw generic(`Failed to bind socket to ${p}: Address already in use`);
      }
      try {
        fs.chmodSync(p, 0o600);
      } catch {
        // the socket vanished under us: the listener reports it
      }
      this.unixPath = p;
    } else if (addr.type === 'inet') {
      const host = String(data.host ?? '');
      const portText = String(data.port ?? '0');
      // inet_listen_saddr: getaddrinfo(host, port) takes a number or a service name of /etc/services
      const port = /^\d+$/.test(portText) ? Number(portText) : serviceLookup(portText);
      if (port === undefined || port > 65535)
        throw generic(
          `address resolution failed for ${host}:${portText}: Servname not supported for ai_socktype`,
        );
      server.listen({ host: host || undefined, port, ipv6Only: data.ipv6 === true && data.ipv4 !== true });
    } else {
      throw generic(`socket address type '${addr.type}' is not supported by the simulator's NBD server`);
    }
    this.listener = server;
  }

  /**
   * No new connections, and every client goes. `keepStray`: nbd-server-stop before the CVE-2024-7409 fix
   * (7.2.x stable has it), which left the clients still in the handshake connected; the clients of the
   * exports it removes go with them either way.
   */
  unlisten(keepStray = false): void {
    const l = this.listener;
    this.listener = undefined;
    if (l) this.stopped = new Promise<void>((r) => l.close(() => r()));
    if (this.unixPath) {
      try {
        fs.unlinkSync(this.unixPath);
      } catch {
        // already gone
      }
      this.unixPath = undefined;
    }
    for (const s of this.pending.splice(0)) s.destroy();
    for (const c of [...this.conns]) if (!keepStray || c.negotiated) c.close();
  }

  private accept(sock: net.Socket): void {
    sock.on('error', () => {});
    if (!this.listener) {
      sock.destroy();
      return;
    }
    const max = this.maxConnections;
    if (max > 0 && this.active >= max) {
      if (this.pending.length >= this.maxPending) {
        sock.destroy();
        return;
      }
      this.pending.push(sock);
      sock.once('close', () => {
        const i = this.pending.indexOf(sock);
        if (i >= 0) this.pending.splice(i, 1);
      });
      return;
    }
    this.start(sock);
  }

  private start(sock: net.Socket): void {
    this.active++;
    const c = new Conn(this, sock);
    this.conns.add(c);
    void c.run().finally(() => {
      this.conns.delete(c);
      this.active--;
      this.admitPending();
    });
  }

  private admitPending(): void {
    while (this.pending.length > 0 && this.listener) {
      const max = this.maxConnections;
      if (max > 0 && this.active >= max) return;
      const s = this.pending.shift()!;
      if (s.destroyed) continue;
      this.start(s);
    }
  }

  /** clients connected that have not finished the handshake */
  handshaking(): number {
    let n = 0;
    for (const c of this.conns) if (!c.negotiated) n++;
    return n;
  }

  exportClosing(exp: BlockExport): void {
    for (const c of [...this.conns]) if (c.exp === exp) c.close();
  }

  address(): string | net.AddressInfo | null {
    if (!this.listener) return null;
    return this.unixPath ?? this.listener.address();
  }
}

/**
 * Makes `nbd-server-start` listen for real: sets core.nbdListen / nbdUnlisten / exportClosing. When the
 * core already runs an NBD server (started before attaching), it listens at once.
 */
export function attachNbdServer(core: SimCore, opts: NbdServerOptions = {}): NbdServerHandle {
  const srv = new Server(core, opts);
  const listen = (addr: { type: string; data: Record<string, unknown> }) => srv.listen(addr);
  // nbd-server-stop; the handle's close (the process going) drops every client whatever the version
  const unlisten = () => srv.unlisten(!core.version.features.has('nbd-server-stop-closes-clients'));
  const closing = (exp: BlockExport) => srv.exportClosing(exp);
  const handshaking = () => srv.handshaking();
  core.nbdListen = listen;
  core.nbdUnlisten = unlisten;
  core.exportClosing = closing;
  core.nbdHandshaking = handshaking;
  if (core.nbd) srv.listen(core.nbd.addr);
  let closed: Promise<void> | undefined;
  return {
    close: () => {
      closed ??= (async () => {
        srv.unlisten();
        if (core.nbdListen === listen) core.nbdListen = undefined;
        if (core.nbdUnlisten === unlisten) core.nbdUnlisten = undefined;
        if (core.exportClosing === closing) core.exportClosing = undefined;
        if (core.nbdHandshaking === handshaking) core.nbdHandshaking = undefined;
        await srv.stopped;
      })();
      return closed;
    },
    address: () => srv.address(),
    ready: () => srv.bound,
    connectionCount: () => srv.active + srv.pending.length,
  };
}

/** a tcp service name's port, as getaddrinfo finds it in /etc/services */
function serviceLookup(name: string): number | undefined {
  let text = '';
  try {
    text = fs.readFileSync('/etc/services', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(words[1] ?? '');
    if (m && (words[0] === name || words.slice(2).includes(name))) return Number(m[1]);
  }
  return undefined;
}
