import type { BlockBackend } from './graph.ts';

/** The NBD server and its exports as QMP sees them; the socket server (sim/serve) reads this state. */
export interface NbdServerState {
  addr: { type: string; data: Record<string, unknown> };
  maxConnections: number;
  tlsCreds?: string;
}

export interface BlockExport {
  id: string;
  type: 'nbd';
  nodeName: string;
  name: string;
  description?: string;
  writable: boolean;
  /** dirty bitmaps exported as qemu:dirty-bitmap:NAME contexts */
  bitmaps: { node: string; name: string }[];
  allocationDepth: boolean;
  blk: BlockBackend;
  /** added with nbd-server-add (the legacy command): removed by nbd-server-remove too */
  legacy: boolean;
  shuttingDown: boolean;
  /** NBD clients connected now (a safe block-export-del refuses while there are any) */
  clients: number;
}
