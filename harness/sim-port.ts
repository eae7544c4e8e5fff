import {
  type DirtyRange,
  type DomainSpec,
  type ImageBitmap,
  type Port,
  QmpCallError,
  type TraceEntry,
} from '../contract/port.ts';
import type { Feature, Profile } from '../contract/versions.ts';
import { FileDriver } from '../sim/drivers/file.ts';
import { MemoryFs, type SimFs } from '../sim/host/fs.ts';
import { createSim, type Sim } from '../sim/sim.ts';
import type { Faults } from '../sim/util/faults.ts';
import { IoError } from '../sim/util/io-error.ts';
import { guestIoOutcome, qemuIoCommand } from './targets/hmp-qemu-io.ts';

/**
 * A Port over the in-process simulator: files live in its private memory filesystem, time moves only when
 * the checker waits, and everything is logged to the trace. A VM domain is the simulator's qemu-system
 * flavour with the disks and devices on its command line; a qsd domain is its qemu-storage-daemon flavour.
 */
const WAIT_BOUND_MS = 600_000;

/**
 * A client's round trip between two of its requests (10 µs, far less than a real one): QEMU's main loop
 * runs what a command woke (a cancelled mirror leaving READY, say) before the next request arrives, so
 * the simulator lets that much time pass before each request too.
 */
const ROUND_TRIP_NS = 10_000;

export class SimPort implements Port {
  sim: Sim;
  readonly trace: TraceEntry[] = [];
  readonly features: ReadonlySet<Feature>;
  private eventCursor = 0;
  private pendingEvents: TraceEntry[] | undefined;
  private readonly images = new Set<string>();

  constructor(
    readonly profile: Profile,
    readonly seed: number,
    readonly domain: DomainSpec,
    private readonly faults: Partial<Faults> = {},
  ) {
    this.sim = this.boot();
    this.features = this.sim.core.version.features;
  }

  /**
   * A QEMU of the domain: a VM is the simulator's qemu-system flavour with the disks and devices on its
   * command line; `fs` is the files of the QEMU that ran before (a restart on the same images).
   */
  private boot(fs?: SimFs): Sim {
    const vm = this.domain.kind === 'vm';
    const sim = createSim(
      {
        profile: this.profile,
        seed: this.seed,
        flavour: vm ? 'system' : 'qsd',
        fs: 'memory',
        faults: this.faults,
        ...(vm ? { paused: true, machine: 'q35' as const } : {}),
      },
      fs,
    );
    if (vm) {
      // the command line: -blockdev FORMAT over a file per disk, -device virtio-blk-pci,write-cache=off on
      // each (the firmware turns a virtio disk's write cache off at a moment that depends on the host's
      // speed: off from the start, query-block says the same at every step, as on real QEMU)
      for (const d of this.domain.disks) {
        const format = d.format ?? 'raw';
        const file = this.imagePath(d.node, format);
        if (!fs) {
          if (format === 'qcow2') sim.core.fs.createQcow2(file, { size: d.size, clusterSize: 65536 });
          else sim.core.fs.createRaw(file, d.size);
        }
        sim.coldplug(
          d.device!,
          {
            driver: format,
            'node-name': d.node,
            file: { driver: 'file', 'node-name': `${d.node}-file`, filename: file },
          },
          { writeCache: false },
        );
      }
    }
    sim.onEvent((e) => {
      const entry: TraceEntry = { kind: 'event', event: e.event, data: e.data };
      // events a command causes are listed after the command, as a QMP client would log them
      if (this.pendingEvents) this.pendingEvents.push(entry);
      else this.trace.push(entry);
    });
    return sim;
  }

  async restart(opts: { crash: boolean }): Promise<void> {
    if (this.domain.kind !== 'vm') throw new Error(`${this.label}: only a VM domain restarts`);
    const fs = this.sim.core.fs;
    // a clean quit closes every image (qcow2 stores its bitmaps); SIGKILL leaves the files as they are
    if (!opts.crash) this.sim.quit();
    this.trace.push({ kind: 'note', text: opts.crash ? 'QEMU killed (SIGKILL)' : 'QEMU quit' });
    for (const p of this.images) if (fs instanceof MemoryFs) fs.files.delete(p);
    this.images.clear();
    this.eventCursor = 0;
    this.sim = this.boot(fs);
    this.trace.push({ kind: 'note', text: 'QEMU started again on the same images' });
  }

  async imageBitmaps(disk: string): Promise<ImageBitmap[]> {
    const d = this.domain.disks.find((x) => x.name === disk);
    const fs = this.sim.core.fs;
    if (!d || !(fs instanceof MemoryFs)) return [];
    return fs.imageBitmaps(this.imagePath(d.node, d.format ?? 'raw'));
  }

  async readDirtyMap(name: string, context: string): Promise<DirtyRange[]> {
    this.roundTrip();
    const exp = [...this.sim.core.exports.values()].find((e) => e.name === name);
    const entry: TraceEntry = { kind: 'read', export: name, offset: 0, length: exp?.blk.bs?.size ?? 0 };
    this.trace.push(entry);
    const bitmap = context.startsWith('qemu:dirty-bitmap:')
      ? exp?.bitmaps.find((b) => b.name === context.slice('qemu:dirty-bitmap:'.length))
      : undefined;
    if (!exp?.blk.bs || !bitmap) {
      entry.error = `no meta context ${context} on export '${name}'`;
      throw new Error(entry.error);
    }
    const b = this.sim.core.graph.find(bitmap.node)?.bitmaps.get(bitmap.name);
    const out: DirtyRange[] = [];
    for (const g of [...(b?.dirty ?? [])].sort((x, y) => x - y)) {
      const offset = g * b!.granularity;
      const length = Math.min(b!.granularity, exp.blk.bs.size - offset);
      const last = out.at(-1);
      if (last && last.offset + last.length === offset) last.length += length;
      else out.push({ offset, length });
    }
    return out;
  }

  get label(): string {
    return `sim:${this.profile}`;
  }

  private roundTrip(): void {
    this.sim.core.clock.advance(ROUND_TRIP_NS);
  }

  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.roundTrip();
    this.pendingEvents = [];
    const r = this.sim.execute(command, args);
    this.trace.push({ kind: 'qmp', command, args, reply: r }, ...this.pendingEvents);
    this.pendingEvents = undefined;
    if ('error' in r) throw new QmpCallError(command, r.error.class, r.error.desc);
    return r.return;
  }

  flushEvents(): void {
    // the simulator's events reach the trace as they happen
  }

  async waitEvent(pred: (e: { event: string; data?: Record<string, unknown> }) => boolean, what: string) {
    const log = this.sim.events;
    for (let waited = 0; waited <= WAIT_BOUND_MS; waited += 1) {
      for (; this.eventCursor < log.length; this.eventCursor++) {
        const e = log[this.eventCursor];
        if (pred(e)) {
          this.eventCursor++;
          return e;
        }
      }
      this.sim.advance(1);
    }
    throw new Error(`${this.label}: no ${what} within ${WAIT_BOUND_MS} ms of simulated time`);
  }

  private device(disk: string): string {
    const d = this.domain.disks.find((x) => x.name === disk);
    if (!d) throw new Error(`no disk '${disk}' in this domain`);
    return d.device ?? d.name;
  }

  async guestWrite(disk: string, offset: number, length: number, pattern: number): Promise<void> {
    this.roundTrip();
    const entry: TraceEntry = { kind: 'guest-write', disk, offset, length, pattern };
    this.trace.push(entry);
    try {
      if (this.domain.kind === 'vm') {
        // the guest's write goes through its device's own BlockBackend, as HMP qemu-io -d does it
        const before = this.sim.core.stdout.length;
        const r = this.sim.execute('human-monitor-command', {
          'command-line': qemuIoCommand(
            { qdev: `${this.device(disk)}/virtio-backend` },
            `write -P ${pattern} ${offset} ${length}`,
          ),
        });
        const hmp = 'return' in r ? String(r.return) : r.error.desc;
        const out = guestIoOutcome(hmp, this.sim.core.stdout.slice(before).join(''));
        if (out) throw new Error(out);
      } else {
        this.sim.writeExport(`guest-${disk}`, offset, new Uint8Array(length).fill(pattern));
      }
    } catch (e) {
      entry.error = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  async guestRead(disk: string, offset: number, length: number): Promise<Uint8Array> {
    if (this.domain.kind === 'qsd') return this.sim.readExport(`guest-${disk}`, offset, length);
    const dev = this.sim.core.devices.get(this.device(disk));
    const bs = dev?.blk.bs;
    if (!bs) throw new Error(`device ${this.device(disk)} has no medium`);
    return bs.read(offset, length);
  }

  async readExport(name: string, offset: number, length: number): Promise<Uint8Array> {
    this.roundTrip();
    const entry: TraceEntry = { kind: 'read', export: name, offset, length };
    this.trace.push(entry);
    try {
      return this.sim.readExport(name, offset, length);
    } catch (e) {
      entry.error =
        e instanceof IoError ? `errno ${e.errno} (${e.message})` : e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  async pass(ms: number): Promise<void> {
    this.sim.advance(ms);
  }

  private imagePath(name: string, format: 'qcow2' | 'raw'): string {
    return `/scratch/${name}.${format}`;
  }

  async createImage(name: string, format: 'qcow2' | 'raw', size: number): Promise<string> {
    const p = this.imagePath(name, format);
    // qemu-img create cannot take the write lock of an image QEMU has open (file-posix's locks)
    const open = [...this.sim.core.graph.nodes.values()].some(
      (n) => n.driver instanceof FileDriver && n.driver.filename === p,
    );
    if (open)
      throw new Error(
        `qemu-img create: qemu-img: ${p}: Failed to get "write" lock\nIs another process using the image [${p}]?`,
      );
    if (format === 'qcow2') this.sim.core.fs.createQcow2(p, { size, clusterSize: 65536 });
    else this.sim.core.fs.createRaw(p, size);
    this.images.add(p);
    return p;
  }

  scratchPath(name: string): string {
    return `/scratch/${name}`;
  }

  async scratchFiles(): Promise<string[]> {
    return [...this.images];
  }

  async imageBytes(path: string): Promise<number> {
    return this.sim.core.fs.actualSize(path);
  }

  async removeImage(path: string): Promise<void> {
    this.images.delete(path);
    const fs = this.sim.core.fs;
    if (fs instanceof MemoryFs) fs.files.delete(path);
  }

  async close(): Promise<void> {}
}
