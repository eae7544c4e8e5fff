/**
 * qcow2 header and header extensions (docs/interop/qcow2.txt), as pure encode/decode so the
 * layout can be unit tested without files.
 */
export const QCOW2_MAGIC = 0x514649fb;
export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_ENCRYPTION = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const V2_HEADER_LENGTH = 72;
/** v3 header including the compression_type byte and its padding, as qemu-img 7.2 writes it */
export const V3_HEADER_LENGTH = 112;

export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
export const AUTOCLEAR_BITMAPS = 1n << 0n;

/** Byte offsets of fields that are patched in place after creation. */
export const HEADER_OFFSET = {
  size: 24,
  l1Size: 36,
  l1TableOffset: 40,
  refcountTableOffset: 48,
  refcountTableClusters: 56,
  autoclearFeatures: 88,
} as const;

export interface HeaderExtension {
  type: number;
  data: Uint8Array;
}

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
  /** every extension in file order, unknown ones included, so they can be written back */
  extensions: HeaderExtension[];
  backingFile?: string;
  backingFormat?: string;
}

/** Names qemu-img 7.2 writes in the feature name table, in its order: [type, bit, name]. */
export const QEMU_FEATURE_NAMES: ReadonlyArray<readonly [number, number, string]> = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];

const FEATURE_ENTRY = 48;

export function featureTableExtension(): HeaderExtension {
  const data = new Uint8Array(QEMU_FEATURE_NAMES.length * FEATURE_ENTRY);
  QEMU_FEATURE_NAMES.forEach(([type, bit, name], i) => {
    data[i * FEATURE_ENTRY] = type;
    data[i * FEATURE_ENTRY + 1] = bit;
    data.set(new TextEncoder().encode(name), i * FEATURE_ENTRY + 2);
  });
  return { type: EXT_FEATURE_TABLE, data };
}

/** Feature names from an image's own table, for error messages about bits we do not know. */
export function featureName(h: Qcow2Header, type: number, bit: number): string | undefined {
  const ext = h.extensions.find((e) => e.type === EXT_FEATURE_TABLE);
  if (ext === undefined) return undefined;
  for (let off = 0; off + FEATURE_ENTRY <= ext.data.length; off += FEATURE_ENTRY) {
    if (ext.data[off] === type && ext.data[off + 1] === bit) {
      return cString(ext.data.subarray(off + 2, off + FEATURE_ENTRY));
    }
  }
  return undefined;
}

/**
 * Parses the header from the first cluster (the caller passes at least the header cluster).
 * The backing file name is resolved by the caller if it lies outside `buf`.
 */
export function decodeHeader(buf: Uint8Array): Qcow2Header {
  if (buf.length < V2_HEADER_LENGTH) throw new Error('qcow2: file too short for a header');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = v.getUint32(0);
  if (magic !== QCOW2_MAGIC) throw new Error(`not a qcow2 image (magic 0x${magic.toString(16)})`);
  const version = v.getUint32(4);
  if (version !== 2 && version !== 3) throw new Error(`qcow2: unsupported version ${version}`);
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(v, 8),
    backingFileSize: v.getUint32(16),
    clusterBits: v.getUint32(20),
    size: u64(v, 24),
    cryptMethod: v.getUint32(32),
    l1Size: v.getUint32(36),
    l1TableOffset: u64(v, 40),
    refcountTableOffset: u64(v, 48),
    refcountTableClusters: v.getUint32(56),
    nbSnapshots: v.getUint32(60),
    snapshotsOffset: u64(v, 64),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V2_HEADER_LENGTH,
    compressionType: 0,
    extensions: [],
  };
  if (version === 3) {
    h.incompatibleFeatures = v.getBigUint64(72);
    h.compatibleFeatures = v.getBigUint64(80);
    h.autoclearFeatures = v.getBigUint64(88);
    h.refcountOrder = v.getUint32(96);
    h.headerLength = v.getUint32(100);
    if (h.headerLength < 104) throw new Error(`qcow2: header_length ${h.headerLength} < 104`);
    if (h.headerLength > 104) h.compressionType = buf[104];
  }
  if (h.clusterBits < 9 || h.clusterBits > 21) throw new Error(`qcow2: bad cluster_bits ${h.clusterBits}`);
  if (h.refcountOrder > 6) throw new Error(`qcow2: bad refcount_order ${h.refcountOrder}`);
  h.extensions = decodeExtensions(buf, h.headerLength);
  const bf = h.extensions.find((e) => e.type === EXT_BACKING_FORMAT);
  if (bf !== undefined) h.backingFormat = new TextDecoder().decode(bf.data);
  const end = h.backingFileOffset + h.backingFileSize;
  if (h.backingFileOffset !== 0 && end <= buf.length) {
    h.backingFile = new TextDecoder().decode(buf.subarray(h.backingFileOffset, end));
  }
  return h;
}

function decodeExtensions(buf: Uint8Array, start: number): HeaderExtension[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: HeaderExtension[] = [];
  let off = start;
  while (off + 8 <= buf.length) {
    const type = v.getUint32(off);
    const len = v.getUint32(off + 4);
    if (type === EXT_END) break;
    if (off + 8 + len > buf.length)
      throw new Error(`qcow2: header extension 0x${type.toString(16)} overruns cluster`);
    out.push({ type, data: buf.slice(off + 8, off + 8 + len) });
    off += 8 + align8(len);
  }
  return out;
}

/**
 * Encodes a full header cluster: fixed fields, extensions (backing format first, then the
 * others in the given order, like qcow2_update_header), end marker, then the backing name.
 * backingFileOffset/backingFileSize are computed here.
 */
export function encodeHeader(h: Qcow2Header, clusterSize: number): Uint8Array {
  const buf = new Uint8Array(clusterSize);
  const v = new DataView(buf.buffer);
  const exts = h.extensions.filter((e) => e.type !== EXT_BACKING_FORMAT);
  if (h.backingFormat !== undefined) {
    exts.unshift({ type: EXT_BACKING_FORMAT, data: new TextEncoder().encode(h.backingFormat) });
  }
  const headerLength = h.version === 3 ? h.headerLength : V2_HEADER_LENGTH;
  let off = headerLength;
  for (const e of exts) {
    if (off + 8 + align8(e.data.length) > clusterSize)
      throw new Error('qcow2: header extensions exceed a cluster');
    v.setUint32(off, e.type);
    v.setUint32(off + 4, e.data.length);
    buf.set(e.data, off + 8);
    off += 8 + align8(e.data.length);
  }
  // End-of-extensions marker (type 0, length 0): 8 zero bytes, already zero.
  off += 8;
  let backingOffset = 0;
  let backingSize = 0;
  if (h.backingFile !== undefined) {
    const name = new TextEncoder().encode(h.backingFile);
    if (name.length > 1023) throw new Error('qcow2: backing file name longer than 1023 bytes');
    if (off + name.length > clusterSize)
      throw new Error('qcow2: backing file name does not fit in header cluster');
    buf.set(name, off);
    backingOffset = off;
    backingSize = name.length;
  }
  v.setUint32(0, QCOW2_MAGIC);
  v.setUint32(4, h.version);
  setU64(v, 8, backingOffset);
  v.setUint32(16, backingSize);
  v.setUint32(20, h.clusterBits);
  setU64(v, 24, h.size);
  v.setUint32(32, h.cryptMethod);
  v.setUint32(36, h.l1Size);
  setU64(v, 40, h.l1TableOffset);
  setU64(v, 48, h.refcountTableOffset);
  v.setUint32(56, h.refcountTableClusters);
  v.setUint32(60, h.nbSnapshots);
  setU64(v, 64, h.snapshotsOffset);
  if (h.version === 3) {
    v.setBigUint64(72, h.incompatibleFeatures);
    v.setBigUint64(80, h.compatibleFeatures);
    v.setBigUint64(88, h.autoclearFeatures);
    v.setUint32(96, h.refcountOrder);
    v.setUint32(100, headerLength);
    if (headerLength > 104) buf[104] = h.compressionType;
  }
  return buf;
}

export function u64(v: DataView, off: number): number {
  return v.getUint32(off) * 2 ** 32 + v.getUint32(off + 4);
}

export function setU64(v: DataView, off: number, value: number): void {
  v.setUint32(off, Math.floor(value / 2 ** 32));
  v.setUint32(off + 4, value >>> 0);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? b : b.subarray(0, nul));
}
