import { closeSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { checkRange, checkWritable } from './bounds.js';
import { preadFull, pwriteFull, pwriteZeroes } from './file-io.js';
import type { Extent, ImageStore } from './types.js';

export interface RawFileOptions {
  readOnly: boolean;
}

/**
 * A raw image file, read and written for real with synchronous fs calls.
 *
 * blockStatus reports 'data' for the whole range: Node has no SEEK_DATA/SEEK_HOLE, and
 * reading everything to find zero blocks would make status as costly as a full read.
 * 'data' is always a correct (if conservative) answer, and raw never has 'unallocated'
 * because it has no backing to fall through to.
 *
 * discard writes zeroes: Node cannot punch holes, and zeroes are what a punched hole reads
 * back as, so callers see the same contents either way.
 */
export function openRawFile(path: string, options: RawFileOptions): ImageStore {
  const { readOnly } = options;
  let fd: number | undefined = openSync(path, readOnly ? 'r' : 'r+');
  // Only what this handle wrote needs syncing; a handle that wrote nothing has nothing to flush.
  let dirty = false;
  // Another handle (the qcow2 layer of the same file) may grow the file: the size is the file's now.
  const currentSize = (): number => {
    known = fstatSync(open()).size;
    return known;
  };
  let known = -1;
  /** range checks use the last size seen, and look again only when a request goes past it */
  const inRange = (offset: number, length: number): void => {
    if (known < 0 || offset + length > known) currentSize();
    checkRange(known, offset, length);
  };
  const open = (): number => {
    if (fd === undefined) throw new Error(`${path}: raw file is closed`);
    return fd;
  };
  const zero = (what: string, offset: number, length: number): void => {
    inRange(offset, length);
    checkWritable(readOnly, what);
    pwriteZeroes(open(), offset, length);
    dirty = true;
  };
  return {
    get size() {
      return known >= 0 ? known : currentSize();
    },
    refreshSize(): void {
      known = -1;
    },
    read(offset: number, length: number): Uint8Array {
      inRange(offset, length);
      return preadFull(open(), length, offset);
    },
    write(offset: number, data: Uint8Array): void {
      inRange(offset, data.length);
      checkWritable(readOnly, 'write');
      pwriteFull(open(), data, offset);
      dirty = true;
    },
    writeZeroes(offset: number, length: number): void {
      zero('writeZeroes', offset, length);
    },
    discard(offset: number, length: number): void {
      zero('discard', offset, length);
    },
    blockStatus(offset: number, length: number): Extent[] {
      inRange(offset, length);
      return length === 0 ? [] : [{ offset, length, status: 'data' }];
    },
    flush(): void {
      if (!readOnly && dirty) fsyncSync(open());
      dirty = false;
    },
    close(): void {
      if (fd === undefined) return;
      if (!readOnly && dirty) fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
    },
    memoryBytes: 0,
  };
}
