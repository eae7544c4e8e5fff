import type { BlockNode } from './graph.ts';

let created = 0;

/**
 * A dirty bitmap (block/dirty-bitmap.c): which granules of a node were written while it recorded.
 * Granule indexes live in a Set, so cost follows what was written, not the disk size.
 */
export class Bitmap {
  readonly dirty = new Set<number>();
  /**
   * When it was made: bdrv_create_dirty_bitmap puts each new bitmap, named or not, at the head of the node's
   * one list, so queries list them newest first across both kinds
   */
  readonly created = ++created;
  recording: boolean;
  busy = false;
  /** held by a backup job as its sync bitmap (5.2 reports this as "frozen") */
  frozen = false;
  inconsistent = false;
  /** loaded from an image opened read-only: cannot be modified (bdrv_dirty_bitmap_readonly) */
  readonly = false;
  private unhook: (() => void) | undefined;

  constructor(
    readonly name: string | undefined,
    readonly node: BlockNode,
    readonly granularity: number,
    readonly persistent: boolean,
    disabled: boolean,
  ) {
    this.recording = !disabled;
    const hook = (offset: number, length: number) => {
      if (this.recording) this.mark(offset, length);
    };
    node.writeHooks.push(hook);
    this.unhook = () => {
      const i = node.writeHooks.indexOf(hook);
      if (i >= 0) node.writeHooks.splice(i, 1);
    };
  }

  /** bdrv_dirty_bitmap_check: why the bitmap cannot be used (busy, read-only, inconsistent), or undefined */
  unusable(allow: { readonly?: boolean; inconsistent?: boolean } = {}): string | undefined {
    if (this.busy) return `Bitmap '${this.name}' is currently in use by another operation and cannot be used`;
    if (!allow.readonly && this.readonly) return `Bitmap '${this.name}' is readonly and cannot be modified`;
    if (!allow.inconsistent && this.inconsistent)
      return `Bitmap '${this.name}' is inconsistent and cannot be used`;
    return undefined;
  }

  mark(offset: number, length: number): void {
    if (length <= 0) return;
    const first = Math.floor(offset / this.granularity);
    const last = Math.floor((offset + length - 1) / this.granularity);
    for (let g = first; g <= last; g++) this.dirty.add(g);
  }

  isDirty(offset: number): boolean {
    return this.dirty.has(Math.floor(offset / this.granularity));
  }

  /** dirty bytes, as bdrv_get_dirty_count reports them (the last granule clipped to the node's size) */
  count(): number {
    const size = this.node.size;
    let n = 0;
    for (const g of this.dirty) n += Math.min(this.granularity, size - g * this.granularity);
    return n;
  }

  clear(): void {
    this.dirty.clear();
  }

  mergeFrom(other: Bitmap): void {
    if (other.granularity === this.granularity) {
      for (const g of other.dirty) this.dirty.add(g);
      return;
    }
    for (const g of other.dirty) this.mark(g * other.granularity, other.granularity);
  }

  release(): void {
    this.unhook?.();
    this.unhook = undefined;
  }
}
