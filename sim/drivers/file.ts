import type { BlockNode, DriverReopen, NodeDriver } from '../block/graph.ts';
import type { ImageStore } from '../image/types.ts';
import { notSimulated } from '../util/qmp-error.ts';

/** The `file` protocol driver: bytes of a host file (or of a file in the simulator's in-memory filesystem). */
export class FileDriver implements NodeDriver {
  readonly name = 'file';
  readonly isFilter = false;
  readonly isFormat = false;
  constructor(
    readonly filename: string,
    public store: ImageStore,
    /** the mode the host file is open in, and how to open it again (a reopen that flips read-only) */
    private storeReadOnly = false,
    private readonly openStore?: (readOnly: boolean) => ImageStore,
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

  /**
   * raw_reopen_prepare of file-posix: the filename must stay (left for the generic "Cannot change" check);
   * a read-only flip opens the file again in the new mode
   */
  readonly reopen: DriverReopen = {
    mutableOpts: ['x-check-cache-dropped'],
    prepare: (_node, opts) => {
      for (const k of opts.keys())
        if (!['driver', 'node-name', 'filename'].includes(k))
          throw notSimulated(`blockdev-reopen with the file option '${k}'`);
    },
    commitRefusal: (node) =>
      node.readOnly !== this.storeReadOnly && !this.openStore
        ? 'blockdev-reopen changing read-only of this file node'
        : undefined,
    commit: (node) => {
      if (node.readOnly === this.storeReadOnly || !this.openStore) return;
      this.store.close();
      this.store = this.openStore(node.readOnly);
      this.storeReadOnly = node.readOnly;
    },
  };
}
