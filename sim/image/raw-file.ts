import { closeSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { checkRange, checkWritable } from './bounds.js';
import { ExtentMap } from './extent-map.js';
import { preadFull, pwriteFull, pwriteZeroes } from './file-io.js';
import { probeDataExtents } from './holes.js';
import type { Extent, ImageStore } from './types.js';

export interface RawFileOptions {
  readOnly: boolean;
}

/**
 * A raw image file, read and written for real with synchronous fs calls.
 *
 * blockStatus is what file-posix answers: data where the host file has data (SEEK_DATA, asked once
 * when status is first wanted, see holes.ts), zero in its holes. Writes through this handle make
 * data, in whole file-system blocks as the host does. Without a probe, everything is 'data' — always a
 * correct (if conservative) answer.
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
  /** data extents of the host file; undefined until status is first asked (or when it cannot be) */
  let data: ExtentMap | undefined;
  let probed = false;
  const fsBlock = (() => {
    const b = fstatSync(fd).blksize;
    return b > 0 && b <= 1 << 20 ? b : 4096;
  })();
  const wrote = (offset: number, length: number): void => {
    if (!data || length <= 0) return;
    const s = Math.floor(offset / fsBlock) * fsBlock;
    const e = Math.ceil((offset + length) / fsBlock) * fsBlock;
    data.set(s, e - s, 'data');
  };
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
    wrote(offset, length);
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
    write(offset: number, bytes: Uint8Array): void {
      inRange(offset, bytes.length);
      checkWritable(readOnly, 'write');
      pwriteFull(open(), bytes, offset);
      wrote(offset, bytes.length);
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
      if (length === 0) return [];
      if (!probed) {
        probed = true;
        const found = probeDataExtents(path);
        if (found) {
          data = new ExtentMap();
          for (const [s, e] of found) data.set(s, e - s, 'data');
        }
      }
      if (!data) return [{ offset, length, status: 'data' }];
      // a hole of the host file reads as zeroes: file-posix reports it as zero, not as data
      return data
        .query(offset, length)
        .map((x) => (x.status === 'unallocated' ? { ...x, status: 'zero' as const } : x));
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
