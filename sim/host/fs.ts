import * as fs from 'node:fs';
import * as path from 'node:path';
import { createMemoryStore } from '../image/memory-store.ts';
import type { BitmapToStore, StoredBitmap } from '../image/qcow2.ts';
import { qcow2FileLength } from '../image/qcow2-file-length.ts';
import { openRawFile } from '../image/raw-file.ts';
import type { ImageStore } from '../image/types.ts';

/** A qcow2 image as the host file system opens it: its data store and what the format driver needs of it. */
export interface Qcow2Layer {
  store: ImageStore;
  clusterSize: number;
  backingFile?: string;
  backingFormat?: string;
  /** the backing file name resolved against the image's folder, as QEMU opens it */
  backingPath?: string;
  /** where a partial write into an unallocated cluster gets the rest of the cluster (copy-on-write) */
  setBackingRead?: (read: ((offset: number, length: number) => Uint8Array) | undefined) => void;
  /** persistent dirty bitmaps in the image (on-disk images only) */
  loadBitmaps?: () => StoredBitmap[];
  storeBitmaps?: (bitmaps: BitmapToStore[], passDiscard?: boolean) => void;
  removeBitmap?: (name: string, passDiscard?: boolean) => void;
  /** the bitmap directory as the image holds it now */
  bitmapDirectory?: () => { name: string; granularity: number; flags: string[] }[];
}

/** How the simulator reaches files: the host's (serve, conformance) or a private in-memory one (property runs). */
export interface SimFs {
  readonly kind: 'real' | 'memory';
  exists(file: string): boolean;
  openRaw(file: string, readOnly: boolean): ImageStore;
  /** null when the file is not a qcow2 image */
  openQcow2(file: string, readOnly: boolean): Qcow2Layer | null;
  createRaw(file: string, size: number): void;
  createQcow2(
    file: string,
    opts: { size: number; clusterSize: number; backingFile?: string; backingFormat?: string },
  ): void;
  /** allocated bytes on the host, for query-named-block-nodes' actual-size */
  actualSize(file: string): number;
}

export class FsError extends Error {
  constructor(
    readonly errno: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

type Qcow2Backend = {
  open(file: string, readOnly: boolean): Qcow2Layer | null;
  create(
    file: string,
    opts: { size: number; clusterSize: number; backingFile?: string; backingFormat?: string },
  ): void;
};

let realQcow2: Qcow2Backend | undefined;
/** The on-disk qcow2 implementation registers itself here (sim/image/qcow2.ts). */
export function registerQcow2Backend(b: Qcow2Backend): void {
  realQcow2 = b;
}

/**
 * file-posix grows an empty file with ftruncate and then writes zeroes over its first block
 * (allocate_first_block, for alignment probing): a new raw image has data there and a hole after.
 */
function allocateFirstBlock(fd: number, size: number): void {
  if (size <= 0) return;
  const n = size < 4096 ? 512 : 4096;
  fs.writeSync(fd, new Uint8Array(Math.min(n, size)), 0, Math.min(n, size), 0);
}

export class RealFs implements SimFs {
  readonly kind = 'real';
  constructor(readonly cwd: string = process.cwd()) {}
  private resolve(file: string): string {
    return path.resolve(this.cwd, file);
  }
  exists(file: string): boolean {
    return fs.existsSync(this.resolve(file));
  }
  openRaw(file: string, readOnly: boolean): ImageStore {
    const p = this.resolve(file);
    if (!fs.existsSync(p)) throw new FsError(2, 'No such file or directory');
    return openRawFile(p, { readOnly });
  }
  openQcow2(file: string, readOnly: boolean): Qcow2Layer | null {
    if (!realQcow2) throw new Error('qcow2 backend not registered');
    return realQcow2.open(this.resolve(file), readOnly);
  }
  createRaw(file: string, size: number): void {
    const fd = fs.openSync(this.resolve(file), 'w');
    try {
      fs.ftruncateSync(fd, size);
      allocateFirstBlock(fd, size);
    } finally {
      fs.closeSync(fd);
    }
  }
  createQcow2(file: string, opts: Parameters<SimFs['createQcow2']>[1]): void {
    if (!realQcow2) throw new Error('qcow2 backend not registered');
    realQcow2.create(this.resolve(file), opts);
  }
  actualSize(file: string): number {
    try {
      return fs.statSync(this.resolve(file)).blocks * 512;
    } catch {
      return 0;
    }
  }
}

/**
 * A qcow2 image in memory keeps its persistent bitmaps as the image's bitmap directory would: opened
 * read-write, each consistent one is marked IN_USE until the node closes and stores it back; a QEMU that dies
 * without closing (kill -9) leaves them IN_USE, as qcow2_load_dirty_bitmaps / qcow2_inactivate do on disk.
 */
type MemFile =
  | { kind: 'raw'; store: ImageStore }
  | { kind: 'qcow2'; layer: Qcow2Layer; bitmaps: StoredBitmap[] };

function listedBitmaps(list: StoredBitmap[]): { name: string; granularity: number; flags: string[] }[] {
  return list.map((b) => ({
    flags: [...(b.inUse ? ['in-use'] : []), ...(b.auto ? ['auto'] : [])],
    name: b.name,
    granularity: b.granularity,
  }));
}

function memoryBitmaps(f: { bitmaps: StoredBitmap[] }, readOnly: boolean): Partial<Qcow2Layer> {
  const copy = (b: StoredBitmap): StoredBitmap => ({ ...b, dirty: new Set(b.inUse ? [] : b.dirty) });
  return {
    loadBitmaps: () => {
      const out = f.bitmaps.map(copy);
      if (!readOnly) for (const b of f.bitmaps) b.inUse = true;
      return out;
    },
    storeBitmaps: (list) => {
      for (const b of list) {
        const stored: StoredBitmap = {
          name: b.name,
          granularity: b.granularity,
          inUse: false,
          auto: b.enabled,
          dirty: new Set(b.dirty),
        };
        const i = f.bitmaps.findIndex((x) => x.name === b.name);
        if (i >= 0) f.bitmaps[i] = stored;
        else f.bitmaps.push(stored);
      }
    },
    removeBitmap: (name) => {
      const i = f.bitmaps.findIndex((x) => x.name === name);
      if (i >= 0) f.bitmaps.splice(i, 1);
    },
    bitmapDirectory: () => listedBitmaps(f.bitmaps),
  };
}

/** Files that live only in the simulator: fast, private, and gone with it. */
export class MemoryFs implements SimFs {
  readonly kind = 'memory';
  readonly files = new Map<string, MemFile>();
  exists(file: string): boolean {
    return this.files.has(file);
  }
  openRaw(file: string): ImageStore {
    const f = this.files.get(file);
    if (!f) throw new FsError(2, 'No such file or directory');
    // The raw bytes of an in-memory qcow2 are not modelled: its file node is a blank as long as the host
    // file QEMU would have written, growing as the image allocates clusters.
    if (f.kind === 'qcow2') return qcow2FileView(f.layer);
    return shareStore(f.store);
  }
  openQcow2(file: string, readOnly = false): Qcow2Layer | null {
    const f = this.files.get(file);
    if (!f) throw new FsError(2, 'No such file or directory');
    return f.kind === 'qcow2'
      ? { ...f.layer, store: shareStore(f.layer.store), ...memoryBitmaps(f, readOnly) }
      : null;
  }
  createRaw(file: string, size: number): void {
    this.files.set(file, { kind: 'raw', store: createMemoryStore(size) });
  }
  createQcow2(file: string, opts: Parameters<SimFs['createQcow2']>[1]): void {
    this.files.set(file, {
      kind: 'qcow2',
      layer: {
        store: createMemoryStore(opts.size),
        clusterSize: opts.clusterSize,
        backingFile: opts.backingFile,
        backingFormat: opts.backingFormat,
      },
      bitmaps: [],
    });
  }
  /** the persistent bitmaps a qcow2 image holds now, as `qemu-img info` lists them */
  imageBitmaps(file: string): { name: string; granularity: number; flags: string[] }[] {
    const f = this.files.get(file);
    return f?.kind === 'qcow2' ? listedBitmaps(f.bitmaps) : [];
  }
  actualSize(file: string): number {
    const f = this.files.get(file);
    if (!f) return 0;
    return f.kind === 'raw' ? f.store.memoryBytes : f.layer.store.memoryBytes;
  }
}

/** A view that does not close the shared file when one node lets go of it. */
function shareStore(s: ImageStore): ImageStore {
  return {
    get size() {
      return s.size;
    },
    read: (o, l) => s.read(o, l),
    write: (o, d) => s.write(o, d),
    writeZeroes: (o, l) => s.writeZeroes(o, l),
    discard: (o, l) => s.discard(o, l),
    blockStatus: (o, l) => s.blockStatus(o, l),
    flush: () => s.flush(),
    close: () => {},
    get memoryBytes() {
      return s.memoryBytes;
    },
  };
}

/** A blank store whose length follows the qcow2 layer's allocation (qcow2FileLength). */
function qcow2FileView(layer: Qcow2Layer): ImageStore {
  const lengthNow = () =>
    qcow2FileLength(layer.store.size, layer.clusterSize, layer.store.blockStatus(0, layer.store.size));
  const blank = createMemoryStore(lengthNow());
  return Object.defineProperty({ ...blank }, 'size', { get: lengthNow, enumerable: true }) as ImageStore;
}
