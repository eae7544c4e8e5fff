import { z } from 'zod';
import { FEATURES, type Profile, profileSchema } from '../contract/versions.ts';
import { BlockBackend } from './block/graph.ts';
import { PERM } from './block/perm.ts';
import { type Flavour, SimCore } from './core/core.ts';
import { blockdevAdd } from './drivers/open-node.ts';
import { MemoryFs, RealFs, type SimFs } from './host/fs.ts';
import { Monitor, type QmpReply } from './monitor/dispatch.ts';
import type { SimEvent } from './util/events.ts';
import { type Faults, faultsSchema } from './util/faults.ts';
import './host/qcow2-backend.ts';
import { chainStatus } from './block/block-status.ts';
import { closeAllExports } from './commands/exports.ts';

export const simOptionsSchema = z
  .object({
    profile: profileSchema.default('7.2'),
    seed: z.number().int().default(1),
    /** which binary to be: qemu-storage-daemon (no devices, no HMP) or qemu-system-x86_64 */
    flavour: z.enum(['qsd', 'system']).default('system'),
    /** real: files on the host (relative to cwd); memory: a private in-memory filesystem */
    fs: z.enum(['real', 'memory']).default('memory'),
    cwd: z.string().optional(),
    faults: faultsSchema.partial().default({}),
    /** qemu-system -M: the machine (guest disks need a PCI one); default q35 with devices, none without */
    machine: z.enum(['none', 'q35', 'pc']).optional(),
    /** guest disks of qemu-system: -blockdev NODE... -device virtio-blk-pci,drive=NODE,id=ID */
    devices: z.array(z.object({ id: z.string(), blockdev: z.record(z.unknown()) })).default([]),
    /** qemu-system's -S: start in prelaunch, the guest's CPUs stopped until `cont` */
    paused: z.boolean().default(false),
    /** features of the version table switched the other way (a known bug put in, or its fix): see withSwitched */
    switched: z.array(z.enum(FEATURES)).default([]),
  })
  .strict();
export type SimOptions = z.input<typeof simOptionsSchema>;

/**
 * The simulated QEMU, in process. `execute` answers as QEMU would (never throws), events go to
 * subscribers, and time moves only with `advance`/`runUntilIdle` — everything follows from the seed.
 */
export class Sim {
  readonly core: SimCore;
  private readonly monitor: Monitor;

  /** `fs`: the files of a QEMU that ran before (a restart, or a start after a crash, on the same images) */
  constructor(opts: SimOptions = {}, fs?: SimFs) {
    const o = simOptionsSchema.parse(opts);
    fs ??= o.fs === 'real' ? new RealFs(o.cwd) : new MemoryFs();
    const faults: Faults = faultsSchema.parse(o.faults);
    this.core = new SimCore(
      o.profile as Profile,
      o.flavour as Flavour,
      fs,
      faults,
      o.seed,
      undefined,
      o.switched,
    );
    this.monitor = new Monitor(this.core);
    this.monitor.negotiated = true;
    if (o.paused) this.core.runState = 'prelaunch';
    // the runners start a q35 machine for guest disks, 'none' otherwise
    this.core.machine = o.machine ?? (o.devices.length > 0 ? 'q35' : 'none');
    for (const d of o.devices) this.coldplug(d.id, d.blockdev);
  }

  /** A new monitor connection (not negotiated), for wire servers and tests of negotiation. */
  connect(): Monitor {
    return new Monitor(this.core);
  }

  execute(command: string, args?: Record<string, unknown>): QmpReply {
    const req: Record<string, unknown> = { execute: command };
    if (args !== undefined) req.arguments = args;
    return this.monitor.dispatch(req);
  }

  /** Like execute, but returns the value or throws an Error carrying QEMU's class and text. */
  run(command: string, args?: Record<string, unknown>): unknown {
    const r = this.execute(command, args);
    if ('error' in r) throw new Error(`${command}: ${r.error.class}: ${r.error.desc}`);
    return r.return;
  }

  onEvent(fn: (e: SimEvent) => void): () => void {
    return this.core.events.subscribe(fn);
  }

  get events(): SimEvent[] {
    return this.core.events.log;
  }

  /** Move simulated time forward by `ms`, running what falls due. */
  advance(ms: number): void {
    this.core.clock.advance(Math.round(ms * 1e6));
  }

  /** `quit`: every node closes (qcow2 stores its persistent bitmaps), as QEMU does on its way out. */
  quit(): void {
    closeAllExports(this.core);
    this.core.graph.closeAll();
  }

  /** kill -9: nothing is closed properly; files are let go of as they are (qcow2 bitmaps stay IN_USE). */
  crash(): void {
    for (const n of this.core.graph.nodes.values()) {
      const d = n.driver as { abandon?: () => void; close(node: typeof n): void };
      if (d.abandon) d.abandon();
      else d.close(n);
    }
  }

  runUntilIdle(maxMs = 3_600_000): void {
    this.core.clock.runUntilIdle(maxMs * 1e6);
  }

  /** What a device's guest (or an NBD client of an export) reads: bytes through the block graph. */
  readExport(name: string, offset: number, length: number): Uint8Array {
    const exp = [...this.core.exports.values()].find((e) => e.name === name);
    if (!exp?.blk.bs) throw new Error(`no export named '${name}'`);
    // what an NBD reader gets (nbd_co_send_sparse_read): block status first, then each answer's range read
    // on its own, zeroes where status says zero — a read split there can differ from one whole read
    const bs = exp.blk.bs;
    const status = chainStatus(bs, offset, length);
    // one data extent over the whole range: that one read is the answer (a read is a buffer of its own)
    if (status.length === 1 && !status[0].zero && status[0].offset === offset && status[0].length === length)
      return bs.read(offset, length);
    const out = new Uint8Array(length);
    for (const e of status) {
      if (e.zero) continue;
      out.set(bs.read(e.offset, e.length), e.offset - offset);
    }
    return out;
  }

  writeExport(name: string, offset: number, data: Uint8Array): void {
    const exp = [...this.core.exports.values()].find((e) => e.name === name);
    if (!exp?.blk.bs) throw new Error(`no export named '${name}'`);
    if (!exp.writable) throw new Error(`export '${name}' is read-only`);
    exp.blk.bs.write(offset, data);
  }

  /** qemu-system's -blockdev + -device virtio-blk-pci,drive=...,id=ID, as the command line makes them */
  coldplug(id: string, blockdev: Record<string, unknown>, o: { writeCache?: boolean } = {}): void {
    blockdevAdd(this.core, blockdev);
    this.attachGuestDisk(id, blockdev['node-name'] as string, o);
  }

  /**
   * A virtio-blk-pci's BlockBackend on an existing node (the device realized): its permissions are
   * checked as the device's realize checks them; on a conflict nothing stays attached and QEMU's error
   * is thrown (a QmpError).
   */
  attachGuestDisk(id: string, nodeName: string, o: { shareRw?: boolean; writeCache?: boolean } = {}): void {
    const node = this.core.graph.find(nodeName);
    if (!node) throw new Error(`no node '${nodeName}'`);
    const qomPath = `/machine/peripheral/${id}`;
    const blk = new BlockBackend(
      undefined,
      `block device '${qomPath}/virtio-backend'`,
      PERM.CONSISTENT_READ | PERM.WRITE,
      // blkconf_apply_backend_options: a resizable device without share-rw unshares write
      PERM.CONSISTENT_READ | PERM.WRITE_UNCHANGED | PERM.RESIZE | (o.shareRw ? PERM.WRITE : 0),
    );
    this.core.graph.attach({ kind: 'blk', blk }, node, 'root', 'other');
    this.core.addBlk(blk);
    try {
      this.core.refreshPerms();
    } catch (e) {
      this.core.removeBlk(blk);
      this.core.refreshPerms();
      throw e;
    }
    // blkconf_apply_backend_options: write-cache=on/off sets the BlockBackend's cache; auto keeps the cache mode's
    this.core.devices.set(id, {
      id,
      qomPath,
      blk,
      ...(o.writeCache !== undefined ? { writeCache: o.writeCache } : {}),
    });
  }
}

export function createSim(opts: SimOptions = {}, fs?: SimFs): Sim {
  return new Sim(opts, fs);
}
