/** Shared argument checks so every store rejects bad requests the same way. */
export function checkRange(size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`invalid range offset=${offset} length=${length}`);
  }
  if (offset + length > size) {
    throw new RangeError(`range [${offset}, ${offset + length}) exceeds image size ${size}`);
  }
}

export function checkWritable(readOnly: boolean, what: string): void {
  if (readOnly) throw new Error(`${what}: image is opened read-only`);
}
