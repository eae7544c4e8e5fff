import type { BlockNode, NodeDriver } from '../block/graph.ts';
import type { ImageStore } from '../image/types.ts';

/** The `file` protocol driver: bytes of a host file (or of a file in the simulator's in-memory filesystem). */
export class FileDriver implements NodeDriver {
  readonly name = 'file';
  readonly isFilter = false;
  readonly isFormat = false;
  constructor(
    readonly filename: string,
    readonly store: ImageStore,
  ) {}
  childPerm(): [number, number] {
    throw new Error('file nodes have no children');
  }
  size(): number {
    // bdrv_getlength counts whole 512-byte sectors
    return Math.ceil(this.store.size / 512) * 512;
  }
  read(_n: BlockNode, offset: number, length: number): Uint8Array {
    return this.store.read(offset, length);
  }
  write(_n: BlockNode, offset: number, data: Uint8Array): void {
    this.store.write(offset, data);
  }
  writeZeroes(_n: BlockNode, offset: number, length: number): void {
    this.store.writeZeroes(offset, length);
  }
  discard(_n: BlockNode, offset: number, length: number): void {
    this.store.discard(offset, length);
  }
  flush(): void {
    this.store.flush();
  }
  blockStatus(_n: BlockNode, offset: number, length: number) {
    // A protocol layer has no backing: unallocated reads as zeroes.
    return this.store
      .blockStatus(offset, length)
      .map((e) => (e.status === 'unallocated' ? { ...e, status: 'zero' as const } : e));
  }
  close(): void {
    this.store.close();
  }
}
