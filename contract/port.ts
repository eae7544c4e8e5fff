import type { Feature } from './versions.ts';

/**
 * What a proposal's lowering and the checker see of a QEMU: QMP, guest I/O, export reads, scratch images.
 * Implemented in process over the simulator (model/sim-port.ts) and over a real QEMU (conformance).
 * Every call is logged to the trace.
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
  | { kind: 'qmp'; command: string; args?: Record<string, unknown>; reply: unknown }
  | { kind: 'event'; event: string; data?: unknown }
  | { kind: 'guest-write'; disk: string; offset: number; length: number; pattern: number; error?: string }
  | { kind: 'read'; export: string; offset: number; length: number; error?: string }
  | { kind: 'api'; call: string; params: unknown; result?: unknown; error?: string }
  | { kind: 'note'; text: string };

export interface Port {
  readonly label: string;
  readonly profile: string;
  features: ReadonlySet<Feature>;
  /** QMP command; throws QmpCallError with QEMU's class and text */
  qmp(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** wait (bounded) until an event matching `pred` arrives; returns it */
  waitEvent(
    pred: (e: { event: string; data?: Record<string, unknown> }) => boolean,
    what: string,
  ): Promise<{ event: string; data?: Record<string, unknown> }>;
  /** the guest writes `pattern` bytes to its disk (through the disk's guest export) */
  guestWrite(disk: string, offset: number, length: number, pattern: number): Promise<void>;
  /** an NBD client reads an export */
  readExport(name: string, offset: number, length: number): Promise<Uint8Array>;
  /** a fresh scratch image the tool owns (qcow2 or raw); returns its path */
  createImage(name: string, format: 'qcow2' | 'raw', size: number): Promise<string>;
  /** a path in the tool's scratch folder (sockets) */
  scratchPath(name: string): string;
  /** scratch images that still exist */
  scratchFiles(): Promise<string[]>;
  removeImage(path: string): Promise<void>;
  readonly trace: TraceEntry[];
  close(): Promise<void>;
}
