import { readSync, writeSync } from 'node:fs';

/** readSync may return short counts; loop so callers get all bytes, zero-filled past EOF. */
export function preadFull(fd: number, length: number, position: number): Uint8Array {
  const out = new Uint8Array(length);
  preadInto(fd, out, position);
  return out;
}

export function preadInto(fd: number, out: Uint8Array, position: number): void {
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, position + done);
    if (n === 0) break; // EOF: the rest stays zero, like a sparse tail
    done += n;
  }
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
