import net from 'node:net';

/**
 * Raw NBD connections that read the server's greeting and then say nothing: a client that never negotiates
 * (what CVE-2024-7409 is about). Each one records whether the server greeted it (NBDMAGIC, IHAVEOPT and the
 * handshake flags: 18 bytes) and whether the server has closed it since.
 */
export interface HeldConnection {
  readonly socket: net.Socket;
  greeted: boolean;
  closed: boolean;
}

/** the greeting of the fixed newstyle handshake: 8 + 8 + 2 bytes */
const GREETING_BYTES = 18;

function holdOne(path: string, waitMs: number): Promise<HeldConnection> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const c: HeldConnection = { socket, greeted: false, closed: false };
    let got = 0;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(c);
    };
    const timer = setTimeout(settle, waitMs);
    socket.on('data', (d) => {
      got += d.length;
      if (got >= GREETING_BYTES && !c.greeted) {
        c.greeted = true;
        settle();
      }
    });
    // a server that hangs up (or refuses) ends the wait: the connection is closed, greeted or not
    socket.on('close', () => {
      c.closed = true;
      settle();
    });
    socket.on('error', () => {});
  });
}

/**
 * Opens `n` connections to the unix socket `path`. `together`: all at once (a burst, as a crowd of clients
 * makes it); otherwise one after the other, each once the previous one was greeted or waited `waitMs`, so a
 * small listen backlog never refuses part of a burst. Resolves when every connection was greeted, closed or
 * waited `waitMs`; the connections stay open until the caller destroys them.
 */
export async function holdConnections(
  path: string,
  n: number,
  waitMs: number,
  opts: { together?: boolean } = {},
): Promise<HeldConnection[]> {
  if (opts.together) return Promise.all(Array.from({ length: n }, () => holdOne(path, waitMs)));
  const out: HeldConnection[] = [];
  for (let i = 0; i < n; i++) out.push(await holdOne(path, waitMs));
  return out;
}

export function releaseConnections(cs: readonly HeldConnection[]): void {
  for (const c of cs) c.socket.destroy();
}
