import { closeSync, openSync, readSync } from 'node:fs';
import { createQcow2, openQcow2 } from '../image/qcow2.ts';
import { registerQcow2Backend } from './fs.ts';

const QCOW2_MAGIC = 'QFI\xfb';

/** Wires the on-disk qcow2 implementation into the real filesystem of the simulator. */
registerQcow2Backend({
  open(file, readOnly) {
    const head = Buffer.alloc(4);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return null;
    }
    try {
      readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
    if (head.toString('latin1') !== QCOW2_MAGIC) return null;
    const img = openQcow2(file, { readOnly });
    return {
      store: img,
      clusterSize: img.clusterSize,
      backingFile: img.backingFile,
      backingFormat: img.backingFormat,
      backingPath: img.backingPath,
      setBackingRead: (fn) => img.setBackingRead(fn),
      loadBitmaps: () => img.loadBitmaps(),
      storeBitmaps: (list, passDiscard) => img.storeBitmaps(list, passDiscard),
      removeBitmap: (name, passDiscard) => img.removeBitmap(name, passDiscard),
      bitmapDirectory: () => img.bitmapDirectory(),
    };
  },
  create(file, opts) {
    createQcow2(file, opts);
  },
});
