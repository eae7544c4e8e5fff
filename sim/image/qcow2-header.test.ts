import { describe, expect, it } from 'vitest';
import {
  decodeHeader,
  EXT_BACKING_FORMAT,
  EXT_FEATURE_TABLE,
  encodeHeader,
  featureName,
  featureTableExtension,
  type Qcow2Header,
  V3_HEADER_LENGTH,
} from './qcow2-header.js';
import { refcountCodec } from './qcow2-refcount.js';
import { Table } from './qcow2-table-cache.js';

function header(over: Partial<Qcow2Header> = {}): Qcow2Header {
  return {
    version: 3,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits: 16,
    size: 2 ** 40,
    cryptMethod: 0,
    l1Size: 2048,
    l1TableOffset: 0x30000,
    refcountTableOffset: 0x10000,
    refcountTableClusters: 1,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: V3_HEADER_LENGTH,
    compressionType: 0,
    extensions: [featureTableExtension()],
    ...over,
  };
}

describe('qcow2 header', () => {
  it('round-trips fields, backing file, backing format and unknown extensions in order', () => {
    const unknown = { type: 0x12345678, data: new Uint8Array([1, 2, 3, 4, 5]) };
    const h = header({
      backingFile: '../base images/base.qcow2',
      backingFormat: 'qcow2',
      extensions: [featureTableExtension(), unknown],
      autoclearFeatures: 1n << 63n,
    });
    const d = decodeHeader(encodeHeader(h, 65536));
    expect(d.backingFile).toBe('../base images/base.qcow2');
    expect(d.backingFormat).toBe('qcow2');
    expect(d.extensions.map((e) => e.type)).toEqual([EXT_BACKING_FORMAT, EXT_FEATURE_TABLE, 0x12345678]);
    expect([...(d.extensions[2]?.data ?? [])]).toEqual([1, 2, 3, 4, 5]);
    expect(d.size).toBe(2 ** 40);
    expect(d.autoclearFeatures).toBe(1n << 63n);
    expect(d.l1Size).toBe(2048);
  });

  it('names features from the image feature table', () => {
    const d = decodeHeader(encodeHeader(header(), 65536));
    expect(featureName(d, 0, 2)).toBe('external data file');
    expect(featureName(d, 2, 0)).toBe('bitmaps');
    expect(featureName(d, 0, 9)).toBeUndefined();
  });

  it('decodes a version 2 header with implicit 16-bit refcounts', () => {
    const buf = encodeHeader(header({ version: 2, extensions: [] }), 65536);
    const d = decodeHeader(buf);
    expect(d.version).toBe(2);
    expect(d.refcountOrder).toBe(4);
    expect(d.headerLength).toBe(72);
    expect(d.incompatibleFeatures).toBe(0n);
  });

  it('rejects garbage', () => {
    expect(() => decodeHeader(new Uint8Array(512))).toThrow(/not a qcow2 image/);
    const bad = encodeHeader(header(), 65536);
    bad[7] = 4;
    expect(() => decodeHeader(bad)).toThrow(/version 4/);
  });
});

describe('refcount codec', () => {
  for (const order of [0, 1, 2, 3, 4, 5, 6]) {
    it(`stores ${2 ** order}-bit refcounts independently`, () => {
      const t = new Table(0, new Uint8Array(512));
      const max = Math.min(2 ** (2 ** order) - 1, 2 ** 40);
      const n = (512 * 8) / 2 ** order;
      for (let i = 0; i < n; i++) refcountCodec.write(t, i, order, (i * 7) % (max + 1));
      refcountCodec.write(t, 3, order, max);
      for (let i = 0; i < n; i++) {
        expect(refcountCodec.read(t, i, order)).toBe(i === 3 ? max : (i * 7) % (max + 1));
      }
    });
  }
});
