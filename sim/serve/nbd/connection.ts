/**
 * One NBD client (QEMU's NBDClient): its socket and reader, what it negotiated, and its lifecycle —
 * the handshake (with the CVE-2024-7409 fix's time limit, on the simulated clock), then transmission until it leaves or must be dropped, which
 * is reported the way QEMU prints it. The handshake and transmission functions take it as `conn`.
 */
import type * as net from 'node:net';
import type { BlockExport } from '../../block/nbd-state.ts';
import type { Timer } from '../../util/clock.ts';
import { negotiate } from './handshake.ts';
import { Drop, emptyMeta, type Meta, MODE_EXPORT_NAME, messageOf } from './internal.ts';
import { ByteReader, EofError } from './reader.ts';
import type { Server } from './server.ts';
import { transmission } from './transmission.ts';

export class Conn {
  mode = MODE_EXPORT_NAME;
  exp: BlockExport | undefined;
  meta: Meta = emptyMeta();
  opt = 0;
  optlen = 0;
  closed = false;
  counted = false;
  /** the handshake is over (transmission, or about to close) */
  negotiated = false;
  readonly reader: ByteReader;

  constructor(
    readonly srv: Server,
    readonly sock: net.Socket,
  ) {
    this.reader = new ByteReader(sock, srv.readHighWater);
    sock.setNoDelay(true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    if (this.counted && this.exp) {
      this.exp.clients = Math.max(0, this.exp.clients - 1);
      this.counted = false;
    }
  }

  async run(): Promise<void> {
    const clock = this.srv.core.clock;
    let timer: Timer | undefined;
    const stopTimer = () => {
      if (timer) clock.cancel(timer);
      timer = undefined;
    };
    try {
      if (this.srv.handshakeMaxMs > 0)
        timer = clock.schedule(this.srv.handshakeMaxMs * 1e6, () => {
          timer = undefined;
          this.close();
        });
      const go = await negotiate(this);
      this.negotiated = true;
      stopTimer();
      if (go && !this.closed) await transmission(this);
    } catch (e) {
      if (!this.closed) {
        if (e instanceof Drop) {
          if (e.report) this.srv.log(e.message);
        } else if (e instanceof EofError) {
          if (e.partial) this.srv.log(`Disconnect client, due to: ${e.message}`);
        } else {
          this.srv.log(`nbd: internal error, dropping the client: ${messageOf(e)}`);
        }
      }
    } finally {
      stopTimer();
      this.close();
    }
  }

  // ------------------------------------------------------------------ sending

  async send(...parts: Uint8Array[]): Promise<void> {
    if (this.closed) return;
    const s = this.sock;
    if (parts.length > 1) s.cork();
    for (const p of parts) s.write(p);
    if (parts.length > 1) s.uncork();
    if (s.writableLength > this.srv.writeHighWater) await this.drained();
  }

  drained(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || this.sock.writableLength === 0) return resolve();
      const done = () => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        resolve();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  read(n: number): Promise<Buffer> {
    return this.reader.read(n);
  }
}
