/**
 * What the soak runs drive: one QEMU-like endpoint with a QMP side, an NBD server on a unix socket in
 * its scratch folder, and a process whose open files and memory can be sampled.
 *
 * - `sim`: the simulator in this process (`createSim` with real files + `attachNbdServer`); its process
 *   is ours, and the NBD server's own connection count is readable.
 * - `serve`: `fleece-lab serve --profile P`, started with qemu-storage-daemon's argv by the same
 *   `startQsd` that starts the real one (a separate node process).
 * - `qsd`: the real qemu-storage-daemon on PATH.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../../contract/versions.ts';
import type { EventListener } from '../../harness/clients/qmp-events.ts';
import { registerCleanup } from '../../harness/targets/cleanup-registry.ts';
import { type QemuProcess, startQsd } from '../../harness/targets/qemu-process.ts';
import { attachNbdServer, type NbdServerHandle } from '../../sim/serve/nbd/server.ts';
import { createSim, type Sim } from '../../sim/sim.ts';

export type EndpointKind = 'sim' | 'serve' | 'qsd';

export interface SoakEvent {
  event: string;
  data?: Record<string, unknown>;
}

export class QmpFailure extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${command}: ${errorClass}: ${desc}`);
  }
}

export interface Endpoint {
  readonly kind: EndpointKind;
  readonly label: string;
  /** scratch folder for images and the NBD socket (removed by close) */
  readonly dir: string;
  readonly nbdSocket: string;
  /** the process whose /proc/PID/fd and VmRSS are sampled (ours for `sim`) */
  readonly pid: number;
  /** throws QmpFailure with QEMU's class and text */
  qmp(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** bounded wait for an event seen since the last `forgetEvents` */
  waitEvent(pred: (e: SoakEvent) => boolean, what: string, timeoutMs?: number): Promise<SoakEvent>;
  forgetEvents(): void;
  /** the simulator's own count of NBD connections (in process only) */
  nbdConnections(): number | undefined;
  close(): Promise<void>;
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'bin', 'fleece-lab.js');

class SimEndpoint implements Endpoint {
  readonly kind = 'sim' as const;
  readonly pid = process.pid;
  readonly nbdSocket: string;
  readonly sim: Sim;
  private readonly nbd: NbdServerHandle;
  private events: SoakEvent[] = [];
  private readonly unsubscribe: () => void;
  /** a Ctrl-C or SIGTERM still removes the scratch folder */
  private readonly unregister: () => void;

  constructor(
    readonly dir: string,
    readonly profile: Profile,
  ) {
    this.unregister = registerCleanup({ scratch: dir, pids: () => [] });
    this.nbdSocket = path.join(dir, 'nbd.sock');
    this.sim = createSim({ profile, seed: 1, flavour: 'qsd', fs: 'real', cwd: dir });
    this.nbd = attachNbdServer(this.sim.core);
    this.unsubscribe = this.sim.onEvent((e) => this.events.push({ event: e.event, data: e.data }));
  }

  get label(): string {
    return `sim:${this.profile} (in process)`;
  }

  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const r = this.sim.execute(command, args);
    if ('error' in r) throw new QmpFailure(command, r.error.class, r.error.desc);
    return r.return;
  }

  async waitEvent(pred: (e: SoakEvent) => boolean, what: string, timeoutMs = 20_000): Promise<SoakEvent> {
    // simulated time moves 1 ms per step; the event loop gets a turn now and then (NBD sockets)
    for (let step = 0; step <= timeoutMs; step++) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0];
      this.sim.advance(1);
      if (step % 50 === 49) await sleep(0);
    }
    throw new Error(`${this.label}: no ${what} within ${timeoutMs} ms of simulated time`);
  }

  forgetEvents(): void {
    this.events = [];
    // The simulator keeps its last 10,000 events for in-process readers (sim/events.ts): a bound, not a
    // leak, but it takes ~1,500 cycles to fill and would read as growth until then. Consumed: let them go.
    this.sim.core.events.log.length = 0;
  }

  nbdConnections(): number {
    return this.nbd.connectionCount();
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.nbd.close();
    for (const n of [...this.sim.core.graph.nodes.values()]) n.driver.close(n);
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.unregister();
  }
}

class ProcessEndpoint implements Endpoint {
  readonly nbdSocket: string;
  readonly dir: string;
  private readonly listener: EventListener;
  private events: SoakEvent[] = [];

  constructor(
    readonly kind: 'serve' | 'qsd',
    readonly label: string,
    private readonly q: QemuProcess,
  ) {
    this.dir = q.scratch;
    this.nbdSocket = path.join(q.scratch, 'nbd.sock');
    this.listener = q.qmp.events.listen();
  }

  get pid(): number {
    return this.q.proc.pid ?? -1;
  }

  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const r = (await this.q.qmp.executeRaw(command, args)) as {
      return?: unknown;
      error?: { class: string; desc: string };
    };
    this.pull();
    if (r.error) throw new QmpFailure(command, r.error.class, r.error.desc);
    return r.return;
  }

  private pull(): void {
    for (const e of this.listener.drain())
      this.events.push({ event: e.event, data: e.data as Record<string, unknown> | undefined });
  }

  async waitEvent(pred: (e: SoakEvent) => boolean, what: string, timeoutMs = 20_000): Promise<SoakEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pull();
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: no ${what} within ${timeoutMs} ms`);
      try {
        const e = await this.listener.next({ timeoutMs: left });
        this.events.push({ event: e.event, data: e.data as Record<string, unknown> | undefined });
      } catch {
        // timed out: the loop reports it
      }
    }
  }

  forgetEvents(): void {
    this.pull();
    this.events = [];
  }

  nbdConnections(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.listener.close();
    await this.q.stop();
  }
}

export async function startEndpoint(kind: EndpointKind, profile: Profile = '7.2'): Promise<Endpoint> {
  if (kind === 'sim') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-soak-'));
    return new SimEndpoint(dir, profile);
  }
  if (kind === 'serve') {
    const q = await startQsd({ argvPrefix: [process.execPath, CLI, 'serve', '--profile', profile] });
    return new ProcessEndpoint('serve', `serve:${profile} (fleece-lab serve, pid ${q.proc.pid})`, q);
  }
  const q = await startQsd();
  const v = (await q.qmp.execute('query-version')) as {
    qemu: { major: number; minor: number; micro: number };
  };
  const ver = `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}`;
  return new ProcessEndpoint('qsd', `qsd:${ver} (qemu-storage-daemon, pid ${q.proc.pid})`, q);
}

/** Retry a command QEMU refuses for a moment (a safe block-export-del while a client is still leaving). */
export async function qmpRetry(
  ep: Endpoint,
  command: string,
  args: Record<string, unknown>,
  retryIf: (e: QmpFailure) => boolean,
  boundMs = 5_000,
): Promise<number> {
  const deadline = Date.now() + boundMs;
  for (let retries = 0; ; retries++) {
    try {
      await ep.qmp(command, args);
      return retries;
    } catch (e) {
      if (!(e instanceof QmpFailure) || !retryIf(e) || Date.now() > deadline) throw e;
      await sleep(5);
    }
  }
}
