import { createActor } from 'xstate';
import type { OpSpec } from '../../contract/formats/saved-runs.ts';
import type { Port } from '../../contract/port.ts';
import type { PropertyId } from '../../contract/properties.ts';
import type { ApiCall, LowerCtx, Proposal } from '../../contract/proposals/define.ts';
import { type ApiMachine, type ApiSnapshot, apiStep, createApiMachine } from './api-machine.ts';
import { DiskHistory, firstDiff, type PatternWrite } from './disk-model.ts';

/**
 * One run of a proposal against a QEMU (through a Port): the domain's disks, the guest, the readers, the
 * sessions, and the property checks. Operations are plain data (OpSpec, contract/formats/saved-runs.ts)
 * so a run can be saved and replayed on another target.
 */
export class Violation extends Error {
  constructor(
    readonly property: PropertyId,
    readonly detail: string,
  ) {
    super(`${property}: ${detail}`);
  }
}

export interface Finding {
  property: PropertyId;
  detail: string;
}

interface Session {
  no: number;
  disks: string[];
  handle: string;
  exports: Record<string, string>;
  /** versions each disk's point in time may be, narrowed by every read */
  perDisk: Record<string, Set<number>>;
  /** versions the whole session's point in time may be */
  common: Set<number>;
  alive: boolean;
}

export interface WorldOptions {
  disks: number;
  diskSize: number;
  /** properties whose violation throws (the rest are only recorded) */
  focus: ReadonlySet<PropertyId>;
}

const DISK_NAMES = ['vda', 'vdb', 'vdc', 'vdd'];

export class World {
  readonly history: DiskHistory;
  readonly diskNames: string[];
  readonly sessions: Session[] = [];
  readonly findings: Finding[] = [];
  readonly ctx: LowerCtx;
  private readonly machine: ApiMachine;
  private api: ApiSnapshot;
  private baselineNodes = new Set<string>();
  private baselineFiles = new Set<string>();
  private readonly usedHandles = new Set<string>();

  constructor(
    readonly proposal: Proposal,
    readonly port: Port,
    readonly opts: WorldOptions,
  ) {
    this.diskNames = DISK_NAMES.slice(0, opts.disks);
    this.history = new DiskHistory(Object.fromEntries(this.diskNames.map((d, i) => [d, 0x10 + i])));
    this.ctx = {
      port,
      disks: Object.fromEntries(this.diskNames.map((d) => [d, { node: `disk-${d}`, size: opts.diskSize }])),
      state: {},
      nbdServerRunning: true,
    };
    this.machine = createApiMachine(proposal);
    this.api = createActor(this.machine).getSnapshot();
  }

  private violate(property: PropertyId, detail: string): void {
    if (this.opts.focus.has(property)) throw new Violation(property, detail);
    this.findings.push({ property, detail });
  }

  /** The domain: a raw image per disk, exported writable as the guest's view (qemu-storage-daemon has no guest). */
  async setup(): Promise<void> {
    const p = this.port;
    await p.qmp('nbd-server-start', { addr: { type: 'unix', data: { path: p.scratchPath('nbd.sock') } } });
    for (const d of this.diskNames) {
      const file = await p.createImage(`disk-${d}`, 'raw', this.opts.diskSize);
      await p.qmp('blockdev-add', {
        driver: 'raw',
        'node-name': `disk-${d}`,
        file: { driver: 'file', filename: file },
      });
      await p.qmp('block-export-add', {
        type: 'nbd',
        id: `guest-${d}`,
        'node-name': `disk-${d}`,
        name: `guest-${d}`,
        writable: true,
      });
      await p.guestWrite(d, 0, this.opts.diskSize, this.history.initial[d]);
    }
    const nodes = (await p.qmp('query-named-block-nodes', { flat: true })) as { 'node-name': string }[];
    this.baselineNodes = new Set(nodes.map((n) => n['node-name']));
    this.baselineFiles = new Set(await p.scratchFiles());
    p.trace.push({ kind: 'note', text: 'setup done' });
  }

  async run(op: OpSpec): Promise<void> {
    switch (op.op) {
      case 'write':
        return this.guestWrite({
          disk: this.diskNames[op.disk % this.diskNames.length],
          offset: op.offset,
          length: op.length,
          pattern: op.pattern,
        });
      case 'start':
        return this.start(op);
      case 'read':
        return this.read(op);
      case 'stats':
        return this.stats(op.session);
      case 'stop':
        return this.stop(op.session, op.inject ?? []);
    }
  }

  private clampWrite(w: PatternWrite): PatternWrite {
    const offset = Math.min(w.offset, this.opts.diskSize - 512);
    return { ...w, offset, length: Math.max(1, Math.min(w.length, this.opts.diskSize - offset)) };
  }

  async guestWrite(raw: PatternWrite): Promise<void> {
    const w = this.clampWrite(raw);
    try {
      await this.port.guestWrite(w.disk, w.offset, w.length, w.pattern);
      this.history.record(w);
    } catch (e) {
      // The write did not happen; whether it should have is the property.
      this.violate('guest-writes-never-fail', `guest write to ${w.disk} at ${w.offset} failed: ${msg(e)}`);
    }
  }

  private alive(): Session[] {
    return this.sessions.filter((s) => s.alive);
  }

  private pick(i: number): Session | undefined {
    const a = this.alive();
    return a.length === 0 ? undefined : a[i % a.length];
  }

  private async apiCall(c: ApiCall): Promise<unknown> {
    const spec = this.proposal.calls[c.call];
    const params = spec.params.parse(c.params) as Record<string, unknown>;
    const entry = {
      kind: 'api' as const,
      call: c.call,
      params,
      result: undefined as unknown,
      error: undefined as string | undefined,
    };
    this.port.trace.push(entry);
    try {
      const r = await this.proposal.lower[c.call](this.ctx, params);
      entry.result = r;
      return r;
    } catch (e) {
      if (e instanceof Violation) entry.result = `(interrupted: ${e.property} broken)`;
      else entry.error = msg(e);
      throw e;
    }
  }

  async start(op: Extract<OpSpec, { op: 'start' }>, force = false): Promise<void> {
    const disks = [...new Set(op.disks.map((i) => this.diskNames[i % this.diskNames.length]))];
    const no = this.sessions.length;
    const plan = this.proposal.session;
    const calls = plan.start(disks, { sessionNo: no });
    const pitCall = plan.pitCall(disks);
    const expectAccepted = this.api.can({ type: 'START', session: no });
    // An API with one job per domain is not asked for a second one, except by the concurrency probe.
    if (!expectAccepted && !force) return;
    const windows: [number, number][] = [];
    const results: unknown[] = [];
    // The guest may write between any two QMP commands of the start (inject.after counts them).
    let qmpCount = 0;
    const pending = [...op.inject].sort((a, b) => a.after - b.after);
    const restore = this.wrapQmp(async () => {
      qmpCount++;
      while (pending.length > 0 && pending[0].after <= qmpCount) {
        const w = pending.shift()!;
        await this.guestWrite({
          disk: this.diskNames[w.disk % this.diskNames.length],
          offset: w.offset,
          length: w.length,
          pattern: w.pattern,
        });
      }
    });
    try {
      for (const c of calls) {
        const from = this.history.version;
        try {
          results.push(await this.apiCall(c));
        } catch (e) {
          if (e instanceof Violation) throw e;
          restore();
          this.api = apiStep(this.machine, this.api, { type: 'START_FAILED', session: no });
          if (!expectAccepted) {
            this.findings.push({
              property: 'concurrent-points-in-time',
              detail: `a second session is refused, as the API says: ${c.call}: ${msg(e)}`,
            });
            return;
          }
          this.violate(
            this.alive().length > 0 ? 'concurrent-points-in-time' : 'point-in-time',
            `${c.call}(${JSON.stringify(c.params)}) failed: ${msg(e)}`,
          );
          return;
        }
        windows.push([from, this.history.version]);
        await this.checkOthers(no);
      }
    } finally {
      restore();
    }
    if (!expectAccepted) {
      this.violate(
        'concurrent-points-in-time',
        `a second session was accepted although the API allows one job per domain`,
      );
    }
    const handle = plan.handle(results, disks, { sessionNo: no });
    if (this.proposal.capabilities.jobIds) {
      if (this.alive().some((s) => s.handle === handle))
        this.violate('job-identity', `job id '${handle}' handed out again while its job is alive`);
    }
    this.usedHandles.add(handle);
    const perDisk: Record<string, Set<number>> = {};
    for (const d of disks) {
      const [a, b] = windows[pitCall[d]];
      perDisk[d] = range(a, b);
    }
    const lo = Math.min(...disks.map((d) => windows[pitCall[d]][0]));
    const hi = Math.max(...disks.map((d) => windows[pitCall[d]][1]));
    this.sessions.push({
      no,
      disks,
      handle,
      exports: Object.fromEntries(disks.map((d) => [d, plan.exportName(handle, d)])),
      perDisk,
      common: range(lo, hi),
      alive: true,
    });
    this.api = apiStep(this.machine, this.api, { type: 'STARTED', session: no, handle });
  }

  /** Every QMP command made while `fn` hooks is followed by `after` (guest writes, readers). */
  private wrapQmp(after: () => Promise<void>): () => void {
    const port = this.port as Port & { qmp: Port['qmp'] };
    const orig = port.qmp.bind(port);
    let active = true;
    port.qmp = async (c, a) => {
      const r = await orig(c, a);
      if (active) await after();
      return r;
    };
    return () => {
      active = false;
      port.qmp = orig;
    };
  }

  /** Read a session's export of one disk and narrow its point in time; returns false if inconsistent. */
  private async checkRead(
    s: Session,
    disk: string,
    offset: number,
    length: number,
    property: PropertyId,
    when: string,
  ): Promise<void> {
    let data: Uint8Array;
    try {
      data = await this.port.readExport(s.exports[disk], offset, length);
    } catch (e) {
      if (property === 'safe-teardown' || property === 'isolation') return; // an export going away is fine
      this.violate(
        'point-in-time',
        `reading ${s.exports[disk]} at ${offset}+${length} ${when} failed: ${msg(e)}`,
      );
      return;
    }
    const ok = this.history.consistentVersions(
      disk,
      offset,
      data,
      Math.min(...s.perDisk[disk]),
      Math.max(...s.perDisk[disk]),
    );
    const narrowed = intersect(s.perDisk[disk], ok);
    if (narrowed.size === 0) {
      const v = Math.max(...s.perDisk[disk]);
      const want = this.history.bytes(disk, v, offset, length);
      const at = firstDiff(data, want);
      const newer = this.history.consistentVersions(disk, offset, data, v, this.history.version).size > 0;
      this.violate(
        property,
        `${s.exports[disk]} (session ${s.no}, disk ${disk}) ${when}: byte ${offset + at} is 0x${hex(data[at])}, its point in time has 0x${hex(want[at])}${newer ? ' — data written after the point in time' : ''}`,
      );
      return;
    }
    s.perDisk[disk] = narrowed;
    const common = intersect(s.common, narrowed);
    if (common.size === 0) {
      this.violate(
        'common-point-in-time',
        `session ${s.no} over ${s.disks.join(', ')}: ${disk} holds the disk as of guest write #${[...narrowed][0]}, another disk as of an earlier moment — no single point in time fits all disks`,
      );
      return;
    }
    s.common = common;
  }

  async read(op: Extract<OpSpec, { op: 'read' }>): Promise<void> {
    const s = this.pick(op.session);
    if (!s) return;
    const disk = s.disks[op.disk % s.disks.length];
    const offset = Math.min(op.offset, this.opts.diskSize - 512);
    const length = Math.max(1, Math.min(op.length, this.opts.diskSize - offset));
    await this.checkRead(s, disk, offset, length, 'point-in-time', 'read by its client');
  }

  /** Readers of the other sessions look again after an operation on one session. */
  private async checkOthers(except: number): Promise<void> {
    for (const o of this.alive()) {
      if (o.no === except) continue;
      for (const d of o.disks)
        await this.checkRead(
          o,
          d,
          0,
          this.opts.diskSize,
          'isolation',
          `after an operation on session ${except}`,
        );
    }
  }

  async stats(i: number): Promise<void> {
    const s = this.pick(i);
    const plan = this.proposal.session;
    if (!s || !plan.stats) return;
    const c = plan.stats(s.handle);
    try {
      const r = (await this.apiCall(c)) as Record<string, unknown>;
      if (this.proposal.capabilities.jobIds && r.id !== s.handle)
        this.violate('job-identity', `stats('${s.handle}') answered for '${String(r.id)}'`);
    } catch (e) {
      this.violate('job-identity', `stats of session ${s.no} failed: ${msg(e)}`);
    }
  }

  async stop(i: number, inject: Extract<OpSpec, { op: 'stop' }>['inject'] = []): Promise<void> {
    const s = this.pick(i);
    if (s) await this.stopSession(s, inject ?? []);
  }

  private async stopSession(
    s: Session,
    inject: NonNullable<Extract<OpSpec, { op: 'stop' }>['inject']> = [],
  ): Promise<void> {
    const plan = this.proposal.session;
    // The guest keeps writing and a connected reader keeps reading while the job is being ended.
    let qmpCount = 0;
    const pending = [...inject].sort((a, b) => a.after - b.after);
    const restore = this.wrapQmp(async () => {
      qmpCount++;
      while (pending.length > 0 && pending[0].after <= qmpCount) {
        const w = pending.shift()!;
        await this.guestWrite({
          disk: this.diskNames[w.disk % this.diskNames.length],
          offset: w.offset,
          length: w.length,
          pattern: w.pattern,
        });
      }
      for (const d of s.disks)
        await this.checkRead(s, d, 0, this.opts.diskSize, 'safe-teardown', 'while its job was being ended');
    });
    try {
      for (const c of plan.stop(s.handle, s.disks)) {
        try {
          await this.apiCall(c);
        } catch (e) {
          if (e instanceof Violation) throw e;
          this.violate('teardown-accepted', `${c.call}(${JSON.stringify(c.params)}) refused: ${msg(e)}`);
          return;
        }
      }
    } finally {
      restore();
    }
    s.alive = false;
    this.api = apiStep(this.machine, this.api, { type: 'STOP', session: s.no });
    await this.checkOthers(s.no);
  }

  /** End every session, then nothing may be left behind and the guest's data must be intact. */
  async finish(): Promise<void> {
    for (const s of this.alive()) await this.stopSession(s);
    if (this.alive().length > 0) return; // a refused teardown was already reported
    const p = this.port;
    const left: string[] = [];
    const jobs = (await p.qmp('query-jobs')) as { id: string }[];
    if (jobs.length > 0) left.push(`jobs ${jobs.map((j) => j.id).join(', ')}`);
    const exps = (await p.qmp('query-block-exports')) as { id: string }[];
    const extraExports = exps.filter((e) => !e.id.startsWith('guest-'));
    if (extraExports.length > 0) left.push(`exports ${extraExports.map((e) => e.id).join(', ')}`);
    const nodes = (await p.qmp('query-named-block-nodes', { flat: true })) as {
      'node-name': string;
      'dirty-bitmaps'?: unknown[];
    }[];
    const extraNodes = nodes.filter((n) => !this.baselineNodes.has(n['node-name']));
    if (extraNodes.length > 0) left.push(`nodes ${extraNodes.map((n) => n['node-name']).join(', ')}`);
    const bitmaps = nodes.filter((n) => (n['dirty-bitmaps'] ?? []).length > 0);
    if (bitmaps.length > 0) left.push(`bitmaps on ${bitmaps.map((n) => n['node-name']).join(', ')}`);
    const files = (await p.scratchFiles()).filter((f) => !this.baselineFiles.has(f));
    if (files.length > 0) left.push(`scratch files ${files.join(', ')}`);
    if (left.length > 0) this.violate('clean-teardown', `left behind: ${left.join('; ')}`);
    for (const d of this.diskNames) {
      const data = await p.readExport(`guest-${d}`, 0, this.opts.diskSize);
      const want = this.history.bytes(d, this.history.version, 0, this.opts.diskSize);
      const at = firstDiff(data, want);
      if (at < data.length)
        this.violate(
          'clean-teardown',
          `guest disk ${d} byte ${at} is 0x${hex(data[at])}, the guest wrote 0x${hex(want[at])}`,
        );
    }
  }
}

function range(a: number, b: number): Set<number> {
  const s = new Set<number>();
  for (let v = a; v <= b; v++) s.add(v);
  return s;
}

function intersect(a: Set<number>, b: Set<number>): Set<number> {
  return new Set([...a].filter((x) => b.has(x)));
}

function hex(n: number | undefined): string {
  return (n ?? 0).toString(16).padStart(2, '0');
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
