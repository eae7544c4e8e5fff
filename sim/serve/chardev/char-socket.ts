/**
 * `--chardev socket` (chardev/char-socket.c): in server mode it serves one client at a time; later
 * clients wait, connected but unanswered, until the current one hangs up (QEMU stops accepting while a
 * client is attached), at most 16 of them; in client mode QEMU connects out.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Chardev, CharError } from './char.ts';

function errnoText(e: NodeJS.ErrnoException): string {
  const table: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EADDRINUSE: 'Address already in use',
    EADDRNOTAVAIL: 'Cannot assign requested address',
    ECONNREFUSED: 'Connection refused',
    ENOTDIR: 'Not a directory',
    EISDIR: 'Is a directory',
    ENAMETOOLONG: 'File name too long',
    EPERM: 'Operation not permitted',
    EROFS: 'Read-only file system',
    ENOTSOCK: 'Socket operation on non-socket',
    EINVAL: 'Invalid argument',
  };
  return (e.code && table[e.code]) || e.message;
}

export type SocketAddr = { type: 'unix'; path: string } | { type: 'inet'; host: string; port: string };

/** the path a unix socket descriptor is bound to (/proc/net/unix by its inode), if any */
export function unixSocketPath(fd: number): string | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
    if (!m) return undefined;
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[6] === m[1]) return f[7];
    }
  } catch {
    // not on Linux, or the descriptor is gone
  }
  return undefined;
}

/** `--chardev socket,...,server=on`: listens; one client at a time, the others wait their turn. */
export class SocketServerChardev extends Chardev {
  private server: net.Server | undefined;
  private readonly waiting: net.Socket[] = [];
  private unixPath: string | undefined;
  private closed = false;
  readonly maxWaiting = 16;

  private constructor(
    id: string,
    readonly addr: SocketAddr | { type: 'fd'; fd: number; path: string | undefined },
  ) {
    super(id);
  }

  /** The chardev's "filename", as in "QEMU waiting for connection on: disconnected:unix:P,server=on". */
  label(legacy = false): string {
    return `disconnected:${this.filename(legacy)}`;
  }

  /** qemu_chr_compute_filename of the listening socket: "unix:P,server=on" (tcp: "tcp:H:P,server=on") */
  filename(legacy = false): string {
    const server = legacy ? 'server' : 'server=on';
    if (this.addr.type === 'fd') return `unix:${this.addr.path ?? ''},${server}`;
    return this.addr.type === 'unix'
      ? `unix:${this.addr.path},${server}`
      : `tcp:${this.addr.host}:${this.addr.port},${server}`;
  }

  /** query-chardev's frontend-open: a client is being served */
  get connected(): boolean {
    return this.active !== undefined;
  }

  /**
   * `-chardev socket,fd=N,server=on`: a listening socket the caller passed in (libvirt hands over its
   * monitor socket this way). It must be a socket; listen(2) is called on it again, as QEMU does.
   */
  static async fromFd(id: string, fd: number, server: boolean): Promise<SocketServerChardev> {
    if (!server) throw new CharError('fleece-lab: chardev socket fd= without server=on is not simulated');
    let isSocket = false;
    try {
      isSocket = fs.fstatSync(fd).isSocket();
    } catch {
      // not open: not a socket either
    }
    if (!isSocket) throw new CharError(`File descriptor '${fd}' is not a socket`);
    const c = new SocketServerChardev(id, { type: 'fd', fd, path: unixSocketPath(fd) });
    const srv = net.createServer({ pauseOnConnect: true }, (s) => c.accept(s));
    c.server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e: NodeJS.ErrnoException) =>
        reject(new CharError(`Failed to listen on fd socket: ${errnoText(e)}`)),
      );
      srv.listen({ fd }, () => resolve());
    });
    srv.on('error', () => {});
    return c;
  }

  /** socket_listen + qio_net_listener: unlinks what is at a unix path, binds, listens (mode 0600). */
  static async listen(id: string, addr: SocketAddr, cwd: string): Promise<SocketServerChardev> {
    const c = new SocketServerChardev(id, addr);
    const server = net.createServer({ pauseOnConnect: true }, (s) => c.accept(s));
    c.server = server;
    if (addr.type === 'unix') {
      const p = path.resolve(cwd, addr.path);
      // bind(2)'s answer for a missing or non-directory parent (libuv would say EACCES)
      try {
        if (!fs.statSync(path.dirname(p)).isDirectory())
          throw new CharError(`Failed to bind socket to ${addr.path}: Not a directory`);
      } catch (e) {
        if (e instanceof CharError) throw e;
        throw new CharError(
          `Failed to bind socket to ${addr.path}: ${errnoText(e as NodeJS.ErrnoException)}`,
        );
      }
      try {
        fs.unlinkSync(p);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code !== 'ENOENT')
          throw new CharError(`Failed to unlink socket ${addr.path}: ${errnoText(err)}`);
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          reject(new CharError(`Failed to bind socket to ${addr.path}: ${errnoText(e)}`)),
        );
        server.listen(p, () => resolve());
      });
      try {
        fs.chmodSync(p, 0o600);
      } catch {
        // gone already: clients will fail to connect, as they would to QEMU
      }
      c.unixPath = p;
    } else {
      const port = Number(addr.port);
      if (!/^\d+$/.test(addr.port) || port > 65535)
        throw new CharError(
          `address resolution failed for ${addr.host}:${addr.port}: Servname not supported for ai_socktype`,
        );
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          reject(new CharError(`Failed to bind socket: ${errnoText(e)}`)),
        );
        server.listen({ host: addr.host || undefined, port }, () => resolve());
      });
    }
    server.on('error', () => {});
    return c;
  }

  /** wait=on: QEMU blocks startup until the first client connects. */
  waitForClient(): Promise<void> {
    if (this.active) {
      this.early = this.active;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const check = () => {
        if (this.active || this.closed) {
          this.early = this.active;
          this.server?.off('connection', onConn);
          resolve();
        }
      };
      const onConn = () => setImmediate(check);
      this.server?.on('connection', onConn);
    });
  }

  get boundPort(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  private accept(s: net.Socket): void {
    s.on('error', () => {});
    if (this.closed) {
      s.destroy();
      return;
    }
    if (!this.active) {
      this.setActive(s);
      return;
    }
    if (this.waiting.length >= this.maxWaiting) {
      s.destroy();
      return;
    }
    this.waiting.push(s);
    s.once('close', () => {
      const i = this.waiting.indexOf(s);
      if (i >= 0) this.waiting.splice(i, 1);
    });
  }

  protected override onDisconnect(): void {
    if (this.closed) return;
    while (this.waiting.length > 0) {
      const s = this.waiting.shift()!;
      if (s.destroyed) continue;
      this.setActive(s);
      return;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server?.close();
    for (const s of this.waiting.splice(0)) s.destroy();
    this.active?.destroy();
    if (this.unixPath) {
      try {
        fs.unlinkSync(this.unixPath);
      } catch {
        // already gone
      }
      this.unixPath = undefined;
    }
  }
}

/** `--chardev socket,path=P` (client mode): QEMU connects out and serves QMP on that connection. */
export class SocketClientChardev extends Chardev {
  static async connect(id: string, addr: SocketAddr, cwd: string): Promise<SocketClientChardev> {
    const c = new SocketClientChardev(id);
    const where = addr.type === 'unix' ? addr.path : `${addr.host}:${addr.port}`;
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        addr.type === 'unix'
          ? net.createConnection({ path: path.resolve(cwd, addr.path) })
          : net.createConnection({ host: addr.host, port: Number(addr.port) });
      s.once('connect', () => resolve(s));
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(new CharError(`Failed to connect to '${where}': ${errnoText(e)}`)),
      );
    });
    sock.pause();
    c.setActive(sock);
    c.early = sock;
    return c;
  }

  close(): void {
    this.active?.destroy();
  }
}
