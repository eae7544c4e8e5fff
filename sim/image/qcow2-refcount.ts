import { u64 } from './qcow2-header.js';
import { Table, TableCache } from './qcow2-table-cache.js';

/** Allocation had to create a refcount block; the caller must search for free space again. */
const AGAIN = false;
const OK = true;

/** Masks the reserved low 9 bits of refcount table entries. */
const OFFSET_MASK_LOW = 0xfffffe00;

export interface RefcountLayout {
  fd: number;
  clusterBits: number;
  refcountOrder: number;
  tableOffset: number;
  tableClusters: number;
  /** persists a moved refcount table in the image header */
  onTableMoved: (offset: number, clusters: number) => void;
}

/**
 * Cluster refcounts with qemu's allocation policy: first fit from a moving free index, new
 * refcount blocks placed by the same search and hooked up before the search restarts.
 * Following qemu's order makes a fresh image byte-identical to `qemu-img create`.
 */
export class Refcounts {
  readonly perBlock: number;
  readonly maxRefcount: number;
  private readonly clusterSize: number;
  private table: Table;
  private tableClusters: number;
  private readonly blocks: TableCache;
  private freeIndex = 0;

  constructor(private readonly layout: RefcountLayout) {
    this.clusterSize = 2 ** layout.clusterBits;
    this.perBlock = (this.clusterSize * 8) / 2 ** layout.refcountOrder;
    this.maxRefcount = Math.min(2 ** (2 ** layout.refcountOrder) - 1, Number.MAX_SAFE_INTEGER);
    this.blocks = new TableCache(layout.fd, this.clusterSize);
    this.tableClusters = layout.tableClusters;
    this.table = new TableCache(layout.fd, layout.tableClusters * this.clusterSize).get(layout.tableOffset);
  }

  get tableOffset(): number {
    return this.table.fileOffset;
  }

  /** refcount of a cluster; clusters no refcount block covers have refcount 0 */
  get(cluster: number): number {
    const block = this.blockOffset(Math.floor(cluster / this.perBlock));
    if (block === 0) return 0;
    return readRefcount(this.blocks.get(block), cluster % this.perBlock, this.layout.refcountOrder);
  }

  /** Allocates `count` contiguous clusters with refcount 1; returns the first cluster index. */
  alloc(count: number): number {
    for (;;) {
      const start = this.scanFree(count);
      if (this.update(start, count, 1)) return start;
    }
  }

  free(cluster: number, count: number): void {
    if (!this.update(cluster, count, -1)) throw new Error('qcow2: refcount block missing while freeing');
  }

  /** Writes changed refcount blocks (table entries are written immediately). */
  writeOut(): void {
    this.blocks.writeOut();
  }

  private tableEntries(): number {
    return (this.tableClusters * this.clusterSize) / 8;
  }

  private blockOffset(index: number): number {
    if (index >= this.tableEntries()) return 0;
    const v = this.table.view;
    return v.getUint32(index * 8) * 2 ** 32 + ((v.getUint32(index * 8 + 4) & OFFSET_MASK_LOW) >>> 0);
  }

  private scanFree(count: number): number {
    let run = 0;
    while (run < count) {
      if (this.get(this.freeIndex++) === 0) run++;
      else run = 0;
    }
    return this.freeIndex - count;
  }

  /** Adds addend to each refcount in the range; AGAIN (after undoing) if a block had to be created. */
  private update(start: number, count: number, addend: number): boolean {
    for (let k = 0; k < count; k++) {
      const cluster = start + k;
      const block = this.blockFor(cluster);
      if (block === undefined) {
        if (k > 0 && !this.update(start, k, -addend)) throw new Error('qcow2: refcount rollback failed');
        return AGAIN;
      }
      const idx = cluster % this.perBlock;
      const value = readRefcount(block, idx, this.layout.refcountOrder) + addend;
      if (value < 0 || value > this.maxRefcount) {
        if (k > 0) this.update(start, k, -addend);
        throw new Error(`qcow2: refcount of cluster ${cluster} would become ${value}`);
      }
      writeRefcount(block, idx, this.layout.refcountOrder, value);
      if (value === 0 && cluster < this.freeIndex) this.freeIndex = cluster;
    }
    return OK;
  }

  /** The refcount block covering `cluster`, or undefined after creating one (caller retries). */
  private blockFor(cluster: number): Table | undefined {
    const index = Math.floor(cluster / this.perBlock);
    const existing = this.blockOffset(index);
    if (existing !== 0) return this.blocks.get(existing);
    const newBlock = this.scanFree(1);
    if (Math.floor(newBlock / this.perBlock) === index) {
      // The block covers its own cluster, so it can describe itself without recursion.
      const t = this.blocks.create(newBlock * this.clusterSize);
      writeRefcount(t, newBlock % this.perBlock, this.layout.refcountOrder, 1);
    } else {
      if (!this.update(newBlock, 1, 1)) return undefined;
      this.blocks.create(newBlock * this.clusterSize);
    }
    this.blocks.writeOut();
    if (index < this.tableEntries()) {
      this.setTableEntry(index, newBlock * this.clusterSize);
    } else {
      this.growTable(index, newBlock);
    }
    return undefined;
  }

  private setTableEntry(index: number, offset: number): void {
    const v = this.table.view;
    v.setUint32(index * 8, Math.floor(offset / 2 ** 32));
    v.setUint32(index * 8 + 4, offset >>> 0);
    this.table.markDirty(index * 8, index * 8 + 8);
    this.table.writeOut(this.layout.fd);
  }

  /**
   * Moves the refcount table to a larger one. The new table and the blocks describing it go in
   * an area past everything the old table covers, so they can all be set up and switched to
   * at once; the old table's clusters are freed afterwards.
   */
  private growTable(index: number, newBlock: number): void {
    const cs = this.clusterSize;
    const per = this.perBlock;
    const oldEntries = this.tableEntries();
    const areaBlock = Math.max(oldEntries, index + 1);
    const areaStart = areaBlock * per;
    let blocks = 1;
    let tableClusters = 0;
    for (;;) {
      const entries = Math.max(areaBlock + blocks, Math.ceil(oldEntries * 1.5));
      tableClusters = Math.ceil((entries * 8) / cs);
      const needed = Math.ceil((blocks + tableClusters) / per);
      if (needed <= blocks) break;
      blocks = needed;
    }
    const order = this.layout.refcountOrder;
    const metaClusters = blocks + tableClusters;
    for (let b = 0; b < blocks; b++) {
      const t = this.blocks.create((areaStart + b) * cs);
      for (let i = b * per; i < Math.min(metaClusters, (b + 1) * per); i++)
        writeRefcount(t, i - b * per, order, 1);
    }
    this.blocks.writeOut();
    const tableOffset = (areaStart + blocks) * cs;
    const newTable = new Table(tableOffset, new Uint8Array(tableClusters * cs));
    newTable.bytes.set(this.table.bytes);
    newTable.markDirty(0, newTable.bytes.length);
    const oldTable = this.table;
    const oldClusters = this.tableClusters;
    this.table = newTable;
    this.tableClusters = tableClusters;
    this.setTableEntry(index, newBlock * cs);
    for (let b = 0; b < blocks; b++) this.setTableEntry(areaBlock + b, (areaStart + b) * cs);
    this.layout.onTableMoved(tableOffset, tableClusters);
    this.free(oldTable.fileOffset / cs, oldClusters);
    this.blocks.writeOut();
  }
}

function readRefcount(t: Table, i: number, order: number): number {
  switch (order) {
    case 3:
      return t.bytes[i];
    case 4:
      return t.view.getUint16(i * 2);
    case 5:
      return t.view.getUint32(i * 4);
    case 6:
      return u64(t.view, i * 8);
    default: {
      // Sub-byte widths: bit 0 of a byte is the lowest-numbered entry (qcow2.txt).
      const bits = 2 ** order;
      const perByte = 8 / bits;
      return (t.bytes[Math.floor(i / perByte)] >> ((i % perByte) * bits)) & ((1 << bits) - 1);
    }
  }
}

function writeRefcount(t: Table, i: number, order: number, value: number): void {
  const width = Math.max(1, 2 ** order / 8);
  const byte = Math.floor((i * 2 ** order) / 8);
  switch (order) {
    case 3:
      t.bytes[i] = value;
      break;
    case 4:
      t.view.setUint16(i * 2, value);
      break;
    case 5:
      t.view.setUint32(i * 4, value);
      break;
    case 6:
      t.view.setUint32(i * 8, Math.floor(value / 2 ** 32));
      t.view.setUint32(i * 8 + 4, value >>> 0);
      break;
    default: {
      const bits = 2 ** order;
      const perByte = 8 / bits;
      const shift = (i % perByte) * bits;
      const mask = ((1 << bits) - 1) << shift;
      t.bytes[byte] = (t.bytes[byte] & ~mask) | (value << shift);
    }
  }
  t.markDirty(byte, byte + width);
}

/** Exposed for tests of the bit-packed widths. */
export const refcountCodec = { read: readRefcount, write: writeRefcount };
