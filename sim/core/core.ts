import { Introspection, type SchemaSnapshot } from '../../contract/qapi/introspection.ts';
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import { QapiVisitor } from '../../contract/qapi/visitor.ts';
import {
  type Feature,
  type Profile,
  type VersionInfo,
  versionInfo,
  withSwitched,
} from '../../contract/versions.ts';
import type { Device } from '../block/devices.ts';
import { type BlockBackend, Graph } from '../block/graph.ts';
import type { NbdServerState } from '../block/nbd-state.ts';
import type { SimFs } from '../host/fs.ts';
import { SimClock } from '../util/clock.ts';
import { EventBus } from '../util/events.ts';
import type { Faults } from '../util/faults.ts';
import { Rng } from '../util/rng.ts';

export type Flavour = 'qsd' | 'system';

/** qemu-system's run states that QMP can reach here (system/runstate.c) */
export type RunState = 'prelaunch' | 'running' | 'paused';

/** Lookups over a profile's schema are immutable: built once per profile and flavour, shared by every simulator. */
const tablesCache = new Map<string, { intro: Introspection; visitor: QapiVisitor }>();
function schemaTables(profile: Profile, flavour: Flavour, version: VersionInfo, snapshot: SchemaSnapshot) {
  const key = `${profile}-${flavour}`;
  let t = tablesCache.get(key);
  if (!t) {
    const intro = new Introspection(snapshot.schema);
    const visitor = new QapiVisitor(intro, {
      missing: version.texts['qapi.missing'],
      badType: version.texts['qapi.badType'],
      badEnum: version.texts['qapi.badEnum'],
      unexpected: version.texts['qapi.unexpected'],
    });
    t = { intro, visitor };
    tablesCache.set(key, t);
  }
  return t;
}

/**
 * Everything a simulated QEMU holds. Commands are functions over it; sockets and files live elsewhere.
 */
export class SimCore {
  readonly version: VersionInfo;
  readonly snapshot: SchemaSnapshot;
  readonly intro: Introspection;
  readonly visitor: QapiVisitor;
  readonly graph = new Graph();
  readonly clock: SimClock;
  readonly rng: Rng;
  readonly events: EventBus;
  /** BlockBackends: devices, exports, jobs, HMP qemu-io; for permission refreshes */
  readonly blks = new Set<BlockBackend>();
  nbd: NbdServerState | undefined;
  readonly exports = new Map<string, import('../block/nbd-state.ts').BlockExport>();
  readonly devices = new Map<string, Device>();
  /** qemu-system: the machine the command line made (serve --flavour system); absent in process */
  machineState: import('./machine.ts').MachineState | undefined;
  quitRequested = false;
  /** qemu-system's machine: q35 carries the guest disks, none has no devices */
  machine: 'q35' | 'pc' | 'none' = 'none';
  /** qemu-system's run state: prelaunch when started with -S (see commands/runstate.ts) */
  runState: RunState = 'running';
  /** socket hooks set by the process adapter (sim/serve); absent in process */
  nbdListen: ((addr: { type: string; data: Record<string, unknown> }) => void) | undefined;
  nbdUnlisten: (() => void) | undefined;
  exportClosing: ((exp: import('../block/nbd-state.ts').BlockExport) => void) | undefined;
  /** NBD clients connected and still in the handshake (the socket side counts them; 0 in process without one) */
  nbdHandshaking: (() => number) | undefined;
  /**
   * Why the monitor no longer answers, once a command hung QEMU's main loop on this version (a known bug):
   * no reply to that command or any after it.
   */
  stuck: string | undefined;
  /** what qemu-io printed on QEMU's stdout (HMP qemu-io answers "" and prints its report there) */
  readonly stdout: string[] = [];
  /** what went to QEMU's stderr (qemu-io's "command not found") */
  readonly stderr: string[] = [];

  constructor(
    readonly profile: Profile,
    readonly flavour: Flavour,
    readonly fs: SimFs,
    readonly faults: Faults,
    seed: number,
    clock?: SimClock,
    switched: readonly Feature[] = [],
  ) {
    this.version = withSwitched(versionInfo(profile), switched);
    this.snapshot = loadSnapshot(profile, flavour);
    const tables = schemaTables(profile, flavour, this.version, this.snapshot);
    this.intro = tables.intro;
    this.visitor = tables.visitor;
    this.rng = new Rng(seed);
    this.clock = clock ?? new SimClock();
    this.events = new EventBus(this.clock);
  }

  autoNodeName(): string {
    return this.graph.nextAutoName(this.rng.int(100));
  }

  /** Re-derive every permission; throws QEMU's conflict error (callers undo their change). */
  refreshPerms(): void {
    this.graph.refreshPerms(this.blks);
  }

  addBlk(blk: BlockBackend): void {
    this.blks.add(blk);
  }

  removeBlk(blk: BlockBackend): void {
    this.blks.delete(blk);
    if (blk.root) {
      const bs = blk.root.bs;
      this.graph.detach(blk.root);
      this.graph.collect(bs);
    }
  }
}
