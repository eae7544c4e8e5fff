import type { Duplex } from 'node:stream';

/** The stream ended (or failed) before the bytes asked for arrived. `partial`: some of them had come. */
export class EofError extends Error {
  constructor(
    readonly partial: boolean,
    cause?: unknown,
  ) {
    super(partial ? 'Unexpected end-of-file before all bytes were read' : 'end of stream', { cause });
  }
}

interface Waiter {
  need: number;
  /** true: discard the bytes as they come instead of collecting them */
  skip: boolean;
  /** copy the bytes straight here (at `at`) as they come */
  into?: Uint8Array;
  at: number;
  got: number;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Exact-length reads from a byte stream, one at a time, with bounded buffering: while nobody waits for
 * more than is buffered and the buffer holds `highWater` bytes, the stream is paused, so a peer that
 * sends faster than we parse fills its own socket buffer, not our memory. A read of N bytes buffers at
 * most N (+ one incoming chunk); `skip` discards without buffering.
 */
export class ByteReader {
  private chunks: Buffer[] = [];
  private total = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiter: Waiter | undefined;

  /**
   * `external`: the bytes come through `feed` (a socket's `onread` callback with a reused buffer)
   * instead of 'data' events.
   */
  constructor(
    private readonly stream: Duplex,
    private readonly highWater = 1 << 20,
    external = false,
  ) {
    if (!external) stream.on('data', (b: Buffer) => this.onData(b, false));
    stream.on('end', () => this.onEnd());
    stream.on('close', () => this.onEnd());
    stream.on('error', (e: Error) => this.onEnd(e));
  }

  get buffered(): number {
    return this.total;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Exactly n bytes; rejects with EofError when the stream ends first. */
  read(n: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('ByteReader: concurrent read'));
    if (n <= 0) return Promise.resolve(EMPTY);
    if (this.total >= n) {
      const b = this.take(n);
      this.flow();
      return Promise.resolve(b);
    }
    if (this.ended) return Promise.reject(new EofError(this.total > 0, this.failure));
    return new Promise((resolve, reject) => {
      this.waiter = { need: n, skip: false, at: 0, got: 0, resolve, reject };
      this.flow();
    });
  }

  /** The next n bytes if they are already buffered, else undefined (no waiting). */
  tryRead(n: number): Buffer | undefined {
    if (this.waiter || this.total < n) return undefined;
    const b = n <= 0 ? EMPTY : this.take(n);
    this.flow();
    return b;
  }

  /** Exactly n bytes copied into `dst` at `at`, without an intermediate buffer. */
  readInto(dst: Uint8Array, at: number, n: number): Promise<void> {
    if (this.waiter) return Promise.reject(new Error('ByteReader: concurrent read'));
    if (n <= 0) return Promise.resolve();
    const now = Math.min(n, this.total);
    this.copyOut(dst, at, now);
    if (now === n) {
      this.flow();
      return Promise.resolve();
    }
    if (this.ended) return Promise.reject(new EofError(true, this.failure));
    return new Promise((resolve, reject) => {
      this.waiter = {
        need: n,
        skip: false,
        into: dst,
        at: at + now,
        got: now,
        resolve: () => resolve(),
        reject,
      };
      this.flow();
    });
  }

  /** Discard exactly n bytes. */
  skip(n: number): Promise<void> {
    if (this.waiter) return Promise.reject(new Error('ByteReader: concurrent read'));
    if (n <= 0) return Promise.resolve();
    const now = Math.min(n, this.total);
    this.discard(now);
    if (now === n) {
      this.flow();
      return Promise.resolve();
    }
    if (this.ended) return Promise.reject(new EofError(true, this.failure));
    return new Promise((resolve, reject) => {
      this.waiter = { need: n, skip: true, at: 0, got: now, resolve: () => resolve(), reject };
      this.flow();
    });
  }

  /**
   * Bytes from an `onread` callback: `b` is only valid during the call (what must wait is copied).
   * Returns false when the socket should stop reading for now.
   */
  feed(b: Buffer): boolean {
    this.onData(b, true);
    return !this.paused;
  }

  private paused = false;

  private onData(b: Buffer, transient: boolean): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w?.skip || w?.into) {
      const use = Math.min(b.length, w.need - w.got);
      if (w.into) {
        w.into.set(b.subarray(0, use), w.at);
        w.at += use;
      }
      w.got += use;
      if (use < b.length) this.push(b.subarray(use), transient);
      if (w.got === w.need) {
        this.waiter = undefined;
        w.resolve(EMPTY);
      }
    } else {
      this.push(b, transient);
      if (w && this.total >= w.need) {
        this.waiter = undefined;
        w.resolve(this.take(w.need));
      }
    }
    this.flow();
  }

  private onEnd(err?: Error): void {
    if (err && !this.failure) this.failure = err;
    if (this.ended) return;
    this.ended = true;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w.reject(new EofError(w.got > 0 || this.total > 0, this.failure));
    }
  }

  /** pause the stream while nobody needs more than is buffered and the buffer is full */
  private flow(): void {
    if (this.ended) return;
    const w = this.waiter;
    const wants = w !== undefined && (w.skip || w.into !== undefined || this.total < w.need);
    const pause = !wants && this.total >= this.highWater;
    if (pause === this.paused && (this.stream.readableFlowing === true) === !pause) return;
    this.paused = pause;
    if (pause) this.stream.pause();
    else this.stream.resume();
  }

  private push(b: Buffer, transient = false): void {
    if (b.length === 0) return;
    if (transient) b = Buffer.from(b);
    this.chunks.push(b);
    this.total += b.length;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let pos = 0;
      while (pos < n) {
        const c = this.chunks[0]!;
        const use = Math.min(c.length, n - pos);
        c.copy(out, pos, 0, use);
        pos += use;
        if (use === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(use);
      }
    }
    this.total -= n;
    return out;
  }

  private copyOut(dst: Uint8Array, at: number, n: number): void {
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0]!;
      const use = Math.min(c.length, n - pos);
      dst.set(use === c.length ? c : c.subarray(0, use), at + pos);
      pos += use;
      if (use === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(use);
    }
    this.total -= n;
  }

  private discard(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) {
        left -= c.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(left);
        left = 0;
      }
    }
    this.total -= n;
  }
}
