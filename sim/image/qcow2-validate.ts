import {
  featureName,
  INCOMPAT_COMPRESSION,
  INCOMPAT_CORRUPT,
  INCOMPAT_DATA_FILE,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  type Qcow2Header,
} from './qcow2-header.js';

const KNOWN_INCOMPAT =
  INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/**
 * Refuses images this driver cannot handle faithfully, before any access, so a simulation
 * never silently misreads an image. Message texts name the feature and what to do.
 */
export function validateHeader(path: string, h: Qcow2Header, readOnly: boolean): void {
  const fail = (why: string): never => {
    throw new Error(`${path}: ${why}`);
  };
  if (h.cryptMethod !== 0) fail(`encrypted qcow2 images are not supported (crypt_method ${h.cryptMethod})`);
  const unknown = h.incompatibleFeatures & ~KNOWN_INCOMPAT;
  if (unknown !== 0n) {
    const bits: string[] = [];
    for (let bit = 0; bit < 64; bit++) {
      if ((unknown >> BigInt(bit)) & 1n) {
        const name = featureName(h, 0, bit);
        bits.push(name === undefined ? `bit ${bit}` : `bit ${bit} (${name})`);
      }
    }
    fail(`unsupported incompatible qcow2 features: ${bits.join(', ')}`);
  }
  if (h.incompatibleFeatures & INCOMPAT_DATA_FILE)
    fail('qcow2 images with an external data file are not supported');
  if (h.incompatibleFeatures & INCOMPAT_EXTL2)
    fail('qcow2 extended L2 entries (subclusters) are not supported');
  if (!readOnly && h.incompatibleFeatures & INCOMPAT_DIRTY) {
    fail(
      'image is marked dirty (lazy refcounts not flushed); repair with `qemu-img check -r all` or open read-only',
    );
  }
  if (!readOnly && h.incompatibleFeatures & INCOMPAT_CORRUPT) {
    fail('image is marked corrupt; repair with `qemu-img check -r all` or open read-only');
  }
  if (!readOnly && h.nbSnapshots > 0) {
    fail(
      `image has ${h.nbSnapshots} internal snapshot(s); writing shared clusters is not supported, open read-only`,
    );
  }
  const cs = 2 ** h.clusterBits;
  if (h.l1TableOffset % cs !== 0) fail(`L1 table offset ${h.l1TableOffset} is not cluster aligned`);
  if (h.refcountTableOffset % cs !== 0)
    fail(`refcount table offset ${h.refcountTableOffset} is not cluster aligned`);
  if (h.refcountTableClusters === 0) fail('refcount table is empty');
  const l2Span = cs * (cs / 8);
  if (h.l1Size < Math.ceil(h.size / l2Span))
    fail(`L1 table too small (${h.l1Size} entries) for size ${h.size}`);
  if (h.backingFileOffset !== 0 && h.backingFile === undefined)
    fail('backing file name lies outside the header cluster');
}
