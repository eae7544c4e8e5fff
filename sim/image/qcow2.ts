import { closeSync, fsyncSync, openSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { checkRange, checkWritable } from './bounds.js';
import { preadFull, preadInto, pwriteFull } from './file-io.js';
import {
  type BitmapToStore,
  bitmapDirectory,
  loadBitmaps,
  removeBitmap,
  type StoredBitmap,
  storeBitmaps,
} from './qcow2-bitmaps.js';
import {
  decodeL1,
  decodeL2,
  encodeOwned,
  encodeUnallocated,
  encodeZeroPlain,
  type MappingEntry,
  UNALLOCATED,
} from './qcow2-entry.js';
import {
  AUTOCLEAR_BITMAPS,
  decodeHeader,
  encodeHeader,
  HEADER_OFFSET,
  type Qcow2Header,
  setU64,
} from './qcow2-header.js';
import { Refcounts } from './qcow2-refcount.js';
import { type Table, TableCache } from './qcow2-table-cache.js';
import { validateHeader } from './qcow2-validate.js';
import type { AllocStatus, Extent, ImageStore } from './types.js';

export type { BitmapToStore, StoredBitmap } from './qcow2-bitmaps.js';
export { type CreateQcow2Options, createQcow2 } from './qcow2-create.js';

/** Supplies backing bytes [offset, offset+length) for copy-on-write of partially written clusters. */
export type BackingRead = (offset: number, length: number) => Uint8Array;

export interface OpenQcow2Options {
  readOnly: boolean;
  backingRead?: BackingRead;
}

export interface Qcow2Image extends ImageStore {
  readonly clusterSize: number;
  readonly version: 2 | 3;
  /** backing file name exactly as stored in the header */
  readonly backingFile: string | undefined;
  /** format from the backing format header extension ('raw', 'qcow2', ...) */
  readonly backingFormat: string | undefined;
  /** backingFile resolved against the image's directory, as qemu resolves relative names */
  readonly backingPath: string | undefined;
  readonly header: Readonly<Qcow2Header>;
  /** Sets the copy-on-write source once the caller has opened the backing node. */
  setBackingRead(read: BackingRead | undefined): void;
  /**
   * The persistent dirty bitmaps of the image (qcow2_load_dirty_bitmaps); opened read-write, the
   * consistent ones are marked IN_USE in the image until storeBitmaps writes them back.
   */
  loadBitmaps(): StoredBitmap[];
  /**
   * qcow2_store_persistent_dirty_bitmaps: the node's persistent, consistent bitmaps, newest first.
   * passDiscard: the file passes discards, so freed bitmap data clusters become holes (zeroes).
   */
  storeBitmaps(bitmaps: BitmapToStore[], passDiscard?: boolean): void;
  /** qcow2_co_remove_persistent_dirty_bitmap: drops a bitmap from the image (absent: nothing to do) */
  removeBitmap(name: string, passDiscard?: boolean): void;
  /** the bitmap directory as it is in the image (query-block's format-specific bitmaps) */
  bitmapDirectory(): { name: string; granularity: number; flags: string[] }[];
}

/**
 * Opens a qcow2 (v2 or v3) image. All changes are written to the file before each call
 * returns, so another process (qemu-img, qemu-io) sees them; flush() adds an fsync.
 *
 * Semantics worth knowing:
 * - writeZeroes: whole clusters become zero clusters (v3), freeing any host cluster; partial
 *   clusters get zero bytes written (with copy-on-write); v2 has no zero flag, so zeroes are written.
 * - discard: whole clusters become unallocated (host cluster freed); partial clusters are left
 *   unchanged, like qemu which drops unaligned discard heads/tails.
 * - A partial write into an unallocated cluster copies the rest from backingRead if set (else
 *   zeroes); into a zero cluster, the rest is zeroes.
 * - Compressed clusters are refused when touched (reading or writing); encryption, external data
 *   files, extended L2 and unknown incompatible features are refused at open.
 */
export function openQcow2(path: string, options: OpenQcow2Options): Qcow2Image {
  const fd = openSync(path, options.readOnly ? 'r' : 'r+');
  try {
    return new Qcow2Store(path, fd, options);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

class Qcow2Store implements Qcow2Image {
  readonly size: number;
  readonly clusterSize: number;
  readonly version: 2 | 3;
  header: Readonly<Qcow2Header>;
  readonly memoryBytes = 0;
  private readonly readOnly: boolean;
  private backingRead: BackingRead | undefined;
  private readonly l2Entries: number;
  private readonly l1: Table;
  private readonly l2: TableCache;
  private readonly refcounts: Refcounts | undefined;
  private fdOpen: number | undefined;
  /** written since the last fsync: only then does flush need to sync */
  private unsynced = false;

  constructor(
    private readonly path: string,
    fd: number,
    options: OpenQcow2Options,
  ) {
    this.fdOpen = fd;
    this.readOnly = options.readOnly;
    this.backingRead = options.backingRead;
    const first = preadFull(fd, 1 << 21, 0);
    const provisional = decodeHeader(first);
    const h = decodeHeader(first.slice(0, 2 ** provisional.clusterBits));
    validateHeader(path, h, this.readOnly);
    this.header = h;
    this.version = h.version;
    this.size = h.size;
    this.clusterSize = 2 ** h.clusterBits;
    this.l2Entries = this.clusterSize / 8;
    this.l1 = new TableCache(fd, h.l1Size * 8).get(h.l1TableOffset);
    this.l2 = new TableCache(fd, this.clusterSize);
    if (!this.readOnly) {
      this.refcounts = new Refcounts({
        fd,
        clusterBits: h.clusterBits,
        refcountOrder: h.refcountOrder,
        tableOffset: h.refcountTableOffset,
        tableClusters: h.refcountTableClusters,
        onTableMoved: (offset, clusters) => this.writeRefcountTableLocation(offset, clusters),
      });
      const known = h.autoclearFeatures & AUTOCLEAR_BITMAPS;
      if (h.version === 3 && h.autoclearFeatures !== known) {
        // The spec requires a writer to clear autoclear bits it does not understand, marking their
        // extensions stale. Bitmaps are kept up to date (loadBitmaps / storeBitmaps).
        const buf = new Uint8Array(8);
        new DataView(buf.buffer).setBigUint64(0, known);
        pwriteFull(fd, buf, HEADER_OFFSET.autoclearFeatures);
        this.unsynced = true;
        this.header = { ...h, autoclearFeatures: known };
      }
    }
  }

  get backingFile(): string | undefined {
    return this.header.backingFile;
  }

  get backingFormat(): string | undefined {
    return this.header.backingFormat;
  }

  get backingPath(): string | undefined {
    const b = this.header.backingFile;
    if (b === undefined) return undefined;
    return isAbsolute(b) ? b : resolve(dirname(this.path), b);
  }

  setBackingRead(read: BackingRead | undefined): void {
    this.backingRead = read;
  }

  bitmapDirectory(): { name: string; granularity: number; flags: string[] }[] {
    return bitmapDirectory(this.bitmapImage());
  }

  loadBitmaps(): StoredBitmap[] {
    const out = loadBitmaps(this.bitmapImage());
    this.writeOutMetadata();
    return out;
  }

  storeBitmaps(bitmaps: BitmapToStore[], passDiscard = false): void {
    if (bitmaps.length === 0) return;
    checkWritable(this.readOnly, 'storeBitmaps');
    storeBitmaps(this.bitmapImage(passDiscard), bitmaps);
    this.writeOutMetadata();
  }

  removeBitmap(name: string, passDiscard = false): void {
    checkWritable(this.readOnly, 'removeBitmap');
    removeBitmap(this.bitmapImage(passDiscard), name);
    this.writeOutMetadata();
  }

  private bitmapImage(passDiscard = false) {
    const fd = this.fd();
    return {
      fd,
      passDiscard,
      clusterSize: this.clusterSize,
      size: this.size,
      refcounts: this.refcounts,
      header: () => this.header,
      writeHeader: (h: Qcow2Header) => {
        pwriteFull(fd, encodeHeader(h, this.clusterSize), 0);
        this.header = h;
        this.unsynced = true;
      },
    };
  }

  read(offset: number, length: number): Uint8Array {
    checkRange(this.size, offset, length);
    const out = new Uint8Array(length);
    const fd = this.fd();
    // Coalesce host-contiguous clusters into one pread.
    let runHost = -1;
    let runOut = 0;
    let runLen = 0;
    const flushRun = (): void => {
      if (runLen > 0) preadInto(fd, out.subarray(runOut, runOut + runLen), runHost);
      runLen = 0;
    };
    this.forEachCluster(offset, length, (gc, inOff, n, bufOff) => {
      const e = this.entry(gc);
      if (e.kind === 'compressed') this.refuseCompressed(gc);
      if (e.kind !== 'normal') {
        flushRun();
        return;
      }
      const host = e.host + inOff;
      if (runLen > 0 && runHost + runLen === host && runOut + runLen === bufOff) {
        runLen += n;
        return;
      }
      flushRun();
      runHost = host;
      runOut = bufOff;
      runLen = n;
    });
    flushRun();
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    this.mutate('write', offset, data.length, false, (gc, inOff, n, bufOff) => {
      this.writeCluster(gc, inOff, data.subarray(bufOff, bufOff + n));
    });
  }

  writeZeroes(offset: number, length: number): void {
    this.mutate('writeZeroes', offset, length, false, (gc, inOff, n) => {
      if (this.version === 3 && this.isWholeCluster(gc, inOff, n)) {
        this.zeroCluster(gc);
        return;
      }
      const kind = this.entry(gc).kind;
      if (kind === 'zero-plain' || kind === 'zero-alloc') return;
      this.writeCluster(gc, inOff, new Uint8Array(n));
    });
  }

  discard(offset: number, length: number): void {
    const skipUnmapped = true; // nothing to discard where no L2 table exists
    this.mutate('discard', offset, length, skipUnmapped, (gc, inOff, n) => {
      if (!this.isWholeCluster(gc, inOff, n)) return;
      const e = this.entry(gc);
      if (e.kind === 'unallocated') return;
      if (e.kind === 'compressed') this.refuseCompressed(gc);
      const t = this.l2Table(gc, false);
      if (t === undefined) return;
      this.setEntry(t, gc, encodeUnallocated);
      if (e.host !== 0) this.rc().free(e.host / this.clusterSize, 1);
    });
  }

  blockStatus(offset: number, length: number): Extent[] {
    checkRange(this.size, offset, length);
    const out: Extent[] = [];
    const push = (start: number, len: number, status: AllocStatus): void => {
      const last = out[out.length - 1];
      if (last !== undefined && last.status === status) last.length += len;
      else out.push({ offset: start, length: len, status });
    };
    const cs = this.clusterSize;
    const l2Span = cs * this.l2Entries;
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const gc = Math.floor(pos / cs);
      if (decodeL1(this.l1.view, Math.floor(gc / this.l2Entries)) === 0) {
        // No L2 table: the whole span it would map is unallocated; skip it in one step.
        const spanEnd = Math.min(end, (Math.floor(pos / l2Span) + 1) * l2Span);
        push(pos, spanEnd - pos, 'unallocated');
        pos = spanEnd;
        continue;
      }
      const n = Math.min(cs - (pos - gc * cs), end - pos);
      push(pos, n, statusOf(this.entry(gc)));
      pos += n;
    }
    return out;
  }

  flush(): void {
    const fd = this.fd();
    if (this.readOnly) return;
    this.writeOutMetadata();
    if (this.unsynced) fsyncSync(fd);
    this.unsynced = false;
  }

  close(): void {
    if (this.fdOpen === undefined) return;
    if (!this.readOnly) this.flush();
    closeSync(this.fdOpen);
    this.fdOpen = undefined;
  }

  private fd(): number {
    if (this.fdOpen === undefined) throw new Error(`${this.path}: qcow2 image is closed`);
    return this.fdOpen;
  }

  private rc(): Refcounts {
    if (this.refcounts === undefined) throw new Error(`${this.path}: image is opened read-only`);
    return this.refcounts;
  }

  /** Runs a modifying operation cluster by cluster and always writes metadata out afterwards. */
  private mutate(
    what: string,
    offset: number,
    length: number,
    skipUnmapped: boolean,
    perCluster: (gc: number, inOff: number, n: number, bufOff: number) => void,
  ): void {
    checkRange(this.size, offset, length);
    checkWritable(this.readOnly, what);
    this.fd();
    this.unsynced = true;
    try {
      this.forEachCluster(offset, length, perCluster, skipUnmapped);
    } finally {
      this.writeOutMetadata();
    }
  }

  /** Refcounts first, then L2, then L1: a table never points at an unreferenced cluster on disk. */
  private writeOutMetadata(): void {
    this.refcounts?.writeOut();
    this.l2.writeOut();
    this.l1.writeOut(this.fd());
  }

  private forEachCluster(
    offset: number,
    length: number,
    fn: (gc: number, inOff: number, n: number, bufOff: number) => void,
    skipUnmapped = false,
  ): void {
    const cs = this.clusterSize;
    const l2Span = cs * this.l2Entries;
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const gc = Math.floor(pos / cs);
      if (skipUnmapped && decodeL1(this.l1.view, Math.floor(gc / this.l2Entries)) === 0) {
        pos = Math.min(end, (Math.floor(pos / l2Span) + 1) * l2Span);
        continue;
      }
      const inOff = pos - gc * cs;
      const n = Math.min(cs - inOff, end - pos);
      fn(gc, inOff, n, pos - offset);
      pos += n;
    }
  }

  /** The last cluster may extend past the virtual size; covering up to the size counts as whole. */
  private isWholeCluster(gc: number, inOff: number, n: number): boolean {
    return inOff === 0 && n === this.clusterSpan(gc);
  }

  private clusterSpan(gc: number): number {
    return Math.min(this.clusterSize, this.size - gc * this.clusterSize);
  }

  private entry(gc: number): MappingEntry {
    const t = this.l2Table(gc, false);
    return t === undefined ? UNALLOCATED : decodeL2(t.view, gc % this.l2Entries);
  }

  /** The L2 table mapping guest cluster gc; allocated (like qemu: before the data cluster) if asked. */
  private l2Table(gc: number, allocate: boolean): Table | undefined {
    const l1i = Math.floor(gc / this.l2Entries);
    const off = decodeL1(this.l1.view, l1i);
    if (off !== 0) return this.l2.get(off);
    if (!allocate) return undefined;
    const host = this.rc().alloc(1) * this.clusterSize;
    const t = this.l2.create(host);
    encodeOwned(this.l1.view, l1i, host);
    this.l1.markDirty(l1i * 8, l1i * 8 + 8);
    return t;
  }

  private setEntry(t: Table, gc: number, encode: (view: DataView, index: number) => void): void {
    const i = gc % this.l2Entries;
    encode(t.view, i);
    t.markDirty(i * 8, i * 8 + 8);
  }

  private writeCluster(gc: number, inOff: number, chunk: Uint8Array): void {
    const e = this.entry(gc);
    const fd = this.fd();
    const cs = this.clusterSize;
    switch (e.kind) {
      case 'compressed':
        this.refuseCompressed(gc);
        break;
      case 'normal':
        if (!e.copied && this.rc().get(e.host / cs) > 1) {
          throw new Error(
            `${this.path}: cluster at guest offset ${gc * cs} is shared (snapshot); cannot write in place`,
          );
        }
        pwriteFull(fd, chunk, e.host + inOff);
        return;
      case 'zero-alloc': {
        // Keep the preallocated host cluster but give it real contents: zeroes around the chunk.
        pwriteFull(fd, this.fullCluster(chunk, inOff, new Uint8Array(cs)), e.host);
        const t = this.l2Table(gc, false);
        if (t !== undefined) this.setEntry(t, gc, (v, i) => encodeOwned(v, i, e.host));
        return;
      }
      default: {
        const whole = this.isWholeCluster(gc, inOff, chunk.length);
        const base = new Uint8Array(cs);
        if (e.kind === 'unallocated' && !whole && this.backingRead !== undefined) {
          // Copy-on-write: the untouched rest of the cluster must keep showing the backing's bytes.
          const span = this.clusterSpan(gc);
          const backing = this.backingRead(gc * cs, span);
          if (backing.length !== span)
            throw new Error(`backingRead returned ${backing.length} bytes, expected ${span}`);
          base.set(backing);
        }
        const t = this.l2Table(gc, true);
        if (t === undefined) throw new Error('unreachable: L2 allocation failed');
        const host = this.rc().alloc(1) * cs;
        pwriteFull(fd, this.fullCluster(chunk, inOff, base), host);
        this.setEntry(t, gc, (v, i) => encodeOwned(v, i, host));
      }
    }
  }

  private fullCluster(chunk: Uint8Array, inOff: number, base: Uint8Array): Uint8Array {
    if (chunk.length === this.clusterSize) return chunk;
    base.set(chunk, inOff);
    return base;
  }

  private zeroCluster(gc: number): void {
    const e = this.entry(gc);
    if (e.kind === 'zero-plain') return;
    if (e.kind === 'compressed') this.refuseCompressed(gc);
    const t = this.l2Table(gc, true);
    if (t === undefined) throw new Error('unreachable: L2 allocation failed');
    this.setEntry(t, gc, encodeZeroPlain);
    if (e.host !== 0) this.rc().free(e.host / this.clusterSize, 1);
  }

  private refuseCompressed(gc: number): never {
    throw new Error(
      `${this.path}: compressed cluster at guest offset ${gc * this.clusterSize}: compressed qcow2 clusters are not supported (decompress with \`qemu-img convert\`)`,
    );
  }

  private writeRefcountTableLocation(offset: number, clusters: number): void {
    const buf = new Uint8Array(12);
    const v = new DataView(buf.buffer);
    setU64(v, 0, offset);
    v.setUint32(8, clusters);
    pwriteFull(this.fd(), buf, HEADER_OFFSET.refcountTableOffset);
    this.header = { ...this.header, refcountTableOffset: offset, refcountTableClusters: clusters };
  }
}

function statusOf(e: MappingEntry): AllocStatus {
  switch (e.kind) {
    case 'normal':
    case 'compressed':
      return 'data';
    case 'zero-plain':
    case 'zero-alloc':
      return 'zero';
    default:
      return 'unallocated';
  }
}
