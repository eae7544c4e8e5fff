import type { BdrvChild, BlockNode, DriverReopen, NodeDriver } from '../block/graph.ts';
import type { ThrottleGroup } from '../core/objects.ts';
import { filterPerms } from './default-perms.ts';

/**
 * throttle filter (block/throttle.c): I/O passes to `file` once its throttle group's buckets allow it. The
 * simulator's I/O is synchronous, so a request is never held back; what waits is what a caller with a
 * deadline asks for (copy-before-write's cbw-timeout): `writeDelayNs` before the write, then the write.
 */
export class ThrottleDriver implements NodeDriver {
  readonly name = 'throttle';
  readonly isFilter = true;
  readonly isFormat = false;
  constructor(
    readonly group: ThrottleGroup,
    readonly now: () => number,
  ) {
    group.users++;
  }

  childPerm(_n: BlockNode, _c: BdrvChild, perm: number, shared: number): [number, number] {
    return filterPerms(perm, shared);
  }
  writeDelayNs(): number {
    return this.group.writeDelayNs(this.now());
  }
  size(node: BlockNode): number {
    return node.file!.size;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    this.group.account(this.now(), length, false);
    return node.file!.read(offset, length);
  }
  write(node: BlockNode, offset: number, data: Uint8Array): void {
    this.group.account(this.now(), data.length, true);
    node.file!.write(offset, data);
  }
  writeZeroes(node: BlockNode, offset: number, length: number): void {
    this.group.account(this.now(), length, true);
    node.file!.writeZeroes(offset, length);
  }
  discard(node: BlockNode, offset: number, length: number): void {
    node.file!.discard(offset, length);
  }
  flush(node: BlockNode): void {
    node.file!.flush();
  }
  blockStatus(node: BlockNode, offset: number, length: number) {
    return node.file!.blockStatus(offset, length);
  }
  close(): void {
    this.group.users--;
  }

  /** throttle_reopen_prepare exists in QEMU; the simulator does not model it */
  readonly reopen: DriverReopen = {
    notSimulated: 'blockdev-reopen of a throttle node',
    mutableOpts: [],
    prepare: () => {},
  };
}
