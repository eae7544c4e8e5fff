import type { Feature } from './versions.ts';

/**
 * What a proposal's lowering and the checker see of a QEMU: QMP, the guest's I/O, export reads, scratch
 * images. Implemented in process over the simulator and over a real QEMU (harness/). Every call is logged
 * to the trace.
 */
export class QmpCallError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}

export type TraceEntry =
  /** `by: 'checker'`: the checker looking at QEMU's state, not the API's lowering */
  | { kind: 'qmp'; command: string; args?: Record<string, unknown>; reply: unknown; by?: 'checker' }
  | { kind: 'event'; event: string; data?: unknown }
  | { kind: 'guest-write'; disk: string; offset: number; length: number; pattern: number; error?: string }
  | { kind: 'read'; export: string; offset: number; length: number; error?: string }
  | { kind: 'api'; call: string; params: unknown; result?: unknown; error?: string }
  | { kind: 'note'; text: string };

/** The domain a proposal runs in: a VM (qemu-system, a virtio-blk device per disk) or a qemu-storage-daemon. */
export type DomainKind = 'vm' | 'qsd';

/** One guest disk: the node the domain starts it on, and (VM) the qdev id of its virtio-blk device. */
export interface DomainDisk {
  name: string;
  node: string;
  size: number;
  device?: string;
  /** the image format the domain starts the disk on (raw unless said): persistent bitmaps need qcow2 */
  format?: 'raw' | 'qcow2';
}

/** A dirty range a `qemu:dirty-bitmap:NAME` context reports (merged, absolute offsets). */
export interface DirtyRange {
  offset: number;
  length: number;
}

/** A persistent bitmap of a qcow2 image, as `qemu-img info` lists it (flags 'in-use', 'auto'). */
export interface ImageBitmap {
  name: string;
  granularity: number;
  flags: string[];
}

/**
 * The domain a run happens in. vm: qemu-system-x86_64 -M q35 with `-blockdev` + `-device virtio-blk-pci` per
 * disk, started paused (-S) as libvirt does; the guest writes through the device's own BlockBackend. qsd:
 * qemu-storage-daemon, whose "guest" is an NBD client of a writable export of each disk.
 */
export interface DomainSpec {
  kind: DomainKind;
  disks: DomainDisk[];
}

export interface Port {
  readonly label: string;
  readonly profile: string;
  readonly domain: DomainSpec;
  features: ReadonlySet<Feature>;
  /** QMP command; throws QmpCallError with QEMU's class and text */
  qmp(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** take the events that arrived since the last command into the trace (no waiting) */
  flushEvents(): void;
  /** wait (bounded) until an event matching `pred` arrives; returns it */
  waitEvent(
    pred: (e: { event: string; data?: Record<string, unknown> }) => boolean,
    what: string,
  ): Promise<{ event: string; data?: Record<string, unknown> }>;
  /** the guest writes `pattern` bytes to its disk (vm: through its device; qsd: through the disk's guest export) */
  guestWrite(disk: string, offset: number, length: number, pattern: number): Promise<void>;
  /** what the guest reads of its disk now (vm: through its device) */
  guestRead(disk: string, offset: number, length: number): Promise<Uint8Array>;
  /** an NBD client reads an export */
  readExport(name: string, offset: number, length: number): Promise<Uint8Array>;
  /** an NBD client reads the dirty ranges of an export's meta context (`qemu:dirty-bitmap:NAME`) */
  readDirtyMap(name: string, context: string): Promise<DirtyRange[]>;
  /**
   * vm: QEMU quits (`quit`: every image closes, qcow2 stores its persistent bitmaps) and starts again, paused,
   * on the same images; `crash: true` kills it with SIGKILL instead (nothing is stored). Scratch images go.
   */
  restart(opts: { crash: boolean }): Promise<void>;
  /** the persistent bitmaps in a disk's image, read from the image itself (qemu-img info -U) */
  imageBitmaps(disk: string): Promise<ImageBitmap[]>;
  /** let time pass with nobody calling (simulated time on the simulator) */
  pass(ms: number): Promise<void>;
  /** a fresh scratch image the tool owns (qcow2 or raw); returns its path */
  createImage(name: string, format: 'qcow2' | 'raw', size: number): Promise<string>;
  /** a path in the tool's scratch folder (sockets) */
  scratchPath(name: string): string;
  /** scratch images that still exist */
  scratchFiles(): Promise<string[]>;
  /** bytes a scratch image takes on its host now (what fleecing costs in scratch space) */
  imageBytes(path: string): Promise<number>;
  removeImage(path: string): Promise<void>;
  readonly trace: TraceEntry[];
  close(): Promise<void>;
}

/** Makes a fresh QEMU with a domain's disks (and devices) for one run. */
export type PortFactory = (seed: number, domain: DomainSpec) => Promise<Port>;
