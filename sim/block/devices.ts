import type { BlockBackend } from './graph.ts';

/** A guest disk of qemu-system (-device virtio-blk-pci,drive=NODE,id=ID): a BlockBackend the guest writes through. */
export interface Device {
  id: string;
  qomPath: string;
  blk: BlockBackend;
  /**
   * the BlockBackend's write cache (blk_enable_write_cache): on until a guest driver that does not
   * negotiate flushes sets the device up (qemu-system's firmware does so for the disks it boots from)
   */
  writeCache?: boolean;
}
