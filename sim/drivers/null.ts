import type { DriverReopen, NodeDriver } from '../block/graph.ts';

/** null-co: a disk of a given size that reads zeroes and forgets writes. */
export class NullDriver implements NodeDriver {
  readonly name = 'null-co';
  readonly isFilter = false;
  readonly isFormat = false;
  constructor(
    readonly bytes: number,
    readonly readZeroes: boolean,
  ) {}
  childPerm(): [number, number] {
    throw new Error('null-co nodes have no children');
  }
  size(): number {
    return this.bytes;
  }
  read(_n: unknown, _offset: number, length: number): Uint8Array {
    return new Uint8Array(length);
  }
  write(): void {}
  writeZeroes(): void {}
  discard(): void {}
  flush(): void {}
  blockStatus(_n: unknown, offset: number, length: number) {
    // null_co_block_status reports data, plus zero with read-zeroes=on
    return [{ offset, length, status: this.readZeroes ? ('zero' as const) : ('data' as const) }];
  }
  close(): void {}

  /** null_reopen_prepare takes nothing: size, read-zeroes and latency-ns must stay as they are */
  readonly reopen: DriverReopen = { mutableOpts: [], prepare: () => {} };
}

/**
 * bdrv_is_allocated on a null-co node: null_co_block_status answers BDRV_BLOCK_OFFSET_VALID, plus ZERO with
 * read-zeroes=on; neither DATA nor ZERO means not allocated (what sync=top backup and mirror skip)
 */
export function nullUnallocated(node: { driver: unknown }): boolean {
  return node.driver instanceof NullDriver && !node.driver.readZeroes;
}
