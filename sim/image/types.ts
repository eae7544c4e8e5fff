/**
 * What the simulator's block drivers need from an image: byte access plus allocation status.
 * Offsets and lengths are plain numbers (safe up to 2^53, far beyond any test image).
 */
export type AllocStatus = 'data' | 'zero' | 'unallocated';

export interface Extent {
  offset: number;
  length: number;
  /** data: bytes stored here; zero: reads as zeroes and is known to (qcow2 zero cluster / hole); unallocated: defer to backing */
  status: AllocStatus;
}

export interface ImageStore {
  /** virtual size in bytes */
  readonly size: number;
  /** bytes [offset, offset+length); unallocated parts read as zero at this layer (backing is the caller's job) */
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  writeZeroes(offset: number, length: number): void;
  /** discard: the range becomes unallocated (reads fall through to a backing) where the format allows */
  discard(offset: number, length: number): void;
  /** allocation map of [offset, offset+length), adjacent extents of one status merged, in order, covering the range */
  blockStatus(offset: number, length: number): Extent[];
  flush(): void;
  close(): void;
  /** bytes of memory held for data (for the memory benchmark); 0 for file-backed stores */
  readonly memoryBytes: number;
  /** forget a cached size: another handle of the same file (a qcow2 layer) may have grown it */
  refreshSize?(): void;
}
