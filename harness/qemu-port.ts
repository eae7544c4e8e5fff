import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Port, QmpCallError, type TraceEntry } from '../contract/port.ts';
import { type Feature, type Profile, versionInfo } from '../contract/versions.ts';
import { NbdClient } from './clients/nbd-client.ts';
import type { QmpClient } from './clients/qmp-client.ts';
import { type QemuProcess, startQsd } from './targets/qemu-process.ts';

/**
 * A Port over a real qemu-storage-daemon (or anything started like one, e.g. `fleece-lab serve`): QMP over
 * its monitor, the guest and the readers over NBD, scratch images made with qemu-img in its scratch folder.
 */
const EVENT_WAIT_MS = 20_000;

export interface QemuPortOptions {
  profile: Profile;
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
  private readonly listener: ReturnType<QmpClient['events']['listen']>;

  private constructor(
    private readonly q: QemuProcess,
    private readonly o: QemuPortOptions,
  ) {
    this.features = versionInfo(o.profile).features;
    this.listener = q.qmp.events.listen();
  }

  static async start(o: QemuPortOptions): Promise<QemuPort> {
    const q = await startQsd({ argvPrefix: o.argvPrefix, env: o.env });
    return new QemuPort(q, o);
  }

  get label(): string {
    return this.o.label ?? `qsd:${this.o.profile}`;
  }

  get profile(): string {
    return this.o.profile;
  }

  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const r = (await this.q.qmp.executeRaw(command, args)) as Record<string, unknown>;
    const { id: _id, ...reply } = r;
    this.trace.push({ kind: 'qmp', command, args, reply });
    for (const e of this.listener.drain()) this.trace.push({ kind: 'event', event: e.event, data: e.data });
    const err = reply.error as { class: string; desc: string } | undefined;
    if (err) throw new QmpCallError(command, err.class, err.desc);
    return reply.return;
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
    return path.join(this.q.scratch, 'nbd.sock');
  }

  async guestWrite(disk: string, offset: number, length: number, pattern: number): Promise<void> {
    const entry: TraceEntry = { kind: 'guest-write', disk, offset, length, pattern };
    this.trace.push(entry);
    try {
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

  scratchPath(name: string): string {
    return path.join(this.q.scratch, name);
  }

  async createImage(name: string, format: 'qcow2' | 'raw', size: number): Promise<string> {
    const p = this.scratchPath(`${name}.${format}`);
    const img = this.o.qemuImg ?? ['qemu-img'];
    execFileSync(img[0], [...img.slice(1), 'create', '-q', '-f', format, p, String(size)], {
      env: this.o.env,
      stdio: 'pipe',
      // bounded like every other wait: a hung qemu-img is killed and the call throws (ETIMEDOUT)
      timeout: 30_000,
      killSignal: 'SIGKILL',
    });
    this.images.add(p);
    return p;
  }

  async scratchFiles(): Promise<string[]> {
    return [...this.images].filter((p) => fs.existsSync(p));
  }

  async removeImage(p: string): Promise<void> {
    this.images.delete(p);
    fs.rmSync(p, { force: true });
  }

  async close(): Promise<void> {
    for (const c of this.guests.values()) await c.disconnect().catch(() => {});
    this.listener.close();
    await this.q.stop();
  }
}
