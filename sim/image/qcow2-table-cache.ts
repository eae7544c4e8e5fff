import { preadFull, pwriteFull } from './file-io.js';

/**
 * One on-disk metadata table (L1, an L2 table, a refcount block) held in memory, with the
 * byte range changed since the last write-out so a single 8-byte update stays an 8-byte write.
 */
export class Table {
  readonly view: DataView;
  private dirtyFrom = Number.POSITIVE_INFINITY;
  private dirtyTo = 0;

  constructor(
    readonly fileOffset: number,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get dirty(): boolean {
    return this.dirtyFrom < this.dirtyTo;
  }

  markDirty(from: number, to: number): void {
    if (from < this.dirtyFrom) this.dirtyFrom = from;
    if (to > this.dirtyTo) this.dirtyTo = to;
  }

  writeOut(fd: number): void {
    if (!this.dirty) return;
    pwriteFull(fd, this.bytes.subarray(this.dirtyFrom, this.dirtyTo), this.fileOffset + this.dirtyFrom);
    this.dirtyFrom = Number.POSITIVE_INFINITY;
    this.dirtyTo = 0;
  }
}

/**
 * Tables of one kind keyed by file offset. Everything is written out at the end of each
 * store operation (write-through), so eviction never loses data and is a plain drop.
 */
export class TableCache {
  private readonly tables = new Map<number, Table>();

  constructor(
    private readonly fd: number,
    private readonly tableBytes: number,
    /** drop clean tables once more than this many bytes are cached */
    private readonly budgetBytes = 32 << 20,
  ) {}

  get(fileOffset: number): Table {
    let t = this.tables.get(fileOffset);
    if (t === undefined) {
      t = new Table(fileOffset, preadFull(this.fd, this.tableBytes, fileOffset));
      this.tables.set(fileOffset, t);
    }
    return t;
  }

  /** A fresh all-zero table at a newly allocated cluster; fully dirty so it reaches the file. */
  create(fileOffset: number): Table {
    const t = new Table(fileOffset, new Uint8Array(this.tableBytes));
    t.markDirty(0, this.tableBytes);
    this.tables.set(fileOffset, t);
    return t;
  }

  forget(fileOffset: number): void {
    this.tables.delete(fileOffset);
  }

  writeOut(): void {
    for (const t of this.tables.values()) t.writeOut(this.fd);
    if (this.tables.size * this.tableBytes > this.budgetBytes) this.tables.clear();
  }
}
