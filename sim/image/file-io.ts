import { readSync, writeSync } from 'node:fs';

/**
 * readSync may return short counts; loop so callers get all bytes, zero-filled past EOF. The buffer is
 * not zeroed first (the NBD server reads whole exports through here): the file fills it, and only a tail
 * past EOF is zeroed.
 */
export function preadFull(fd: number, length: number, position: number): Uint8Array {
  // its own ArrayBuffer (never the shared pool), returned as the plain Uint8Array callers always had
  const out = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  const done = preadSome(fd, out, position);
  if (done < length) out.fill(0, done);
  return out;
}

export function preadInto(fd: number, out: Uint8Array, position: number): void {
  preadSome(fd, out, position); // EOF: the rest stays as it was (zero in a fresh buffer), like a sparse tail
}

/** Reads until `out` is full or EOF; returns how many bytes came. */
function preadSome(fd: number, out: Uint8Array, position: number): number {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

export function pwriteFull(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) {
    done += writeSync(fd, data, done, data.length - done, position + done);
  }
}

/** One shared zero buffer: zero-filling large ranges must not allocate per call. */
const ZERO_CHUNK = new Uint8Array(1 << 20);

export function pwriteZeroes(fd: number, position: number, length: number): void {
  let done = 0;
  while (done < length) {
    const n = Math.min(ZERO_CHUNK.length, length - done);
    pwriteFull(fd, n === ZERO_CHUNK.length ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, n), position + done);
    done += n;
  }
}
