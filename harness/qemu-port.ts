import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DirtyRange,
  type DomainDisk,
  type DomainSpec,
  type ImageBitmap,
  type Port,
  QmpCallError,
  type TraceEntry,
} from '../contract/port.ts';
import { type Feature, type Profile, versionInfo } from '../contract/versions.ts';
import { dirtyRanges } from './clients/dirty-map.ts';
import { NbdClient } from './clients/nbd-client.ts';
import type { QmpClient } from './clients/qmp-client.ts';
import { registerCleanup } from './targets/cleanup-registry.ts';
import { guestIoOutcome, hmpQemuIo } from './targets/hmp-qemu-io.ts';
import { type QemuProcess, startQsd, startSystem } from './targets/qemu-process.ts';

/**
 * A Port over a real QEMU (or anything started like one, e.g. `fleece-lab serve`). A VM domain is
 * qemu-system-x86_64 -M q35, started paused with a `-blockdev` and a `-device virtio-blk-pci` per disk, the
 * guest's I/O through HMP qemu-io on the device; a qsd domain is qemu-storage-daemon with the guest an NBD
 * client of each disk's writable export. Readers use NBD; scratch images are made with qemu-img.
 */
const EVENT_WAIT_MS = 20_000;

export interface QemuPortOptions {
  profile: Profile;
  domain: DomainSpec;
  /** the program's argv prefix: qemu-storage-daemon for a qsd domain, qemu-system-x86_64 for a VM */
  argvPrefix?: string[];
  env?: NodeJS.ProcessEnv;
  qemuImg?: string[];
  label?: string;
}

export class QemuPort implements Port {
  readonly trace: TraceEntry[] = [];
  readonly features: ReadonlySet<Feature>;
  private readonly guests = new Map<string, NbdClient>();
  private readonly images = new Set<string>();
  private listener: ReturnType<QmpClient['events']['listen']>;

  private constructor(
    private q: QemuProcess,
    private readonly o: QemuPortOptions,
    /** the VM's own disk images (made before it started), removed with it */
    private readonly diskDir?: { dir: string; unregister: () => void },
  ) {
    this.features = versionInfo(o.profile).features;
    this.listener = q.qmp.events.listen();
  }

  static async start(o: QemuPortOptions): Promise<QemuPort> {
    if (o.domain.kind === 'qsd')
      return new QemuPort(await startQsd({ argvPrefix: o.argvPrefix, env: o.env }), o);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-vm-'));
    const unregister = registerCleanup({ pids: () => [], scratch: dir });
    try {
      for (const d of o.domain.disks) {
        const format = d.format ?? 'raw';
        qemuImg(o, ['create', '-q', '-f', format, diskFile(dir, d), String(d.size)]);
      }
      return new QemuPort(await startVm(o, dir), o, { dir, unregister });
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      unregister();
      throw e;
    }
  }

  async restart(opts: { crash: boolean }): Promise<void> {
    if (!this.diskDir) throw new Error(`${this.label}: only a VM domain restarts`);
    for (const c of this.guests.values()) await c.disconnect().catch(() => {});
    this.guests.clear();
    this.flushEvents();
    this.listener.close();
    // quit: QEMU closes every image (qcow2 stores its bitmaps); crash: SIGKILL, nothing is written back.
    // The guest flushed its disks first: what a guest did not flush may be lost, which is not the question
    if (opts.crash) {
      for (const d of this.o.domain.disks)
        if (d.device) await hmpQemuIo(this.q, { qdev: `${d.device}/virtio-backend` }, 'flush');
      await this.q.crash();
    } else await this.q.stop();
    this.trace.push({ kind: 'note', text: opts.crash ? 'QEMU killed (SIGKILL)' : 'QEMU quit' });
    this.images.clear();
    this.seen.length = 0;
    this.q = await startVm(this.o, this.diskDir.dir);
    this.listener = this.q.qmp.events.listen();
    this.trace.push({ kind: 'note', text: 'QEMU started again on the same images' });
  }

  async imageBitmaps(disk: string): Promise<ImageBitmap[]> {
    const d = this.o.domain.disks.find((x) => x.name === disk);
    if (!d || !this.diskDir || d.format !== 'qcow2') return [];
    // -U: the image is open in the running QEMU
    const out = execFileSync(
      (this.o.qemuImg ?? ['qemu-img'])[0],
      [
        ...(this.o.qemuImg ?? ['qemu-img']).slice(1),
        'info',
        '-U',
        '--output=json',
        diskFile(this.diskDir.dir, d),
      ],
      { env: this.o.env, stdio: 'pipe', timeout: 30_000, killSignal: 'SIGKILL' },
    ).toString();
    const info = JSON.parse(out) as { 'format-specific'?: { data?: { bitmaps?: ImageBitmap[] } } };
    return info['format-specific']?.data?.bitmaps ?? [];
  }

  async readDirtyMap(name: string, context: string): Promise<DirtyRange[]> {
    const entry: TraceEntry = { kind: 'read', export: name, offset: 0, length: 0 };
    this.trace.push(entry);
    let c: NbdClient | undefined;
    try {
      c = await NbdClient.connect({ path: this.sock() }, { exportName: name, metaContexts: [context] });
      entry.length = c.size;
      return await dirtyRanges(c, context);
    } catch (e) {
      entry.error = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      await c?.disconnect().catch(() => {});
    }
  }

  get label(): string {
    return this.o.label ?? `${this.o.domain.kind === 'vm' ? 'system' : 'qsd'}:${this.o.profile}`;
  }

  get profile(): string {
    return this.o.profile;
  }

  get domain(): DomainSpec {
    return this.o.domain;
  }

  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const r = (await this.q.qmp.executeRaw(command, args)) as Record<string, unknown>;
    const { id: _id, ...reply } = r;
    this.trace.push({ kind: 'qmp', command, args, reply });
    this.flushEvents();
    const err = reply.error as { class: string; desc: string } | undefined;
    if (err) throw new QmpCallError(command, err.class, err.desc);
    return reply.return;
  }

  flushEvents(): void {
    for (const e of this.listener.drain()) this.trace.push({ kind: 'event', event: e.event, data: e.data });
  }

  private readonly seen: { event: string; data?: Record<string, unknown> }[] = [];

  async waitEvent(pred: (e: { event: string; data?: Record<string, unknown> }) => boolean, what: string) {
    // events already taken into the trace are searched first
    for (const t of this.trace) {
      if (t.kind === 'event' && !this.seen.includes(t as never) && pred(t as never)) {
        this.seen.push(t as never);
        return t as { event: string; data?: Record<string, unknown> };
      }
    }
    // every event that arrives while waiting goes into the trace, the ones passed over too
    const deadline = Date.now() + EVENT_WAIT_MS;
    const passed: string[] = [];
    for (;;) {
      let e: Awaited<ReturnType<typeof this.listener.next>>;
      try {
        e = await this.listener.next({ timeoutMs: Math.max(0, deadline - Date.now()) });
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`${what}: ${why}; passed over: ${passed.join(', ') || 'no other events'}`);
      }
      const entry = {
        kind: 'event' as const,
        event: e.event,
        data: e.data as Record<string, unknown> | undefined,
      };
      this.trace.push(entry);
      if (pred(entry)) {
        this.seen.push(entry as never);
        return entry;
      }
      passed.push(e.event);
    }
  }

  private sock(): string {
    return this.scratchPath('nbd.sock');
  }

  private device(disk: string): string {
    const d = this.o.domain.disks.find((x) => x.name === disk);
    if (!d?.device) throw new Error(`no guest device for disk '${disk}' in this domain`);
    return d.device;
  }

  async guestWrite(disk: string, offset: number, length: number, pattern: number): Promise<void> {
    const entry: TraceEntry = { kind: 'guest-write', disk, offset, length, pattern };
    this.trace.push(entry);
    try {
      if (this.o.domain.kind === 'vm') {
        const hex = `0x${pattern.toString(16)}`;
        const r = await hmpQemuIo(
          this.q,
          { qdev: `${this.device(disk)}/virtio-backend` },
          `write -P ${hex} ${offset} ${length}`,
        );
        const failed = guestIoOutcome(r.hmp, r.stdout);
        if (failed) throw new Error(failed);
        return;
      }
      let c = this.guests.get(disk);
      if (!c) {
        c = await NbdClient.connect({ path: this.sock() }, { exportName: `guest-${disk}` });
        this.guests.set(disk, c);
      }
      await c.write(offset, new Uint8Array(length).fill(pattern));
    } catch (e) {
      entry.error = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  async guestRead(disk: string, offset: number, length: number): Promise<Uint8Array> {
    if (this.o.domain.kind === 'qsd') {
      const c = await NbdClient.connect({ path: this.sock() }, { exportName: `guest-${disk}` });
      try {
        return new Uint8Array(await c.read(offset, length));
      } finally {
        await c.disconnect().catch(() => {});
      }
    }
    // qemu-io's hex dump of what the device reads (read -v), on QEMU's stdout
    const r = await hmpQemuIo(
      this.q,
      { qdev: `${this.device(disk)}/virtio-backend` },
      `read -v ${offset} ${length}`,
    );
    const failed = guestIoOutcome(r.hmp, r.stdout);
    if (failed) throw new Error(failed);
    return parseHexDump(r.stdout, offset, length);
  }

  async readExport(name: string, offset: number, length: number): Promise<Uint8Array> {
    const entry: TraceEntry = { kind: 'read', export: name, offset, length };
    this.trace.push(entry);
    let c: NbdClient | undefined;
    try {
      c = await NbdClient.connect({ path: this.sock() }, { exportName: name });
      return new Uint8Array(await c.read(offset, length));
    } catch (e) {
      entry.error = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      // a reader that stays connected would keep a safe block-export-del from succeeding
      await c?.disconnect().catch(() => {});
    }
  }

  async pass(ms: number): Promise<void> {
    await sleep(ms);
  }

  /** a VM's disks and what its run creates share one folder, so that one mask hides it (contract/noise.ts) */
  scratchPath(name: string): string {
    return path.join(this.diskDir?.dir ?? this.q.scratch, name);
  }

  async createImage(name: string, format: 'qcow2' | 'raw', size: number): Promise<string> {
    const p = this.scratchPath(`${name}.${format}`);
    qemuImg(this.o, ['create', '-q', '-f', format, p, String(size)]);
    this.images.add(p);
    return p;
  }

  async scratchFiles(): Promise<string[]> {
    return [...this.images].filter((p) => fs.existsSync(p));
  }

  async imageBytes(p: string): Promise<number> {
    try {
      return fs.statSync(p).blocks * 512;
    } catch {
      return 0;
    }
  }

  async removeImage(p: string): Promise<void> {
    this.images.delete(p);
    fs.rmSync(p, { force: true });
  }

  async close(): Promise<void> {
    for (const c of this.guests.values()) await c.disconnect().catch(() => {});
    this.listener.close();
    await this.q.stop();
    if (this.diskDir) {
      fs.rmSync(this.diskDir.dir, { recursive: true, force: true });
      this.diskDir.unregister();
    }
  }
}

function diskFile(dir: string, d: DomainDisk): string {
  return path.join(dir, `${d.node}.${d.format ?? 'raw'}`);
}

/** qemu-system-x86_64 -M q35, paused, with a `-blockdev` (format over file) and a virtio-blk device per disk. */
async function startVm(o: QemuPortOptions, dir: string): Promise<QemuProcess> {
  const args: string[] = [];
  for (const d of o.domain.disks) {
    const blockdev = {
      driver: d.format ?? 'raw',
      'node-name': d.node,
      file: { driver: 'file', 'node-name': `${d.node}-file`, filename: diskFile(dir, d) },
    };
    args.push(
      '-blockdev',
      JSON.stringify(blockdev),
      '-device',
      // SeaBIOS turns a virtio disk's write cache off when it sets the disk up, at a moment that depends
      // on the host's speed: off from the start, every query-block says the same
      `virtio-blk-pci,drive=${d.node},id=${d.device},write-cache=off`,
    );
  }
  return startSystem({ argvPrefix: o.argvPrefix, env: o.env, machine: 'q35', paused: true, extraArgs: args });
}

/**
 * qemu-img, bounded. A refusal throws `qemu-img ARG0: ` and what qemu-img printed (not the command line: the
 * binary's path differs between installations, what qemu-img says does not), as SimPort.createImage does.
 */
function qemuImg(o: QemuPortOptions, args: string[]): void {
  const img = o.qemuImg ?? ['qemu-img'];
  try {
    execFileSync(img[0], [...img.slice(1), ...args], {
      env: o.env,
      stdio: 'pipe',
      // bounded like every other wait: a hung qemu-img is killed and the call throws (ETIMEDOUT)
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer | string }).stderr ?? '').trim();
    throw new Error(`qemu-img ${args[0]}: ${stderr || (e instanceof Error ? e.message : String(e))}`);
  }
}

/** qemu-io's `read -v` lines ("00000000:  11 11 … 11  ................") back into bytes. */
export function parseHexDump(text: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let got = 0;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{8,}):\s{2}((?:[0-9a-f]{2} )+)/.exec(line);
    if (!m) continue;
    const at = Number.parseInt(m[1], 16) - offset;
    const bytes = m[2].trim().split(' ');
    for (let i = 0; i < bytes.length && at + i < length; i++) out[at + i] = Number.parseInt(bytes[i], 16);
    got += bytes.length;
  }
  if (got < length) throw new Error(`qemu-io read -v printed ${got} of ${length} bytes`);
  return out;
}
