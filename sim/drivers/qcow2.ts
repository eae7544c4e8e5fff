import { Bitmap } from '../block/bitmaps.ts';
import { concat, mergeExtents } from '../block/block-io.ts';
import type { BdrvChild, BlockNode, DriverReopen, NodeDriver } from '../block/graph.ts';
import type { Qcow2Layer } from '../host/fs.ts';
import type { BitmapToStore, StoredBitmap } from '../image/qcow2.ts';
import type { Extent, ImageStore } from '../image/types.ts';
import { notSimulated } from '../util/qmp-error.ts';
import { cowPerms, storagePerms } from './default-perms.ts';

/** qcow2 format: its own clusters first, unallocated ones from the backing node (or zeroes). */
export class Qcow2Driver implements NodeDriver {
  readonly name = 'qcow2';
  readonly isFilter = false;
  readonly isFormat = true;
  constructor(
    public layer: Qcow2Layer,
    /**
     * the image is read and written through its own handle: blkdebug nodes between the format and the file
     * check the data I/O here (offsets are guest offsets: a rule with a sector is matched against those)
     */
    readonly dataIo: (kind: 'read' | 'write', offset: number, length: number) => void = () => {},
    /** opens the image again in another mode (a reopen that flips read-only) */
    private readonly openLayer?: (readOnly: boolean) => Qcow2Layer | null,
  ) {}

  /** the bitmaps loaded from the image, to tell which were removed during the session */
  private readonly loaded = new Map<string, Bitmap>();
  /** freed bitmap data clusters are discarded (QCOW2_DISCARD_ALWAYS) through the file node */
  private passDiscard = false;

  /**
   * qcow2_load_dirty_bitmaps, when the node opens: every bitmap of the image becomes a persistent bitmap
   * of the node. One marked IN_USE in the image was not stored properly: it is inconsistent (no data,
   * disabled). Opened read-write, the image now marks them all IN_USE until close.
   */
  loadBitmaps(node: BlockNode): void {
    // bdrv_inherited_options: a file child the qcow2 node opened inline defaults to discard=unmap (the
    // file node is gone from node.file by the time the node closes, so this is decided now)
    const inline = typeof node.options.file === 'object' && node.options.file !== null;
    this.passDiscard = node.file?.unmap === true || (inline && node.file?.options.discard === undefined);
    for (const s of this.layer.loadBitmaps?.() ?? []) {
      const b = new Bitmap(s.name, node, s.granularity, true, s.inUse || !s.auto);
      if (s.inUse) b.inconsistent = true;
      else for (const g of s.dirty) b.dirty.add(g);
      b.readonly = node.readOnly;
      node.bitmaps.set(s.name, b);
      this.loaded.set(s.name, b);
    }
  }

  /**
   * block-dirty-bitmap-remove of a persistent bitmap (bdrv_remove_persistent_dirty_bitmap): it leaves the
   * image at once, not at close (query-named-block-nodes and qemu-img info show it gone)
   */
  removeStored(node: BlockNode, name: string): void {
    if (node.readOnly || !this.loaded.has(name)) return;
    this.layer.removeBitmap?.(name, this.passDiscard);
    this.loaded.delete(name);
  }

  /** qcow2_inactivate on close: persistent bitmaps go back to the image (qcow2_store_persistent_dirty_bitmaps). */
  private storeBitmaps(node: BlockNode): void {
    if (node.readOnly || !this.layer.storeBitmaps) return;
    const passDiscard = this.passDiscard;
    // block-dirty-bitmap-remove of a persistent bitmap drops it from the image (done here, at close)
    for (const [name, b] of this.loaded)
      if (node.bitmaps.get(name) !== b) this.layer.removeBitmap?.(name, passDiscard);
    this.loaded.clear();
    // FOR_EACH_DIRTY_BITMAP: newest first
    const list = [...node.bitmaps.values()]
      .reverse()
      .filter((b) => b.persistent && !b.inconsistent && !b.readonly && b.name !== undefined);
    this.layer.storeBitmaps(
      list.map((b) => ({
        name: b.name as string,
        granularity: b.granularity,
        enabled: b.recording,
        dirty: b.dirty,
      })),
      passDiscard,
    );
  }

  /** Called once the node's children are attached, so copy-on-write can read the backing node. */
  bindBacking(node: BlockNode): void {
    this.layer.setBackingRead?.((offset, length) =>
      node.backing ? readBacking(node.backing, offset, length) : new Uint8Array(length),
    );
  }

  childPerm(node: BlockNode, c: BdrvChild, perm: number, shared: number): [number, number] {
    if (c.name === 'backing') return cowPerms(perm, shared);
    return storagePerms(perm, shared, { metadata: true, data: true, writable: !node.readOnly });
  }
  size(): number {
    return this.layer.store.size;
  }
  read(node: BlockNode, offset: number, length: number): Uint8Array {
    const allocated = this.layer.store.blockStatus(offset, length).filter((e) => e.status === 'data');
    for (const e of allocated) this.dataIo('read', e.offset, e.length);
    const parts: Uint8Array[] = [];
    for (const e of this.layer.store.blockStatus(offset, length)) {
      if (e.status === 'data') parts.push(this.layer.store.read(e.offset, e.length));
      else if (e.status === 'zero' || !node.backing) parts.push(new Uint8Array(e.length));
      else parts.push(readBacking(node.backing, e.offset, e.length));
    }
    return concat(parts, length);
  }
  write(n: BlockNode, offset: number, data: Uint8Array): void {
    this.dataIo('write', offset, data.length);
    this.layer.store.write(offset, data);
    this.grew(n);
  }
  writeZeroes(n: BlockNode, offset: number, length: number): void {
    this.dataIo('write', offset, length);
    this.layer.store.writeZeroes(offset, length);
    this.grew(n);
  }
  discard(n: BlockNode, offset: number, length: number): void {
    this.layer.store.discard(offset, length);
    this.grew(n);
  }

  /** The image file is written through its own handle: the file node's size may have changed. */
  private grew(n: BlockNode): void {
    const f = n.file;
    if (f && 'store' in f.driver) (f.driver as { store: { refreshSize?(): void } }).store.refreshSize?.();
  }
  flush(): void {
    this.layer.store.flush();
  }
  blockStatus(_n: BlockNode, offset: number, length: number): Extent[] {
    return mergeExtents(this.layer.store.blockStatus(offset, length));
  }
  close(node: BlockNode): void {
    try {
      this.storeBitmaps(node);
    } finally {
      this.layer.store.close();
    }
  }

  /** kill -9: the image is let go of as it is; its bitmaps stay IN_USE (what the guest flushed is there) */
  abandon(): void {
    this.layer.store.close();
  }

  /**
   * qcow2_reopen_prepare: the simulator reopens a qcow2 node with its file and backing as they are and none
   * of qcow2's own options; a read-only flip opens the image again in the new mode (not with persistent
   * bitmaps, which a flip stores or marks in use)
   */
  readonly reopen: DriverReopen = {
    mutableOpts: [],
    prepare: (node, opts) => {
      const generic = [
        'driver',
        'node-name',
        'file',
        'backing',
        'read-only',
        'discard',
        'detect-zeroes',
        'cache',
      ];
      for (const k of [...opts.keys(), ...Object.keys(node.options)])
        if (!generic.includes(k) && !/^(file|backing|cache)\./.test(k))
          throw notSimulated(`blockdev-reopen of a qcow2 node with the option '${k}'`);
    },
    commitRefusal: (node, wasReadOnly) =>
      node.readOnly !== wasReadOnly && (node.bitmaps.size > 0 || !this.openLayer)
        ? 'blockdev-reopen changing read-only of a qcow2 node with persistent bitmaps'
        : undefined,
    commit: (node, wasReadOnly) => {
      if (node.readOnly === wasReadOnly || !this.openLayer) return;
      this.layer.store.flush();
      this.layer.store.close();
      const layer = this.openLayer(node.readOnly);
      if (!layer) throw new Error(`qcow2 image of node '${node.nodeName}' could not be opened again`);
      this.layer = layer;
      this.bindBacking(node);
    },
  };
}

/** A backing file shorter than its overlay reads as zeroes past its end. */
function readBacking(backing: BlockNode, offset: number, length: number): Uint8Array {
  const size = backing.size;
  if (offset >= size) return new Uint8Array(length);
  if (offset + length <= size) return backing.read(offset, length);
  const head = backing.read(offset, size - offset);
  return concat([head, new Uint8Array(length - head.length)], length);
}
