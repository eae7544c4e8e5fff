import type { BdrvChild, BlockNode, DriverReopen, NodeDriver } from '../block/graph.ts';
import { filterPerms, storagePerms } from './default-perms.ts';

/** raw format: the file child's bytes, optionally a window [offset, offset+size) of them. */
export class RawDriver implements NodeDriver {
  readonly name = 'raw';
  readonly isFilter: boolean;
  readonly isFormat = true;
  constructor(
    readonly offset: number,
    readonly windowSize: number | undefined,
  ) {
    // Without offset/size raw is a plain filter over its file (BDRV_CHILD_FILTERED).
    this.isFilter = offset === 0 && windowSize === undefined;
  }
  childPerm(node: BlockNode, _c: BdrvChild, perm: number, shared: number): [number, number] {
    if (this.isFilter) return filterPerms(perm, shared);
    return storagePerms(perm, shared, { metadata: false, data: true, writable: !node.readOnly });
  }
  size(node: BlockNode): number {
    return this.windowSize ?? node.file!.size - this.offset;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    return node.file!.read(this.offset + offset, length);
  }
  write(node: BlockNode, offset: number, data: Uint8Array): void {
    node.file!.write(this.offset + offset, data);
  }
  writeZeroes(node: BlockNode, offset: number, length: number): void {
    node.file!.writeZeroes(this.offset + offset, length);
  }
  discard(node: BlockNode, offset: number, length: number): void {
    node.file!.discard(this.offset + offset, length);
  }
  flush(node: BlockNode): void {
    node.file!.flush();
  }
  blockStatus(node: BlockNode, offset: number, length: number) {
    return node
      .file!.blockStatus(this.offset + offset, length)
      .map((e) => ({ ...e, offset: e.offset - this.offset }));
  }
  close(): void {}

  /**
   * raw_reopen_prepare: offset and size may be left out (back to the whole file); the file child may change.
   * A new window is not modelled: it is refused once nothing else refused the reopen.
   */
  private windowChange = false;
  readonly reopen: DriverReopen = {
    mutableOpts: ['offset', 'size'],
    prepare: (_node, opts) => {
      this.windowChange = (opts.get('offset') ?? 0) !== this.offset || opts.get('size') !== this.windowSize;
      opts.delete('offset');
      opts.delete('size');
    },
    commitRefusal: () =>
      this.windowChange ? 'blockdev-reopen changing the offset or size of a raw node' : undefined,
  };
}
