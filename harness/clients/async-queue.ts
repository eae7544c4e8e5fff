/**
 * A FIFO that consumers await with a timeout. Once failed (connection gone, listener closed),
 * items already queued are still handed out — an event that arrived before a crash is evidence —
 * and only an empty queue rejects.
 */
import { QmpTimeoutError } from './qmp-errors.js';

interface Waiter<T> {
  resolve: (item: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class AsyncQueue<T> {
  private items: T[] = [];
  private waiters: Waiter<T>[] = [];
  private failure: Error | undefined;

  push(item: T): void {
    if (this.failure !== undefined) return;
    const w = this.waiters.shift();
    if (w !== undefined) {
      clearTimeout(w.timer);
      w.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  /** `describe` is only called on timeout, so callers can build an expensive message lazily. */
  next(timeoutMs: number, describe: () => string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== waiter);
          reject(new QmpTimeoutError(`timed out after ${timeoutMs} ms ${describe()}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  drain(): T[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  get size(): number {
    return this.items.length;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** First failure wins: later ones would only blur the original cause. */
  fail(err: Error): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
