import type { DirtyRange } from '../../contract/port.ts';
import type { PropertyId } from '../../contract/properties.ts';
import type { CheckpointPlan } from '../../contract/proposals/define.ts';
import type { OpSpec } from '../../contract/proposals/ops.ts';
import { firstDiff } from './disk-model.ts';
import { errorText, hex } from './error-text.ts';
import type { World } from './world.ts';

/**
 * The checkpoint half of a run: checkpoints in two chains (two backup destinations), their deletion, QEMU
 * restarts and crashes, and incremental pull backups whose exported dirty maps are read over NBD and held
 * against the writes the guest made since the checkpoint. Every cluster written and not marked is data
 * loss; every cluster marked and not written is counted (incremental-tight).
 */
interface Checkpoint {
  handle: string;
  chain: number;
  /** the disk history's version when it was made: the writes after it are what an incremental must hold */
  version: number;
  /** the run's event counter when it was made (restarts, crashes, deletions and other chains since) */
  at: number;
  deleted: boolean;
}

type Happening = { at: number; kind: 'restart' | 'crash' | 'delete'; chain?: number; made?: number };

const CLUSTER = 65536;

export class CheckpointRun {
  readonly list: Checkpoint[] = [];
  private readonly happened: Happening[] = [];
  /** chain activity (a create, delete or backup) by event counter */
  private readonly chainOps: { at: number; chain: number }[] = [];
  private clock = 0;
  private counter = 0;
  /** clusters marked by incrementals, and how many of them the guest had not written */
  readonly tight = { marked: 0, unwritten: 0 };

  constructor(
    private readonly w: World,
    private readonly plan: CheckpointPlan,
  ) {}

  private live(): Checkpoint[] {
    return this.list.filter((c) => !c.deleted);
  }

  async run(op: Extract<OpSpec, { op: 'checkpoint' | 'delete-checkpoint' | 'incremental' | 'restart' }>) {
    this.clock++;
    if (op.op === 'checkpoint') return this.create(op.chain);
    if (op.op === 'delete-checkpoint') return this.remove(op.checkpoint);
    if (op.op === 'incremental') return this.incremental(op.checkpoint, op.disks);
    return this.restart(op.crash);
  }

  private async create(chain: number): Promise<void> {
    const no = this.counter++;
    const call = this.plan.create(chain, this.w.diskNames, { no });
    const version = this.w.history.version;
    let result: unknown;
    try {
      result = await this.w.apiCall(call);
    } catch (e) {
      // a checkpoint the API will not make is not a broken promise; what it says is a finding
      this.w.findings.push({
        property: 'incremental-complete',
        detail: `${call.call}(${JSON.stringify(call.params)}) refused: ${errorText(e)}`,
      });
      return;
    }
    this.list.push({
      handle: this.plan.handle(result, chain, { no }),
      chain,
      version,
      at: this.clock,
      deleted: false,
    });
    this.chainOps.push({ at: this.clock, chain });
    await this.w.adoptBitmaps();
  }

  private async remove(i: number): Promise<void> {
    const live = this.live();
    if (live.length === 0) return;
    const c = live[i % live.length];
    const call = this.plan.remove(c.handle, c.chain);
    try {
      await this.w.apiCall(call);
    } catch (e) {
      this.w.findings.push({
        property: 'checkpoint-delete-merges',
        detail: `${call.call}(${JSON.stringify(call.params)}) refused: ${errorText(e)}`,
      });
      return;
    }
    c.deleted = true;
    this.happened.push({ at: this.clock, kind: 'delete', chain: c.chain, made: c.at });
    this.chainOps.push({ at: this.clock, chain: c.chain });
    await this.w.adoptBitmaps();
  }

  private async restart(crash: boolean): Promise<void> {
    if (this.w.port.domain.kind !== 'vm' || this.w.liveSessions() > 0) return;
    await this.w.port.restart({ crash });
    this.happened.push({ at: this.clock, kind: crash ? 'crash' : 'restart' });
    await this.w.booted();
  }

  /** What happened since a checkpoint was made that an incremental from it must survive. */
  private since(c: Checkpoint) {
    const after = this.happened.filter((h) => h.at > c.at);
    return {
      crash: after.some((h) => h.kind === 'crash'),
      restart: after.some((h) => h.kind === 'restart'),
      // a checkpoint of the same chain made after this one and deleted since ("a middle one")
      deleted: after.some((h) => h.kind === 'delete' && h.chain === c.chain && (h.made ?? 0) > c.at),
      otherChain: this.chainOps.some((o) => o.at > c.at && o.chain !== c.chain),
    };
  }

  private async incremental(i: number, diskIdx: number[]): Promise<void> {
    const live = this.live();
    if (live.length === 0 || this.w.liveSessions() > 0) return;
    const c = live[i % live.length];
    const disks = [...new Set(diskIdx.map((d) => this.w.diskNames[d % this.w.diskNames.length]))];
    const why = this.since(c);
    if (why.crash) this.w.exercised.add('crash-detected');
    const begin = this.plan.begin(c.handle, c.chain, disks);
    let result: unknown;
    try {
      result = await this.w.apiCall(begin);
    } catch (e) {
      const text = errorText(e);
      const said = this.plan.fullNeeded({ error: text });
      if (why.crash && said.full) {
        this.w.findings.push({
          property: 'crash-detected',
          detail: `after kill -9: ${begin.call} refused: ${text}`,
        });
        return;
      }
      this.w.violate(
        this.cause(why),
        `${begin.call}(${JSON.stringify(begin.params)}) from ${c.handle} refused${this.story(why)}: ${text}`,
      );
      return;
    }
    this.chainOps.push({ at: this.clock, chain: c.chain });
    const backup = this.plan.backup(result);
    const said = this.plan.fullNeeded({ result });
    try {
      if (said.full) {
        if (why.crash)
          this.w.findings.push({ property: 'crash-detected', detail: 'after kill -9: a full backup' });
      } else {
        for (const d of disks) await this.checkMap(c, d, backup, why);
      }
    } finally {
      const end = this.plan.end(backup);
      this.w.exercised.add('teardown-accepted');
      try {
        await this.w.apiCall(end);
      } catch (e) {
        this.w.violate(
          'teardown-accepted',
          `${end.call}(${JSON.stringify(end.params)}) refused: ${errorText(e)}`,
        );
      }
    }
  }

  /** The property a missing cluster breaks: what happened since the checkpoint, or plain incompleteness. */
  private cause(why: ReturnType<CheckpointRun['since']>): PropertyId {
    if (why.crash) return 'crash-detected';
    if (why.deleted) return 'checkpoint-delete-merges';
    if (why.restart) return 'checkpoint-survives-restart';
    if (why.otherChain && this.plan.chains === 'ids') return 'independent-chains';
    return 'incremental-complete';
  }

  private story(why: ReturnType<CheckpointRun['since']>): string {
    const parts = [
      why.crash ? 'a crash' : '',
      why.restart ? 'a restart' : '',
      why.deleted ? 'a newer checkpoint deleted' : '',
      why.otherChain ? 'the other chain changed' : '',
    ].filter(Boolean);
    return parts.length > 0 ? ` (since it: ${parts.join(', ')})` : '';
  }

  private async checkMap(
    c: Checkpoint,
    disk: string,
    backup: string,
    why: ReturnType<CheckpointRun['since']>,
  ): Promise<void> {
    const w = this.w;
    const { name, context } = this.plan.exported(backup, disk);
    let map: DirtyRange[];
    try {
      map = await w.port.readDirtyMap(name, context);
    } catch (e) {
      w.violate(this.cause(why), `reading ${context} of export ${name} failed: ${errorText(e)}`);
      return;
    }
    w.exercised.add('incremental-complete');
    w.exercised.add('incremental-tight');
    if (why.restart) w.exercised.add('checkpoint-survives-restart');
    if (why.deleted) w.exercised.add('checkpoint-delete-merges');
    if (why.otherChain && this.plan.chains === 'ids') w.exercised.add('independent-chains');
    const size = w.opts.diskSize;
    const marked = new Set<number>();
    for (const r of map)
      for (let o = r.offset; o < r.offset + r.length; o += CLUSTER) marked.add(Math.floor(o / CLUSTER));
    const written = new Set<number>();
    for (let v = c.version; v < w.history.version; v++) {
      const wr = w.history.writes[v];
      if (wr.disk !== disk) continue;
      for (
        let g = Math.floor(wr.offset / CLUSTER);
        g <= Math.floor((wr.offset + wr.length - 1) / CLUSTER);
        g++
      )
        written.add(g);
    }
    const missing = [...written].filter((g) => !marked.has(g)).sort((a, b) => a - b);
    this.tight.marked += marked.size;
    this.tight.unwritten += [...marked].filter((g) => !written.has(g)).length;
    if (missing.length > 0) {
      const detail = `the incremental from ${c.handle}${this.story(why)} exports ${context} of ${disk} without cluster(s) ${missing.map((g) => `${g * CLUSTER}+${CLUSTER}`).join(', ')} the guest wrote since (marked: ${JSON.stringify(map)})`;
      w.violate(this.cause(why), detail);
      if (this.cause(why) !== 'incremental-complete') w.violate('incremental-complete', detail);
      return;
    }
    // what the export holds of a marked cluster is the disk now (nobody wrote since the backup began)
    for (const g of marked) {
      const offset = g * CLUSTER;
      const length = Math.min(CLUSTER, size - offset);
      if (length <= 0) continue;
      const data = await w.port.readExport(name, offset, length);
      const want = w.history.bytes(disk, w.history.version, offset, length);
      const at = firstDiff(data, want);
      if (at < data.length)
        w.violate(
          'point-in-time',
          `the incremental's export ${name} reads 0x${hex(data[at])} at ${offset + at}; the disk holds 0x${hex(want[at])}`,
        );
    }
  }
}
