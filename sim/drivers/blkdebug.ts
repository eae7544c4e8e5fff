import type { BdrvChild, BlockNode, DriverReopen, NodeDriver } from '../block/graph.ts';
import { IoError } from '../util/io-error.ts';
import { filterPerms } from './default-perms.ts';

export interface InjectErrorRule {
  event: string;
  errno: number;
  /** 512-byte sector the error applies to; -1 for any */
  sector: number;
  once: boolean;
  iotype?: string[];
}

/**
 * blkdebug: error injection above an image. A rule on read_aio/write_aio (the events format drivers raise
 * for data I/O) fails matching requests with its errno, as QEMU's blkdebug does.
 */
export class BlkdebugDriver implements NodeDriver {
  readonly name = 'blkdebug';
  readonly isFilter = true;
  readonly isFormat = false;
  constructor(readonly rules: InjectErrorRule[]) {}

  childPerm(_n: BlockNode, _c: BdrvChild, perm: number, shared: number): [number, number] {
    return filterPerms(perm, shared);
  }
  check(kind: 'read' | 'write', offset: number, length: number): void {
    const event = kind === 'read' ? 'read_aio' : 'write_aio';
    for (const [i, r] of this.rules.entries()) {
      if (r.event !== event && !(r.iotype ?? []).includes(kind)) continue;
      if (r.sector >= 0) {
        const start = r.sector * 512;
        if (start + 512 <= offset || start >= offset + length) continue;
      }
      if (r.once) this.rules.splice(i, 1);
      throw new IoError(r.errno);
    }
  }
  size(node: BlockNode): number {
    return node.file!.size;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    this.check('read', offset, length);
    return node.file!.read(offset, length);
  }
  write(node: BlockNode, offset: number, data: Uint8Array): void {
    this.check('write', offset, data.length);
    node.file!.write(offset, data);
  }
  writeZeroes(node: BlockNode, offset: number, length: number): void {
    this.check('write', offset, length);
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
  close(): void {}

  /** blkdebug_reopen_prepare exists in QEMU; the simulator does not model it */
  readonly reopen: DriverReopen = {
    notSimulated: 'blockdev-reopen of a blkdebug node',
    mutableOpts: [],
    prepare: () => {},
  };
}
