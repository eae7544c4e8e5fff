import type { BlockNode, NodeDriver } from '../block/graph.ts';
import { PERM_ALL } from '../block/perm.ts';
import { ERRNO, IoError } from '../util/io-error.ts';
import { CbwDriver } from './copy-before-write.ts';

/** snapshot-access (block/snapshot-access.c): a read-only view of the point in time its cbw `file` keeps. */
export class SnapshotAccessDriver implements NodeDriver {
  readonly name = 'snapshot-access';
  readonly isFilter = false;
  readonly isFormat = false;

  childPerm(): [number, number] {
    // It takes no permission on the filter: reads go through the snapshot API, not ordinary I/O.
    return [0, PERM_ALL];
  }
  private cbw(node: BlockNode): [BlockNode, CbwDriver] {
    const f = node.file!;
    if (!(f.driver instanceof CbwDriver)) throw new IoError(ERRNO.ENOTSUP);
    return [f, f.driver];
  }
  size(node: BlockNode): number {
    return node.file!.size;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    const [f, d] = this.cbw(node);
    return d.snapshotRead(f, offset, length);
  }
  write(): void {
    throw new IoError(ERRNO.ENOTSUP);
  }
  writeZeroes(): void {
    throw new IoError(ERRNO.ENOTSUP);
  }
  discard(node: BlockNode, offset: number, length: number): void {
    const [, d] = this.cbw(node);
    d.snapshotDiscard(offset, length);
  }
  flush(): void {}
  blockStatus(node: BlockNode, offset: number, length: number) {
    const [f, d] = this.cbw(node);
    return d.snapshotBlockStatus(f, offset, length);
  }
  close(): void {}
}
