import { preadFull, pwriteFull, pwriteZeroes } from './file-io.js';
import {
  AUTOCLEAR_BITMAPS,
  EXT_BITMAPS,
  EXT_FEATURE_TABLE,
  type HeaderExtension,
  type Qcow2Header,
  setU64,
  u64,
} from './qcow2-header.js';
import type { Refcounts } from './qcow2-refcount.js';

/**
 * Persistent dirty bitmaps (docs/interop/qcow2.txt "Bitmaps extension", block/qcow2-bitmap.c):
 * the bitmaps header extension points at a bitmap directory; each entry names a bitmap table whose
 * entries point at clusters of serialized bitmap data (granule k is bit k%8 of byte k/8).
 */

const FLAG_IN_USE = 1;
const FLAG_AUTO = 2;
const TYPE_DIRTY_TRACKING = 1;
const ENTRY_OFFSET_MASK_HI = 0x00ffffff;
const ENTRY_OFFSET_MASK_LO = 0xfffffe00;
const ENTRY_ALL_ONES = 1;

/** A bitmap as stored in the image. */
export interface StoredBitmap {
  name: string;
  granularity: number;
  /** IN_USE: the bitmap was not saved properly (or is held by a running writer): its data is unusable */
  inUse: boolean;
  /** AUTO: the bitmap records writes (enabled) */
  auto: boolean;
  /** dirty granule indexes (empty when inUse: QEMU does not load the data then) */
  dirty: Set<number>;
}

/** A bitmap to write to the image on close. */
export interface BitmapToStore {
  name: string;
  granularity: number;
  enabled: boolean;
  dirty: Iterable<number>;
}

/** What the bitmap code needs from an open, writable-or-not qcow2 image. */
export interface BitmapImage {
  fd: number;
  clusterSize: number;
  /** virtual size */
  size: number;
  header(): Qcow2Header;
  /** rewrites the header cluster (qcow2_update_header) */
  writeHeader(h: Qcow2Header): void;
  /** undefined when read-only */
  refcounts: Refcounts | undefined;
  /**
   * the protocol node passes discards (BDRV_O_UNMAP: a file child opened inline by the qcow2 node
   * defaults to it): freed bitmap data clusters are punched out and read as zeroes
   */
  passDiscard?: boolean;
}

interface DirEntry {
  tableOffset: number;
  tableSize: number;
  flags: number;
  granularityBits: number;
  name: string;
  /** granule indexes to store (set for bitmaps being written) */
  dirty?: Iterable<number>;
}

interface BitmapsExt {
  nb: number;
  dirSize: number;
  dirOffset: number;
}

function readExt(h: Qcow2Header): BitmapsExt | undefined {
  if (!(h.autoclearFeatures & AUTOCLEAR_BITMAPS)) return undefined;
  const e = h.extensions.find((x) => x.type === EXT_BITMAPS);
  if (e === undefined || e.data.length < 24) return undefined;
  const v = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
  return { nb: v.getUint32(0), dirSize: u64(v, 8), dirOffset: u64(v, 16) };
}

function dirEntrySize(nameBytes: number): number {
  return (24 + nameBytes + 7) & ~7;
}

/** bitmap_list_load */
function loadDir(img: BitmapImage, ext: BitmapsExt): DirEntry[] {
  const buf = preadFull(img.fd, ext.dirSize, ext.dirOffset);
  const v = new DataView(buf.buffer);
  const out: DirEntry[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 24 > buf.length) throw new Error('Broken bitmap directory');
    const nameSize = v.getUint16(off + 18);
    const extra = v.getUint32(off + 20);
    if (extra !== 0) throw new Error('Bitmap extra data is not supported');
    const e: DirEntry = {
      tableOffset: u64(v, off),
      tableSize: v.getUint32(off + 8),
      flags: v.getUint32(off + 12),
      granularityBits: buf[off + 17],
      name: new TextDecoder().decode(buf.subarray(off + 24, off + 24 + nameSize)),
    };
    if (buf[off + 16] !== TYPE_DIRTY_TRACKING || e.granularityBits < 9 || e.granularityBits > 31)
      throw new Error(`Bitmap '${e.name}' doesn't satisfy the constraints`);
    out.push(e);
    off += dirEntrySize(nameSize);
  }
  if (out.length !== ext.nb) throw new Error('Bitmap count differs from the header extension');
  return out;
}

function encodeDir(entries: DirEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const names = entries.map((e) => enc.encode(e.name));
  const buf = new Uint8Array(names.reduce((n, b) => n + dirEntrySize(b.length), 0));
  const v = new DataView(buf.buffer);
  let off = 0;
  entries.forEach((e, i) => {
    setU64(v, off, e.tableOffset);
    v.setUint32(off + 8, e.tableSize);
    v.setUint32(off + 12, e.flags);
    buf[off + 16] = TYPE_DIRTY_TRACKING;
    buf[off + 17] = e.granularityBits;
    v.setUint16(off + 18, names[i].length);
    buf.set(names[i], off + 24);
    off += dirEntrySize(names[i].length);
  });
  return buf;
}

/** Granules covered by one cluster of bitmap data. */
function granulesPerCluster(img: BitmapImage): number {
  return img.clusterSize * 8;
}

/** bitmap_table_load: entries as [hi, lo] pairs of the raw u64 */
function loadTable(img: BitmapImage, e: DirEntry): number[] {
  const buf = preadFull(img.fd, e.tableSize * 8, e.tableOffset);
  const v = new DataView(buf.buffer);
  const out: number[] = [];
  for (let i = 0; i < e.tableSize; i++) {
    const hi = v.getUint32(i * 8);
    const lo = v.getUint32(i * 8 + 4);
    const offset = (hi & ENTRY_OFFSET_MASK_HI) * 2 ** 32 + ((lo & ENTRY_OFFSET_MASK_LO) >>> 0);
    // all-ones is only meaningful without an offset; keep it as -1
    out.push(offset === 0 && lo & ENTRY_ALL_ONES ? -1 : offset);
  }
  return out;
}

/** load_bitmap_data */
function loadData(img: BitmapImage, e: DirEntry): Set<number> {
  const dirty = new Set<number>();
  const granules = Math.ceil(img.size / 2 ** e.granularityBits);
  const per = granulesPerCluster(img);
  loadTable(img, e).forEach((entry, i) => {
    const first = i * per;
    const count = Math.min(per, granules - first);
    if (entry === 0 || count <= 0) return;
    if (entry === -1) {
      for (let g = 0; g < count; g++) dirty.add(first + g);
      return;
    }
    const data = preadFull(img.fd, img.clusterSize, entry);
    for (let byte = 0; byte * 8 < count; byte++) {
      const b = data[byte];
      if (b === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        const g = byte * 8 + bit;
        if (g < count && b & (1 << bit)) dirty.add(first + g);
      }
    }
  });
  return dirty;
}

function setBitmapsExt(img: BitmapImage, h: Qcow2Header, ext: BitmapsExt | undefined): void {
  const exts: HeaderExtension[] = h.extensions.filter((x) => x.type !== EXT_BITMAPS);
  let autoclear = h.autoclearFeatures & ~AUTOCLEAR_BITMAPS;
  if (ext !== undefined) {
    autoclear |= AUTOCLEAR_BITMAPS;
    const data = new Uint8Array(24);
    const v = new DataView(data.buffer);
    v.setUint32(0, ext.nb);
    setU64(v, 8, ext.dirSize);
    setU64(v, 16, ext.dirOffset);
    // qcow2_update_header: the feature table, then the bitmaps extension, then unknown ones
    const ft = exts.findIndex((x) => x.type === EXT_FEATURE_TABLE);
    exts.splice(ft + 1, 0, { type: EXT_BITMAPS, data });
  }
  img.writeHeader({ ...h, extensions: exts, autoclearFeatures: autoclear });
}

function rc(img: BitmapImage): Refcounts {
  if (img.refcounts === undefined) throw new Error('qcow2: bitmaps cannot be stored: image is read-only');
  return img.refcounts;
}

/** qcow2_alloc_clusters: contiguous clusters for `bytes`, returns the host offset */
function allocBytes(img: BitmapImage, bytes: number): number {
  return rc(img).alloc(Math.ceil(bytes / img.clusterSize)) * img.clusterSize;
}

function freeBytes(img: BitmapImage, offset: number, bytes: number): void {
  if (offset === 0 || bytes === 0) return;
  rc(img).free(offset / img.clusterSize, Math.ceil(bytes / img.clusterSize));
}

/** free_bitmap_clusters */
function freeTable(img: BitmapImage, e: { tableOffset: number; tableSize: number }): void {
  if (e.tableOffset === 0) return;
  for (const off of loadTable(img, e as DirEntry)) {
    if (off <= 0) continue;
    freeBytes(img, off, img.clusterSize);
    // clear_bitmap_table frees with QCOW2_DISCARD_ALWAYS: a hole is punched where the file passes discards
    if (img.passDiscard) pwriteZeroes(img.fd, off, img.clusterSize);
  }
  freeBytes(img, e.tableOffset, e.tableSize * 8);
}

/** update_ext_header_and_dir: a new directory, the header pointing at it, the old one freed */
function writeDirAndHeader(img: BitmapImage, entries: DirEntry[]): void {
  const h = img.header();
  const old = readExt(h);
  let ext: BitmapsExt | undefined;
  if (entries.length > 0) {
    const dir = encodeDir(entries);
    const offset = allocBytes(img, dir.length);
    pwriteFull(img.fd, dir, offset);
    ext = { nb: entries.length, dirSize: dir.length, dirOffset: offset };
  }
  rc(img).writeOut();
  setBitmapsExt(img, h, ext);
  if (old !== undefined) freeBytes(img, old.dirOffset, old.dirSize);
  rc(img).writeOut();
}

/**
 * qcow2_load_dirty_bitmaps: every bitmap of the image; when the image is writable, those not yet
 * IN_USE are marked IN_USE in place (they are ours now and stored back on close). A bitmaps
 * extension without the autoclear bit was left by a program without bitmap support: it is ignored
 * (and dropped from the header when writable).
 */
export function loadBitmaps(img: BitmapImage): StoredBitmap[] {
  const h = img.header();
  const ext = readExt(h);
  if (ext === undefined) {
    if (img.refcounts !== undefined && h.extensions.some((x) => x.type === EXT_BITMAPS))
      setBitmapsExt(img, h, undefined);
    return [];
  }
  if (ext.nb === 0) return [];
  const entries = loadDir(img, ext);
  const out = entries.map((e) => ({
    name: e.name,
    granularity: 2 ** e.granularityBits,
    inUse: (e.flags & FLAG_IN_USE) !== 0,
    auto: (e.flags & FLAG_AUTO) !== 0,
    dirty: e.flags & FLAG_IN_USE ? new Set<number>() : loadData(img, e),
  }));
  const needsUpdate = entries.some((e) => !(e.flags & FLAG_IN_USE));
  if (needsUpdate && img.refcounts !== undefined) {
    // update_ext_header_and_dir_in_place: same place, same size, IN_USE set
    for (const e of entries) e.flags |= FLAG_IN_USE;
    pwriteFull(img.fd, encodeDir(entries), ext.dirOffset);
    setBitmapsExt(img, img.header(), ext);
  }
  return out;
}

/**
 * qcow2_get_bitmap_info_list: the bitmap directory as it is in the image (what query-block's qcow2
 * format-specific info lists): names, granularity and flags, read without changing anything.
 */
export function bitmapDirectory(img: BitmapImage): { name: string; granularity: number; flags: string[] }[] {
  const ext = readExt(img.header());
  if (ext === undefined || ext.nb === 0) return [];
  return loadDir(img, ext).map((e) => ({
    name: e.name,
    granularity: 2 ** e.granularityBits,
    flags: [...(e.flags & FLAG_IN_USE ? ['in-use'] : []), ...(e.flags & FLAG_AUTO ? ['auto'] : [])],
  }));
}

/** qcow2_co_remove_persistent_dirty_bitmap */
export function removeBitmap(img: BitmapImage, name: string): void {
  const ext = readExt(img.header());
  if (ext === undefined || ext.nb === 0) return;
  const entries = loadDir(img, ext);
  const i = entries.findIndex((e) => e.name === name);
  if (i < 0) return;
  const [bm] = entries.splice(i, 1);
  writeDirAndHeader(img, entries);
  freeTable(img, bm);
  rc(img).writeOut();
}

/**
 * qcow2_store_persistent_dirty_bitmaps: `bitmaps` in QEMU's list order (newest first), persistent and
 * consistent ones only. Bitmaps of the image that are not given (inconsistent ones) stay as they are.
 */
export function storeBitmaps(img: BitmapImage, bitmaps: BitmapToStore[]): void {
  if (bitmaps.length === 0) return;
  const ext = readExt(img.header());
  const entries = ext === undefined || ext.nb === 0 ? [] : loadDir(img, ext);
  const drop: { tableOffset: number; tableSize: number }[] = [];
  for (const b of bitmaps) {
    let e = entries.find((x) => x.name === b.name);
    if (e === undefined) {
      e = { tableOffset: 0, tableSize: 0, flags: 0, granularityBits: 0, name: b.name };
      entries.push(e);
    } else {
      if (!(e.flags & FLAG_IN_USE)) throw new Error(`Bitmap '${b.name}' already exists in the image`);
      drop.push({ tableOffset: e.tableOffset, tableSize: e.tableSize });
      e.tableOffset = 0;
      e.tableSize = 0;
    }
    e.flags = b.enabled ? FLAG_AUTO : 0;
    e.granularityBits = Math.log2(b.granularity);
    e.dirty = b.dirty;
  }
  for (const e of entries) if (e.dirty !== undefined) storeBitmap(img, e, e.dirty);
  writeDirAndHeader(img, entries);
  for (const t of drop) freeTable(img, t);
  rc(img).writeOut();
}

/** store_bitmap_data + store_bitmap: data clusters in bitmap order, then the table */
function storeBitmap(img: BitmapImage, e: DirEntry, dirty: Iterable<number>): void {
  const granules = Math.ceil(img.size / 2 ** e.granularityBits);
  // hbitmap serialization is in 64-bit words
  const serialized = Math.ceil(granules / 64) * 8;
  const tbSize = Math.ceil(serialized / img.clusterSize);
  const per = granulesPerCluster(img);
  const byCluster = new Map<number, number[]>();
  for (const g of dirty) {
    if (g >= granules) continue;
    const c = Math.floor(g / per);
    let list = byCluster.get(c);
    if (list === undefined) {
      list = [];
      byCluster.set(c, list);
    }
    list.push(g - c * per);
  }
  const table = new Uint8Array(tbSize * 8);
  const tv = new DataView(table.buffer);
  for (const c of [...byCluster.keys()].sort((a, b) => a - b)) {
    const off = allocBytes(img, img.clusterSize);
    const buf = new Uint8Array(img.clusterSize);
    for (const g of byCluster.get(c) ?? []) buf[g >> 3] |= 1 << (g & 7);
    pwriteFull(img.fd, buf, off);
    setU64(tv, c * 8, off);
  }
  const tbOffset = allocBytes(img, tbSize * 8);
  pwriteFull(img.fd, table, tbOffset);
  e.tableOffset = tbOffset;
  e.tableSize = tbSize;
}
