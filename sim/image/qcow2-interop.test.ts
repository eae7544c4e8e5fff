/**
 * Interoperability with the real qemu-img / qemu-io: images we write must satisfy qemu
 * (check, compare, qemu-io pattern reads), and images qemu writes must read back identically.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { openQcow2, type Qcow2Image } from './qcow2.js';
import { Qcow2Model } from './qcow2-test-model.js';
import { openRawFile } from './raw-file.js';
import {
  firstDiff,
  hasQemu,
  makeTempDir,
  NO_QEMU_REASON,
  QEMU_IMG,
  QEMU_IO,
  qemuCheck,
  randInt,
  run,
  runOk,
  xorshift,
} from './test-support.js';
import type { AllocStatus, Extent, ImageStore } from './types.js';

const tmp = makeTempDir('qcow2-interop-');
afterAll(() => tmp.remove());

const MiB = 1 << 20;
type BackingKind = 'none' | 'raw' | 'qcow2';

/** Makes a backing file with data, zeroes and (for qcow2) unallocated parts; returns its flat contents. */
function makeBacking(kind: BackingKind, name: string, size: number): Uint8Array | undefined {
  if (kind === 'none') return undefined;
  const path = tmp.path(name);
  if (kind === 'raw') {
    const bytes = new Uint8Array(size).map((_, i) => (i >> 9) & 0xff || 1);
    bytes.fill(0, 2 * MiB, 3 * MiB);
    writeFileSync(path, bytes);
    return bytes;
  }
  runOk(QEMU_IMG, ['create', '-q', '-f', 'qcow2', path, String(size)]);
  runOk(QEMU_IO, [
    '-f',
    'qcow2',
    '-c',
    'write -P 0x33 0 1M',
    '-c',
    'write -P 0x44 3M 300K',
    '-c',
    'write -z 5M 1M',
    path,
  ]);
  const flat = tmp.path(`${name}.flat`);
  runOk(QEMU_IMG, ['convert', '-f', 'qcow2', '-O', 'raw', path, flat]);
  return new Uint8Array(readFileSync(flat));
}

/** Opens the backing named in the overlay's header, the way a caller of openQcow2 is expected to. */
function attachBacking(img: Qcow2Image): ImageStore | undefined {
  const path = img.backingPath;
  if (path === undefined) return undefined;
  const base =
    img.backingFormat === 'raw' ? openRawFile(path, { readOnly: true }) : openQcow2(path, { readOnly: true });
  img.setBackingRead((o, l) => base.read(o, l));
  return base;
}

/** qemu-img map entries reduced to this layer's view: deeper layers count as unallocated here. */
function qemuTopStatus(image: string): Extent[] {
  const entries = JSON.parse(runOk(QEMU_IMG, ['map', '--output=json', image])) as Array<{
    start: number;
    length: number;
    depth: number;
    present: boolean;
    zero: boolean;
    data: boolean;
  }>;
  const out: Extent[] = [];
  for (const e of entries) {
    const status: AllocStatus = e.depth > 0 || !e.present ? 'unallocated' : e.data ? 'data' : 'zero';
    const last = out[out.length - 1];
    if (last !== undefined && last.status === status) last.length += e.length;
    else out.push({ offset: e.start, length: e.length, status });
  }
  return out;
}

/** Our composed view: this layer's bytes, backing bytes where this layer is unallocated. */
function composedRead(img: ImageStore, backing: ImageStore | undefined): Uint8Array {
  const out = img.read(0, img.size);
  if (backing === undefined) return out;
  for (const e of img.blockStatus(0, img.size)) {
    if (e.status === 'unallocated') out.set(backing.read(e.offset, e.length), e.offset);
  }
  return out;
}

/** Maximal runs of one non-zero byte value, for qemu-io `read -P` checks. */
function patternRuns(bytes: Uint8Array, minLen: number): Array<{ off: number; len: number; value: number }> {
  const runs: Array<{ off: number; len: number; value: number }> = [];
  let i = 0;
  while (i < bytes.length) {
    let j = i + 1;
    while (j < bytes.length && bytes[j] === bytes[i]) j++;
    if (bytes[i] !== 0 && j - i >= minLen) runs.push({ off: i, len: j - i, value: bytes[i] });
    i = j;
  }
  return runs;
}

interface Scenario {
  name: string;
  createOpts: string[];
  size: number;
  clusterSize: number;
  backing: BackingKind;
  zeroFlag?: boolean;
  ops: number;
  maxLen: number;
}

const scenarios: Scenario[] = [
  {
    name: 'no backing',
    createOpts: [],
    size: 8 * MiB + 1536,
    clusterSize: 65536,
    backing: 'none',
    ops: 80,
    maxLen: 200_000,
  },
  {
    name: 'raw backing',
    createOpts: [],
    size: 8 * MiB,
    clusterSize: 65536,
    backing: 'raw',
    ops: 80,
    maxLen: 200_000,
  },
  {
    name: 'qcow2 backing',
    createOpts: [],
    size: 8 * MiB,
    clusterSize: 65536,
    backing: 'qcow2',
    ops: 80,
    maxLen: 200_000,
  },
  {
    name: 'version 2 (compat=0.10), raw backing',
    createOpts: ['-o', 'compat=0.10'],
    size: 4 * MiB,
    clusterSize: 65536,
    backing: 'raw',
    zeroFlag: false,
    ops: 60,
    maxLen: 200_000,
  },
  {
    name: 'refcount_bits=1',
    createOpts: ['-o', 'refcount_bits=1'],
    size: 4 * MiB,
    clusterSize: 65536,
    backing: 'none',
    ops: 60,
    maxLen: 200_000,
  },
  {
    name: 'refcount_bits=64',
    createOpts: ['-o', 'refcount_bits=64'],
    size: 4 * MiB,
    clusterSize: 65536,
    backing: 'none',
    ops: 60,
    maxLen: 200_000,
  },
  {
    // 512-byte clusters: one refcount table cluster covers only 8 MiB, so 12 MiB of data grows it.
    name: '512-byte clusters with refcount table growth',
    createOpts: ['-o', 'cluster_size=512'],
    size: 16 * MiB,
    clusterSize: 512,
    backing: 'none',
    ops: 40,
    maxLen: 2 * MiB,
  },
];

describe('qcow2 written by us, verified by qemu', () => {
  for (const sc of scenarios) {
    it.skipIf(!hasQemu)(`${sc.name} (${hasQemu ? 'qemu present' : NO_QEMU_REASON})`, () => {
      const slug = sc.name.replace(/\W+/g, '-');
      const backingBytes = makeBacking(sc.backing, `${slug}-base.${sc.backing}`, sc.size);
      const overlay = tmp.path(`${slug}.qcow2`);
      const args = ['create', '-q', '-f', 'qcow2', ...sc.createOpts];
      if (sc.backing !== 'none') args.push('-b', `${slug}-base.${sc.backing}`, '-F', sc.backing);
      runOk(QEMU_IMG, [...args, overlay, String(sc.size)]);

      const img = openQcow2(overlay, { readOnly: false });
      const base = attachBacking(img);
      const model = new Qcow2Model(sc.size, sc.clusterSize, backingBytes, sc.zeroFlag ?? true);
      const rand = xorshift(0xc0ffee ^ sc.size ^ sc.ops);
      if (sc.clusterSize === 512) {
        const big = new Uint8Array(12 * MiB).fill(0x5c);
        img.write(3 * MiB + 7, big);
        model.write(3 * MiB + 7, big);
      }
      for (let k = 0; k < sc.ops; k++) {
        const offset = randInt(rand, 0, sc.size);
        const length = Math.min(randInt(rand, 1, sc.maxLen), sc.size - offset);
        const r = rand();
        if (r < 0.6) {
          const data = new Uint8Array(length).fill(randInt(rand, 1, 256));
          img.write(offset, data);
          model.write(offset, data);
        } else if (r < 0.8) {
          img.writeZeroes(offset, length);
          model.writeZeroes(offset, length);
        } else {
          img.discard(offset, length);
          model.discard(offset, length);
        }
      }
      expect(img.blockStatus(0, sc.size)).toEqual(model.status(0, sc.size));
      img.close();
      base?.close();

      const { code, report } = qemuCheck(overlay);
      expect({ code, errors: report['check-errors'], leaks: report.leaks ?? 0 }).toEqual({
        code: 0,
        errors: 0,
        leaks: 0,
      });

      const expected = model.composed();
      const expectedPath = tmp.path(`${slug}.expected.raw`);
      writeFileSync(expectedPath, expected);
      const cmp = run(QEMU_IMG, ['compare', '-f', 'qcow2', '-F', 'raw', overlay, expectedPath]);
      expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
      expect(cmp.code).toBe(0);

      const runs = patternRuns(expected, 1);
      const picks = Array.from(
        { length: Math.min(25, runs.length) },
        () => runs[randInt(rand, 0, runs.length)],
      );
      const cmds = picks.flatMap((p) => ['-c', `read -P 0x${p?.value.toString(16)} ${p?.off} ${p?.len}`]);
      const io = run(QEMU_IO, ['-r', '-f', 'qcow2', ...cmds, overlay]);
      expect(io.stdout + io.stderr).not.toContain('Pattern verification failed');
      expect(io.code).toBe(0);

      expect(qemuTopStatus(overlay)).toEqual(model.status(0, sc.size));
    });
  }
});

describe('qcow2 written by qemu-io, read by us', () => {
  const cases: Array<{ name: string; createOpts: string[]; backing: BackingKind }> = [
    { name: 'no backing', createOpts: [], backing: 'none' },
    { name: 'raw backing', createOpts: [], backing: 'raw' },
    { name: 'qcow2 backing, 4k clusters', createOpts: ['-o', 'cluster_size=4096'], backing: 'qcow2' },
    { name: 'version 2', createOpts: ['-o', 'compat=0.10'], backing: 'none' },
    { name: 'refcount_bits=1', createOpts: ['-o', 'refcount_bits=1'], backing: 'none' },
  ];
  for (const c of cases) {
    it.skipIf(!hasQemu)(`${c.name} (${hasQemu ? 'qemu present' : NO_QEMU_REASON})`, () => {
      const size = 8 * MiB;
      const slug = `rev-${c.name.replace(/\W+/g, '-')}`;
      makeBacking(c.backing, `${slug}-base.${c.backing}`, size);
      const image = tmp.path(`${slug}.qcow2`);
      const args = ['create', '-q', '-f', 'qcow2', ...c.createOpts];
      if (c.backing !== 'none') args.push('-b', `${slug}-base.${c.backing}`, '-F', c.backing);
      runOk(QEMU_IMG, [...args, image, String(size)]);
      runOk(QEMU_IO, [
        '-f',
        'qcow2',
        '-c',
        'write -P 0xab 1000 70000',
        '-c',
        'write -P 0x11 3145731 5',
        '-c',
        'write -z 1048576 131072',
        '-c',
        'write -z 4000 100',
        '-c',
        'write -P 0x7e 6291456 1048576',
        '-c',
        'discard 6356992 65536',
        '-c',
        'write -P 0x22 8387000 1608',
        image,
      ]);
      const flat = tmp.path(`${slug}.flat`);
      runOk(QEMU_IMG, ['convert', '-f', 'qcow2', '-O', 'raw', image, flat]);

      const img = openQcow2(image, { readOnly: true });
      const base = attachBacking(img);
      expect(firstDiff(composedRead(img, base), new Uint8Array(readFileSync(flat)))).toBe(-1);
      expect(img.blockStatus(0, size)).toEqual(qemuTopStatus(image));
      img.close();
      base?.close();
    });
  }
});

describe('qcow2 written by qemu-io, then modified by us', () => {
  it.skipIf(!hasQemu)(
    `reuses and frees qemu's clusters cleanly (${hasQemu ? 'qemu present' : NO_QEMU_REASON})`,
    () => {
      const size = 6 * MiB;
      const cs = 65536;
      const image = tmp.path('mixed.qcow2');
      runOk(QEMU_IMG, ['create', '-q', '-f', 'qcow2', image, String(size)]);
      runOk(QEMU_IO, [
        '-f',
        'qcow2',
        '-c',
        'write -P 0x61 0 3M',
        '-c',
        'write -P 0x62 4M 1M',
        '-c',
        'write -z 3M 512k',
        image,
      ]);
      const flat = tmp.path('mixed.flat');
      runOk(QEMU_IMG, ['convert', '-f', 'qcow2', '-O', 'raw', image, flat]);
      // Without a backing file every op has a byte-level meaning: discard zeroes whole clusters only.
      const expected = new Uint8Array(readFileSync(flat));
      const img = openQcow2(image, { readOnly: false });
      const rand = xorshift(42);
      for (let k = 0; k < 120; k++) {
        const offset = randInt(rand, 0, size);
        const length = Math.min(randInt(rand, 1, 300_000), size - offset);
        const r = rand();
        if (r < 0.4) {
          const data = new Uint8Array(length).fill(randInt(rand, 1, 256));
          img.write(offset, data);
          expected.set(data, offset);
        } else if (r < 0.6) {
          img.writeZeroes(offset, length);
          expected.fill(0, offset, offset + length);
        } else {
          img.discard(offset, length);
          const from = Math.ceil(offset / cs) * cs;
          const to = offset + length === size ? size : Math.floor((offset + length) / cs) * cs;
          if (to > from) expected.fill(0, from, to);
        }
      }
      img.close();
      const { code, report } = qemuCheck(image);
      expect({ code, errors: report['check-errors'], leaks: report.leaks ?? 0 }).toEqual({
        code: 0,
        errors: 0,
        leaks: 0,
      });
      const expectedPath = tmp.path('mixed.expected.raw');
      writeFileSync(expectedPath, expected);
      const cmp = run(QEMU_IMG, ['compare', '-f', 'qcow2', '-F', 'raw', image, expectedPath]);
      expect(cmp.stdout + cmp.stderr).toContain('Images are identical');
    },
  );
});

describe('qcow2 images we must refuse', () => {
  it.skipIf(!hasQemu)('compressed clusters: clear error when touched', () => {
    const src = tmp.path('comp-src.raw');
    writeFileSync(src, new Uint8Array(MiB).fill(0x41));
    const img = tmp.path('comp.qcow2');
    runOk(QEMU_IMG, ['convert', '-c', '-f', 'raw', '-O', 'qcow2', src, img]);
    const q = openQcow2(img, { readOnly: true });
    expect(q.blockStatus(0, 65536)).toEqual([{ offset: 0, length: 65536, status: 'data' }]);
    expect(() => q.read(0, 10)).toThrow(/compressed qcow2 clusters are not supported/);
    q.close();
  });

  it.skipIf(!hasQemu)('external data file: refused at open', () => {
    const img = tmp.path('ext.qcow2');
    runOk(QEMU_IMG, ['create', '-q', '-f', 'qcow2', '-o', `data_file=${tmp.path('ext.data')}`, img, '1M']);
    expect(() => openQcow2(img, { readOnly: true })).toThrow(/external data file/);
  });

  // Legacy AES (crypt_method 1): LUKS creation benchmarks PBKDF timing and is flaky on a loaded machine.
  it.skipIf(!hasQemu)('encryption: refused at open', () => {
    const img = tmp.path('enc.qcow2');
    runOk(QEMU_IMG, [
      'create',
      '-q',
      '--object',
      'secret,id=sec0,data=123456',
      '-f',
      'qcow2',
      '-o',
      'encrypt.format=aes,encrypt.key-secret=sec0',
      img,
      '1M',
    ]);
    expect(() => openQcow2(img, { readOnly: true })).toThrow(/encrypted qcow2 images are not supported/);
  });

  it.skipIf(!hasQemu)('internal snapshots: read-only works, read-write refused', () => {
    const img = tmp.path('snap.qcow2');
    runOk(QEMU_IMG, ['create', '-q', '-f', 'qcow2', img, '1M']);
    runOk(QEMU_IO, ['-f', 'qcow2', '-c', 'write -P 0x5 0 64k', img]);
    runOk(QEMU_IMG, ['snapshot', '-c', 's1', img]);
    expect(() => openQcow2(img, { readOnly: false })).toThrow(/internal snapshot/);
    const q = openQcow2(img, { readOnly: true });
    expect(q.read(0, 4)).toEqual(new Uint8Array([5, 5, 5, 5]));
    q.close();
  });

  it.skipIf(!hasQemu)('persistent bitmaps: loaded (IN_USE while open) and stored back', () => {
    const img = tmp.path('bitmap.qcow2');
    runOk(QEMU_IMG, ['create', '-q', '-f', 'qcow2', img, '1M']);
    runOk(QEMU_IMG, ['bitmap', '--add', img, 'b0']);
    const q = openQcow2(img, { readOnly: false });
    const [b0] = q.loadBitmaps();
    expect(b0).toMatchObject({ name: 'b0', granularity: 65536, inUse: false, auto: true });
    q.storeBitmaps([{ name: 'b0', granularity: 65536, enabled: true, dirty: [1] }]);
    q.close();
    expect(qemuCheck(img).code).toBe(0);
    const r = openQcow2(img, { readOnly: true });
    expect([...r.loadBitmaps()[0].dirty]).toEqual([1]);
    r.close();
  });
});
