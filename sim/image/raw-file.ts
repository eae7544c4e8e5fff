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
  const size = fstatSync(fd).size;
  const open = (): number => {
    if (fd === undefined) throw new Error(`${path}: raw file is closed`);
    return fd;
  };
  const zero = (what: string, offset: number, length: number): void => {
    checkRange(size, offset, length);
    checkWritable(readOnly, what);
    pwriteZeroes(open(), offset, length);
    dirty = true;
  };
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      checkRange(size, offset, length);
      return preadFull(open(), length, offset);
    },
    write(offset: number, data: Uint8Array): void {
      checkRange(size, offset, data.length);
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
      checkRange(size, offset, length);
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
