import { type AnyMachineSnapshot, initialTransition, transition } from 'xstate';
import type { Port } from '../../contract/port.ts';
import type { PropertyId } from '../../contract/properties.ts';
import type { ApiCall, LowerCtx, Proposal } from '../../contract/proposals/define.ts';
import type { Inject, OpSpec } from '../../contract/proposals/ops.ts';

export type { OpSpec };

import { CheckpointRun } from './checkpoints.ts';
import { DiskHistory, firstDiff, type PatternWrite } from './disk-model.ts';
import { errorText, hex, msg } from './error-text.ts';
import { type QemuState, readQemuState, stateChanges } from './qemu-state.ts';

/**
 * One run of a proposal against a QEMU (through a Port): the domain's disks, the guest, the readers, the
 * sessions with their API machines, and the property checks. Every check that runs marks its property as
 * exercised: a verdict counts only the runs that reached it.
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
  snap: AnyMachineSnapshot;
  /** versions each disk's point in time may be, narrowed by every read (set once a 'pit' state is entered) */
  perDisk?: Record<string, Set<number>>;
  /** versions the whole session's point in time may be */
  common?: Set<number>;
  /** disks read since the point in time was fixed (common-point-in-time needs two) */
  read: Set<string>;
  /** what the session's calls added to QEMU: ending it must take them away (end-releases) */
  owned: { nodes: string[]; files: string[] };
  /** the most its scratch images took on the host, seen before each operation (what a session costs) */
  scratchPeak: number;
  ended: boolean;
  /** the QEMU events up to here in the trace have been offered to its machine */
  eventCursor: number;
}

export interface WorldOptions {
  disks: number;
  diskSize: number;
  /** properties whose violation throws (the rest are only recorded) */
  focus: ReadonlySet<PropertyId>;
}

const DISK_NAMES = ['vda', 'vdb', 'vdc', 'vdd'];
const NO_SUCH_DISK = 'vdz';
/** what a lowering's own bug throws, as opposed to a refusal */
const INTERNAL = /^(TypeError|RangeError|ReferenceError|SyntaxError)\b/;

export class World {
  readonly history: DiskHistory;
  readonly diskNames: string[];
  readonly sessions: Session[] = [];
  readonly findings: Finding[] = [];
  readonly exercised = new Set<PropertyId>();
  readonly ctx: LowerCtx;
  /** the machine's transitions taken in this run: "from|event|to" */
  readonly transitionsTaken = new Set<string>();
  /** each session's scratch peak, in bytes (the sessions that made scratch images) */
  get sessionScratch(): number[] {
    return this.sessions.filter((s) => s.owned.files.length > 0).map((s) => s.scratchPeak);
  }
  private baseline!: QemuState;
  /** checkpoints, restarts and incremental backups, where the API has checkpoints */
  readonly checkpoints: CheckpointRun | undefined;
  /**
   * the API accepted a call its machine forbids: what it did is not modelled, so the run ends there (the
   * misuse is the finding; what would follow from it is not blamed on other properties)
   */
  derailed = false;
  /** the guest's CPUs are stopped (a lowering sent `stop`): its writes wait for `cont` */
  private paused = false;
  private deferred: PatternWrite[] = [];
  /** ended sessions whose nodes stayed behind, waiting for a guest write to show what they still cost */
  private unreleased: { s: Session; call: string; nodes: string[]; bytes: Record<string, number> }[] = [];

  constructor(
    readonly proposal: Proposal,
    readonly port: Port,
    readonly opts: WorldOptions,
  ) {
    this.diskNames = port.domain.disks.map((d) => d.name);
    this.history = new DiskHistory(Object.fromEntries(this.diskNames.map((d, i) => [d, 0x10 + i])));
    this.ctx = {
      port,
      domain: port.domain.kind,
      disks: Object.fromEntries(
        port.domain.disks.map((d) => [d.name, { node: d.node, size: d.size, device: d.device }]),
      ),
      state: {},
      nbdServerRunning: true,
    };
    this.checkpoints = proposal.checkpoints ? new CheckpointRun(this, proposal.checkpoints) : undefined;
  }

  /** The disks of a domain with `n` disks of `size` bytes. */
  static domainDisks(kind: 'vm' | 'qsd', n: number, size: number, format: 'raw' | 'qcow2' = 'raw') {
    return DISK_NAMES.slice(0, n).map((name) => ({
      name,
      node: `disk-${name}`,
      size,
      ...(kind === 'vm' ? { device: name } : {}),
      ...(format === 'qcow2' ? { format } : {}),
    }));
  }

  /** The domain a proposal runs in: its disks are qcow2 where it has checkpoints (persistent bitmaps). */
  static domainFor(p: Proposal, kind: 'vm' | 'qsd', n: number, size: number) {
    return { kind, disks: World.domainDisks(kind, n, size, p.checkpoints ? 'qcow2' : 'raw') };
  }

  violate(property: PropertyId, detail: string): void {
    if (this.opts.focus.has(property)) throw new Violation(property, detail);
    this.findings.push({ property, detail });
  }

  /**
   * vm: the domain was started paused with its disks and devices (as libvirt starts one); it runs now, and
   * an NBD server is up for readers. qsd: a raw image per disk, exported writable as the guest's view.
   */
  async setup(): Promise<void> {
    const p = this.port;
    if (p.domain.kind === 'vm') await p.qmp('cont');
    await p.qmp('nbd-server-start', { addr: { type: 'unix', data: { path: p.scratchPath('nbd.sock') } } });
    if (p.domain.kind === 'qsd') {
      for (const d of p.domain.disks) {
        const file = await p.createImage(d.node, 'raw', d.size);
        await p.qmp('blockdev-add', {
          driver: 'raw',
          'node-name': d.node,
          file: { driver: 'file', filename: file },
        });
        await p.qmp('block-export-add', {
          type: 'nbd',
          id: `guest-${d.name}`,
          'node-name': d.node,
          name: `guest-${d.name}`,
          writable: true,
        });
      }
    }
    for (const d of this.diskNames) await p.guestWrite(d, 0, this.opts.diskSize, this.history.initial[d]);
    this.baseline = await readQemuState(p);
    p.trace.push({ kind: 'note', text: 'setup done' });
  }

  async run(op: OpSpec): Promise<void> {
    if (this.derailed) return;
    this.feedQemuEvents();
    await this.measureScratch();
    switch (op.op) {
      case 'write':
        return this.guestWrite({
          disk: this.disk(op.disk),
          offset: op.offset,
          length: op.length,
          pattern: op.pattern,
        });
      case 'start':
        return this.start(op.disks, op.inject);
      case 'read':
        return this.read(op);
      case 'call':
        return this.call(op.session, op.event, op.inject ?? []);
      case 'stop':
        return this.stop(op.session, op.inject ?? []);
      case 'wait':
        return this.port.pass(op.ms);
      case 'misuse':
        return this.misuse(op);
      case 'checkpoint':
      case 'delete-checkpoint':
      case 'incremental':
      case 'restart':
        return this.checkpoints?.run(op);
    }
  }

  liveSessions(): number {
    return this.alive().length;
  }

  /** Checkpoints are the domain's own: their bitmaps belong to what a teardown comes back to. */
  async adoptBitmaps(): Promise<void> {
    const now = await readQemuState(this.port);
    // named bitmaps of the disks' own nodes (a live backup job's anonymous ones are not the domain's)
    const own = (b: string) =>
      !b.endsWith('/undefined') && this.port.domain.disks.some((d) => b.startsWith(`${d.node}/`));
    this.baseline = {
      ...this.baseline,
      bitmaps: [...this.baseline.bitmaps.filter((b) => !own(b)), ...now.bitmaps.filter(own)].sort(),
    };
  }

  /** QEMU started again on the same images (paused): the guest runs, readers get their NBD server back. */
  async booted(): Promise<void> {
    await this.port.qmp('cont');
    await this.port.qmp('nbd-server-start', {
      addr: { type: 'unix', data: { path: this.port.scratchPath('nbd.sock') } },
    });
    await this.adoptBitmaps();
  }

  private disk(i: number): string {
    return this.diskNames[i % this.diskNames.length];
  }

  private alive(): Session[] {
    return this.sessions.filter((s) => !s.ended);
  }

  private pick(i: number, from = this.alive()): Session | undefined {
    return from.length === 0 ? undefined : from[i % from.length];
  }

  private clampWrite(w: PatternWrite): PatternWrite {
    const offset = Math.min(w.offset, this.opts.diskSize - 512);
    return { ...w, offset, length: Math.max(1, Math.min(w.length, this.opts.diskSize - offset)) };
  }

  async guestWrite(raw: PatternWrite): Promise<void> {
    const w = this.clampWrite(raw);
    // a stopped guest does not write: its write happens when its CPUs run again
    if (this.paused) {
      this.deferred.push(w);
      return;
    }
    if (this.alive().length > 0) this.exercised.add('guest-writes-never-fail');
    try {
      await this.port.guestWrite(w.disk, w.offset, w.length, w.pattern);
      this.history.record(w);
    } catch (e) {
      // The write did not happen; whether it should have is the property.
      this.violate('guest-writes-never-fail', `guest write to ${w.disk} at ${w.offset} failed: ${msg(e)}`);
    }
    await this.checkUnreleased();
  }

  async apiCall(c: ApiCall): Promise<unknown> {
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
      else entry.error = errorText(e);
      throw e;
    }
  }

  /**
   * Every QMP command made while this hooks is followed by the guest writes injected after it and, for a
   * session being ended, its reader looking again. `stop`/`cont` pause and resume the guest.
   */
  private hookQmp(inject: Inject[], reading?: Session): () => void {
    const port = this.port as Port & { qmp: Port['qmp'] };
    const orig = port.qmp.bind(port);
    const pending = [...inject].sort((a, b) => a.after - b.after);
    let count = 0;
    let active = true;
    port.qmp = async (c, a) => {
      const r = await orig(c, a);
      if (!active) return r;
      if (c === 'stop') this.paused = true;
      if (c === 'cont') await this.resume();
      this.feedQemuEvents();
      count++;
      while (pending.length > 0 && pending[0].after <= count) {
        const w = pending.shift()!;
        await this.guestWrite({
          disk: this.disk(w.disk),
          offset: w.offset,
          length: w.length,
          pattern: w.pattern,
        });
      }
      if (reading)
        for (const d of reading.disks)
          await this.checkRead(
            reading,
            d,
            0,
            this.opts.diskSize,
            'safe-teardown',
            'while its job was being ended',
          );
      return r;
    };
    return () => {
      active = false;
      port.qmp = orig;
    };
  }

  private async resume(): Promise<void> {
    this.paused = false;
    for (const w of this.deferred.splice(0)) await this.guestWrite(w);
  }

  /** Send a call's outcome to the session's machine; returns what entering the new state asks for. */
  private step(
    s: Session,
    c: ApiCall,
    output: unknown,
  ): { pit: boolean; readable: boolean; pivoted: boolean; final: boolean } {
    const before = s.snap;
    const [next] = transition(this.proposal.machine, before, { type: c.call, params: c.params, output });
    s.snap = next;
    this.transitionsTaken.add(`${String(before.value)}|${c.call}|${String(next.value)}`);
    const entered = before.value !== next.value;
    return {
      pit: next.hasTag('pit') && s.perDisk === undefined,
      readable: !before.hasTag('readable') && next.hasTag('readable'),
      pivoted: entered && next.hasTag('pivoted'),
      final: next.status === 'done',
    };
  }

  /**
   * QEMU's events reach each live session's machine as the API implementation learns them (a mirror's
   * BLOCK_JOB_READY moves a copy to 'ready' whether or not its user was waiting for it).
   */
  private feedQemuEvents(): void {
    const match = this.proposal.session.qemuEvents;
    if (!match) return;
    this.port.flushEvents();
    const t = this.port.trace;
    for (const s of this.alive()) {
      for (; s.eventCursor < t.length; s.eventCursor++) {
        const e = t[s.eventCursor];
        if (e.kind !== 'event' || s.handle === '') continue;
        for (const [name, pred] of Object.entries(match)) {
          const ev = { event: e.event, data: e.data as Record<string, unknown> | undefined };
          if (!pred(ev, s.handle, s.disks) || !s.snap.can({ type: name })) continue;
          this.step(s, { call: name, params: {} }, ev);
        }
      }
    }
  }

  private fixPointInTime(s: Session, from: number): void {
    const window = range(from, this.history.version);
    s.perDisk = Object.fromEntries(s.disks.map((d) => [d, new Set(window)]));
    s.common = new Set(window);
  }

  async start(diskIdx: number[], inject: Inject[]): Promise<void> {
    let disks = [...new Set(diskIdx.map((i) => this.disk(i)))];
    if (this.proposal.capabilities.disksPerCall === 'one') disks = disks.slice(0, 1);
    // an API with one job per domain is not asked for a second one here (that is the misuse 'second-start')
    if (!this.proposal.capabilities.concurrentJobs && this.alive().length > 0) return;
    const others = this.alive();
    if (others.length > 0) this.exercised.add('concurrent-points-in-time');
    const no = this.sessions.length;
    const plan = this.proposal.session;
    const calls = plan.start(disks, { sessionNo: no });
    const before = await readQemuState(this.port);
    const s: Session = {
      no,
      disks,
      handle: '',
      exports: {},
      snap: initialTransition(this.proposal.machine)[0],
      read: new Set(),
      owned: { nodes: [], files: [] },
      scratchPeak: 0,
      ended: false,
      eventCursor: this.port.trace.length,
    };
    const results: unknown[] = [];
    const restore = this.hookQmp(inject);
    try {
      for (const c of calls) {
        const from = this.history.version;
        try {
          const r = await this.apiCall(c);
          results.push(r);
          if (this.step(s, c, r).pit) this.fixPointInTime(s, from);
        } catch (e) {
          if (e instanceof Violation) throw e;
          this.violate(
            others.length > 0 ? 'concurrent-points-in-time' : 'point-in-time',
            `${c.call}(${JSON.stringify(c.params)}) failed${others.length > 0 ? ` while ${others.length} other job(s) were alive` : ''}: ${errorText(e)}`,
          );
          return;
        }
        await this.checkOthers(no);
      }
    } finally {
      restore();
    }
    s.handle = plan.handle(results, disks, { sessionNo: no });
    s.exports = Object.fromEntries(disks.map((d) => [d, plan.exportName(s.handle, d)]));
    if (this.proposal.capabilities.jobIds && others.length > 0) {
      this.exercised.add('job-identity');
      if (others.some((o) => o.handle === s.handle))
        this.violate('job-identity', `job id '${s.handle}' handed out again while its job is alive`);
    }
    await this.firstRead(s);
    const after = await readQemuState(this.port);
    s.owned = {
      nodes: after.nodes.filter((n) => !before.nodes.includes(n)),
      files: after.files.filter((f) => !before.files.includes(f)),
    };
    this.sessions.push(s);
  }

  /** Read a session's export of one disk and narrow its point in time. */
  private async checkRead(
    s: Session,
    disk: string,
    offset: number,
    length: number,
    property: PropertyId,
    when: string,
  ): Promise<void> {
    if (!s.perDisk || !s.common || !s.snap.hasTag('readable')) return;
    this.exercised.add(property);
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
    const lo = Math.min(...s.perDisk[disk]);
    const hi = Math.max(...s.perDisk[disk]);
    const narrowed = intersect(s.perDisk[disk], this.history.consistentVersions(disk, offset, data, lo, hi));
    if (narrowed.size === 0) {
      const want = this.history.bytes(disk, hi, offset, length);
      const at = firstDiff(data, want);
      const newer = this.history.consistentVersions(disk, offset, data, hi, this.history.version).size > 0;
      this.violate(
        property,
        `${s.exports[disk]} (session ${s.no}, disk ${disk}) ${when}: byte ${offset + at} is 0x${hex(data[at])}, its point in time has 0x${hex(want[at])}${newer ? ' — data written after the point in time' : ''}`,
      );
      return;
    }
    s.perDisk[disk] = narrowed;
    s.read.add(disk);
    if (s.read.size >= 2) this.exercised.add('common-point-in-time');
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

  /** A reader connects as soon as a session's exports appear, and reads every disk once. */
  private async firstRead(s: Session): Promise<void> {
    if (!s.snap.hasTag('readable')) return;
    for (const d of s.disks)
      await this.checkRead(s, d, 0, this.opts.diskSize, 'point-in-time', 'as soon as it was exported');
  }

  async read(op: Extract<OpSpec, { op: 'read' }>): Promise<void> {
    const s = this.pick(
      op.session,
      this.alive().filter((x) => x.snap.hasTag('readable')),
    );
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

  /** The session's requests, each with whether its state accepts it now. */
  private requests(s: Session, handle = s.handle): { label: string; call: ApiCall; legal: boolean }[] {
    return Object.entries(this.proposal.session.request).map(([label, build]) => {
      const call = build(handle, s.disks);
      return { label, call, legal: s.snap.can({ type: call.call, params: call.params }) };
    });
  }

  /** Where a call would take a session (before its outcome is known). */
  private target(s: Session, c: ApiCall): AnyMachineSnapshot {
    return transition(this.proposal.machine, s.snap, { type: c.call, params: c.params })[0];
  }

  async call(i: number, k: number, inject: Inject[]): Promise<void> {
    const s = this.pick(i);
    if (!s) return;
    const legal = this.requests(s).filter((r) => r.legal);
    if (legal.length === 0) return;
    // a small index names one of the accepted calls; a larger one moves the session toward being read
    const c = k < legal.length ? legal[k].call : (this.toward(s, legal) ?? legal[k % legal.length].call);
    await this.runLegal(s, c, inject);
  }

  /** The accepted call that starts a shortest way (in calls) from the session's state to a readable one. */
  private toward(s: Session, legal: { call: ApiCall }[]): ApiCall | undefined {
    const shape = this.proposal.shape;
    const readable = new Set(shape.states.filter((x) => x.tags.includes('readable')).map((x) => x.name));
    const here = String(s.snap.value);
    if (readable.has(here)) return undefined;
    const calls = new Set(Object.keys(this.proposal.calls));
    const first = new Map<string, string>([[here, '']]);
    const queue = [here];
    while (queue.length > 0) {
      const at = queue.shift()!;
      if (readable.has(at)) break;
      for (const t of shape.transitions) {
        if (t.from !== at || first.has(t.to) || !calls.has(t.event)) continue;
        first.set(t.to, at === here ? t.to : first.get(at)!);
        queue.push(t.to);
      }
    }
    const goal = [...readable].find((r) => first.has(r));
    if (!goal) return undefined;
    const hop = first.get(goal)!;
    return legal.find((r) => String(this.target(s, r.call).value) === hop)?.call;
  }

  /** A call the session's state accepts: QEMU must carry it out, and the session moves on. */
  private async runLegal(s: Session, c: ApiCall, inject: Inject[]): Promise<void> {
    const to = this.target(s, c);
    const ending = s.snap.hasTag('readable') && !to.hasTag('readable');
    if (ending || to.status === 'done') {
      this.exercised.add('teardown-accepted');
      if (ending) this.exercised.add('safe-teardown');
    }
    const from = this.history.version;
    const restore = this.hookQmp(inject, ending ? s : undefined);
    let result: unknown;
    try {
      result = await this.apiCall(c);
    } catch (e) {
      if (e instanceof Violation) throw e;
      const property: PropertyId =
        ending || to.status === 'done'
          ? 'teardown-accepted'
          : to.hasTag('pivoted')
            ? 'pivot-identical'
            : to.hasTag('pit') || to.hasTag('readable')
              ? 'point-in-time'
              : 'job-identity';
      this.violate(
        property,
        `${c.call}(${JSON.stringify(c.params)}) refused in state '${String(s.snap.value)}': ${errorText(e)}`,
      );
      return;
    } finally {
      restore();
    }
    if (this.proposal.capabilities.jobIds && result && typeof result === 'object' && 'id' in result) {
      if (this.alive().length > 1) this.exercised.add('job-identity');
      if ((result as { id: unknown }).id !== s.handle)
        this.violate(
          'job-identity',
          `${c.call}('${s.handle}') answered for '${String((result as { id: unknown }).id)}'`,
        );
    }
    const entered = this.step(s, c, result);
    if (entered.pit) this.fixPointInTime(s, from);
    if (entered.readable) await this.firstRead(s);
    if (entered.pivoted) await this.checkPivot(s, c);
    if (entered.final) await this.ended(s, c);
    await this.checkOthers(s.no);
  }

  async stop(i: number, inject: Inject[]): Promise<void> {
    const s = this.pick(i);
    if (s) await this.stopSession(s, inject);
  }

  private async stopSession(s: Session, inject: Inject[] = []): Promise<void> {
    await this.measureScratch();
    const calls = this.proposal.session.stop(s.handle, s.disks, String(s.snap.value));
    this.exercised.add('teardown-accepted');
    const readable = s.snap.hasTag('readable');
    if (readable) this.exercised.add('safe-teardown');
    // The guest keeps writing and a connected reader keeps reading while the job is being ended.
    const restore = this.hookQmp(inject, readable ? s : undefined);
    let last: ApiCall | undefined;
    try {
      for (const c of calls) {
        last = c;
        let r: unknown;
        try {
          r = await this.apiCall(c);
        } catch (e) {
          if (e instanceof Violation) throw e;
          this.violate(
            'teardown-accepted',
            `${c.call}(${JSON.stringify(c.params)}) refused: ${errorText(e)}`,
          );
          return;
        }
        this.step(s, c, r);
      }
    } finally {
      restore();
    }
    if (s.snap.status !== 'done') {
      this.violate(
        'teardown-accepted',
        `the session's stop calls left it in state '${String(s.snap.value)}', which is not an end state`,
      );
      return;
    }
    await this.ended(s, last);
    await this.checkOthers(s.no);
  }

  /** How much each live session's scratch images take now: its peak so far. */
  private async measureScratch(): Promise<void> {
    const alive = this.alive().filter((s) => s.owned.files.length > 0);
    if (alive.length === 0) return;
    const files = new Set(await this.port.scratchFiles());
    for (const s of alive) {
      let bytes = 0;
      for (const f of s.owned.files) if (files.has(f)) bytes += await this.port.imageBytes(f);
      s.scratchPeak = Math.max(s.scratchPeak, bytes);
    }
  }

  /** A session ended: what its calls added must be gone (end-releases), now or after the next guest write. */
  private async ended(s: Session, c: ApiCall | undefined): Promise<void> {
    s.ended = true;
    this.exercised.add('end-releases');
    const now = await readQemuState(this.port);
    const nodes = s.owned.nodes.filter((n) => now.nodes.includes(n));
    if (nodes.length === 0) return;
    const bytes: Record<string, number> = {};
    for (const f of s.owned.files) if (now.files.includes(f)) bytes[f] = await this.port.imageBytes(f);
    this.unreleased.push({
      s,
      call: c ? `${c.call}(${JSON.stringify(c.params)})` : 'its stop',
      nodes,
      bytes,
    });
  }

  /** After a guest write: an ended session that kept its nodes shows what it still costs. */
  private async checkUnreleased(final = false): Promise<void> {
    for (const u of this.unreleased.splice(0)) {
      const grew: string[] = [];
      for (const [f, was] of Object.entries(u.bytes)) {
        const files = await this.port.scratchFiles();
        if (!files.includes(f)) continue;
        const now = await this.port.imageBytes(f);
        if (now > was) grew.push(`${f.split('/').pop()} grew ${now - was} bytes`);
      }
      this.violate(
        'end-releases',
        `after ${u.call} (session ${u.s.no}) node(s) ${u.nodes.join(', ')} stayed${grew.length > 0 ? `; the guest's next write: ${grew.join(', ')}` : final ? ' until the run ended' : ''}`,
      );
    }
  }

  /**
   * Entering a 'pivoted' state: the guest now writes to a copy holding everything it wrote. The copy is the
   * guest's disk from now on: the domain's own state (what a teardown must come back to) takes it in.
   */
  private async checkPivot(s: Session, c: ApiCall): Promise<void> {
    this.exercised.add('pivot-identical');
    const state = await readQemuState(this.port);
    const adopted = s.owned.nodes.filter((n) => state.nodes.includes(n));
    this.baseline = {
      ...this.baseline,
      nodes: [...this.baseline.nodes.filter((n) => state.nodes.includes(n)), ...adopted].sort(),
      files: [
        ...this.baseline.files.filter((f) => state.files.includes(f)),
        ...s.owned.files.filter((f) => state.files.includes(f)),
      ].sort(),
      devices: {
        ...this.baseline.devices,
        ...Object.fromEntries(
          s.disks.flatMap((d) => {
            const dev = this.port.domain.disks.find((x) => x.name === d)?.device;
            return dev ? [[dev, state.devices[dev]]] : [];
          }),
        ),
      },
    };
    s.owned = { nodes: [], files: [] };
    for (const d of s.disks) {
      const disk = this.port.domain.disks.find((x) => x.name === d)!;
      if (disk.device && state.devices[disk.device] === disk.node)
        this.violate(
          'pivot-identical',
          `after ${c.call}, device ${disk.device} still writes to ${disk.node}: nothing was pivoted`,
        );
      const data = await this.port.guestRead(d, 0, this.opts.diskSize);
      const want = this.history.bytes(d, this.history.version, 0, this.opts.diskSize);
      const at = firstDiff(data, want);
      if (at < data.length)
        this.violate(
          'pivot-identical',
          `after ${c.call}, the guest reads 0x${hex(data[at])} at byte ${at} of ${d}; it wrote 0x${hex(want[at])}`,
        );
    }
  }

  /**
   * A call the API does not accept now: it must fail cleanly and leave QEMU as it was. The session's machine
   * stays where it is.
   */
  async misuse(op: Extract<OpSpec, { op: 'misuse' }>): Promise<void> {
    const p = this.proposal;
    let calls: ApiCall[] | undefined;
    let what = '';
    const requested = (s: Session, handle: string, legal?: false) => {
      const rs = this.requests(s, handle).filter((r) => legal === undefined || r.legal === legal);
      return rs.length === 0 ? undefined : [rs[op.event % rs.length].call];
    };
    if (op.kind === 'illegal') {
      const s = this.pick(op.session);
      if (!s) return;
      calls = requested(s, s.handle, false);
      what = `in state '${String(s.snap.value)}' of session ${s.no}`;
    } else if (op.kind === 'ended') {
      const s = this.pick(
        op.session,
        this.sessions.filter((x) => x.ended && x.handle !== ''),
      );
      if (!s) return;
      calls = requested(s, s.handle);
      what = `on session ${s.no}, which has ended`;
    } else if (op.kind === 'unknown-id') {
      const s = this.pick(op.session, this.sessions);
      if (!p.capabilities.jobIds || !s) return;
      calls = requested(s, `${s.handle}-unknown`);
      what = `naming job '${s.handle}-unknown', which the API never handed out`;
    } else if (op.kind === 'missing-disk') {
      calls = p.session.start([NO_SUCH_DISK], { sessionNo: this.sessions.length });
      what = `naming disk '${NO_SUCH_DISK}', which the domain does not have`;
    } else {
      if (p.capabilities.concurrentJobs || this.alive().length === 0) return;
      calls = p.session.start(this.alive()[0].disks, { sessionNo: this.sessions.length });
      what = 'while the one job the API allows is alive';
    }
    if (!calls || calls.length === 0) return;
    this.exercised.add('misuse-refused');
    const before = await readQemuState(this.port);
    const c = calls[0];
    try {
      await this.apiCall(c);
    } catch (e) {
      if (e instanceof Violation) throw e;
      const text = errorText(e);
      const after = await readQemuState(this.port);
      const changes = stateChanges(before, after);
      if (INTERNAL.test(text))
        this.violate(
          'misuse-refused',
          `${c.call}(${JSON.stringify(c.params)}) ${what} failed with an internal error, not a refusal: ${text}`,
        );
      else if (changes.length > 0)
        this.violate(
          'misuse-refused',
          `${c.call}(${JSON.stringify(c.params)}) ${what} was refused (${text}) but changed QEMU: ${changes.join('; ')}`,
        );
      else
        this.findings.push({ property: 'misuse-refused', detail: `${op.kind}: ${c.call} ${what}: ${text}` });
      return;
    }
    this.violate('misuse-refused', `${c.call}(${JSON.stringify(c.params)}) ${what} was accepted`);
    this.derailed = true;
  }

  /** End every session, then nothing may be left behind and the guest's data must be intact. */
  async finish(): Promise<void> {
    if (this.derailed) return;
    await this.checkUnreleased(true);
    for (const s of this.alive()) {
      this.feedQemuEvents();
      if (!s.ended) await this.stopSession(s);
    }
    if (this.paused) {
      this.violate(
        'guest-writes-never-fail',
        `the guest was left stopped: ${this.deferred.length} write(s) never happened`,
      );
      return;
    }
    await this.checkUnreleased(true);
    if (this.alive().length > 0) return; // a refused teardown was already reported
    if (this.sessions.length === 0) return; // nothing was started: nothing to tear down
    this.exercised.add('clean-teardown');
    const now = await readQemuState(this.port);
    const left = stateChanges(this.baseline, now);
    if (left.length > 0) this.violate('clean-teardown', `left behind: ${left.join('; ')}`);
    for (const d of this.diskNames) {
      const data = await this.port.guestRead(d, 0, this.opts.diskSize);
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
