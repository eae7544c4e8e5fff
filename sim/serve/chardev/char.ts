/**
 * Character devices as QEMU's chardev/char.c and the frontend interface of char-fe.c: a chardev yields
 * connections one at a time to the frontend that sits on it (here, always a QMP monitor).
 */
import type { Duplex } from 'node:stream';

/** What sits on a chardev: the QMP monitor. */
export interface CharFrontend {
  /**
   * A connection to serve. `early`: it was open before the frontend attached (stdio, a client
   * chardev, the client a wait=on server waited for), so QEMU greets it at once, even during startup.
   */
  open(conn: Duplex, early: boolean): void;
}

/**
 * A character device that yields connections one at a time. Until a frontend attaches, an accepted
 * connection is held paused (QEMU does not read a chardev without a frontend).
 */
export abstract class Chardev {
  protected frontend: CharFrontend | undefined;
  protected active: Duplex | undefined;
  /** the connection that was already open when startup went on (see CharFrontend.open) */
  protected early: Duplex | undefined;

  constructor(readonly id: string) {}

  get inUse(): boolean {
    return this.frontend !== undefined;
  }

  attach(fe: CharFrontend): void {
    this.frontend = fe;
    if (this.active) fe.open(this.active, this.active === this.early);
  }

  protected setActive(conn: Duplex): void {
    this.active = conn;
    conn.on('error', () => {});
    conn.once('close', () => {
      if (this.active === conn) this.active = undefined;
      this.onDisconnect();
    });
    if (this.frontend) this.frontend.open(conn, false);
    else conn.pause();
  }

  /** the current client went away */
  protected onDisconnect(): void {}

  /** Stop serving: drop clients; remove the unix socket it created. */
  abstract close(): void;
}

export class CharError extends Error {}
