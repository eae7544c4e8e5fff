import type { BlockBackend } from './graph.ts';

/** A guest disk of qemu-system (-device virtio-blk-pci,drive=NODE,id=ID): a BlockBackend the guest writes through. */
export interface Device {
  id: string;
  qomPath: string;
  blk: BlockBackend;
}
