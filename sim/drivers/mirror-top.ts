import type { BdrvChild, BlockNode, NodeDriver } from '../block/graph.ts';
import { PERM, PERM_ALL } from '../block/perm.ts';

/** mirror_top (block/mirror.c): the filter a mirror job puts above its source to see guest writes. */
export class MirrorTopDriver implements NodeDriver {
  readonly name = 'mirror_top';
  readonly isFilter = true;
  readonly isFormat = false;
  stop = false;
  constructor(readonly onWrite: (offset: number, length: number) => void) {}
  private below(node: BlockNode): BlockNode {
    return node.backing!;
  }
  childPerm(_n: BlockNode, _c: BdrvChild, perm: number): [number, number] {
    if (this.stop) return [0, PERM_ALL];
    // Must be able to forward guest writes to the real image.
    return [perm & PERM.WRITE, PERM_ALL];
  }
  size(node: BlockNode): number {
    return this.below(node).size;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    return this.below(node).read(offset, length);
  }
  write(node: BlockNode, offset: number, data: Uint8Array): void {
    this.below(node).write(offset, data);
    this.onWrite(offset, data.length);
  }
  writeZeroes(node: BlockNode, offset: number, length: number): void {
    this.below(node).writeZeroes(offset, length);
    this.onWrite(offset, length);
  }
  discard(node: BlockNode, offset: number, length: number): void {
    this.below(node).discard(offset, length);
    this.onWrite(offset, length);
  }
  flush(node: BlockNode): void {
    this.below(node).flush();
  }
  blockStatus(node: BlockNode, offset: number, length: number) {
    return this.below(node).blockStatus(offset, length);
  }
  close(): void {}
}
