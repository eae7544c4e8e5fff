import { text } from '../../contract/versions.ts';
import type { SimCore } from '../core.ts';
import { generic } from '../qmp-error.ts';

/**
 * QOM objects made with object-add or --object (qom/object_interfaces.c) as far as the block layer uses
 * them: throttle-group, whose leaky buckets (util/throttle.c) the throttle filter driver shares, and
 * iothread, which exports may name (the simulator has one thread; an iothread is a name that exists).
 */
export class ThrottleGroup {
  /** bytes in each bucket and when they were last leaked (simulated ns) */
  private level = { write: 0, total: 0 };
  private leakedAt = 0;
  /** throttle filter nodes using the group */
  users = 0;

  constructor(
    readonly id: string,
    /** bytes per second: bps-write and bps-total of ThrottleLimits (0 = unlimited) */
    readonly bpsWrite: number,
    readonly bpsTotal: number,
  ) {}

  private leak(now: number): void {
    const s = (now - this.leakedAt) / 1e9;
    this.level.write = Math.max(0, this.level.write - this.bpsWrite * s);
    this.level.total = Math.max(0, this.level.total - this.bpsTotal * s);
    this.leakedAt = now;
  }

  /**
   * throttle_compute_wait for a write now (ns): a bucket without a burst limit lets avg/10 through at once;
   * the request that fills it still passes, and it is accounted when it passes (throttle_account).
   */
  writeDelayNs(now: number): number {
    this.leak(now);
    const wait = (level: number, avg: number) =>
      avg > 0 && level > avg / 10 ? ((level - avg / 10) / avg) * 1e9 : 0;
    return Math.max(wait(this.level.write, this.bpsWrite), wait(this.level.total, this.bpsTotal));
  }

  account(now: number, bytes: number, write: boolean): void {
    this.leak(now);
    if (write) this.level.write += bytes;
    this.level.total += bytes;
  }
}

export class IoThread {
  constructor(readonly id: string) {}
}

type SimObject = ThrottleGroup | IoThread;

const objects = new WeakMap<SimCore, Map<string, SimObject>>();

function objectsOf(core: SimCore): Map<string, SimObject> {
  let m = objects.get(core);
  if (!m) {
    m = new Map();
    objects.set(core, m);
  }
  return m;
}

export function findThrottleGroup(core: SimCore, id: string): ThrottleGroup | undefined {
  const o = objectsOf(core).get(id);
  return o instanceof ThrottleGroup ? o : undefined;
}

export function findIoThread(core: SimCore, id: string): IoThread | undefined {
  const o = objectsOf(core).get(id);
  return o instanceof IoThread ? o : undefined;
}

/** qmp_object_add (6.0+: the properties flat beside qom-type and id) */
export function objectAdd(core: SimCore, a: Record<string, unknown>): void {
  const type = a['qom-type'] as string;
  const id = a.id as string;
  if (type !== 'throttle-group' && type !== 'iothread')
    throw generic(`fleece-lab: object type '${type}' is not simulated`);
  const m = objectsOf(core);
  if (m.has(id)) throw generic(`attempt to add duplicate property '${id}' to object (type 'container')`);
  if (type === 'iothread') {
    m.set(id, new IoThread(id));
    return;
  }
  // 5.2's object-add: the properties in 'props'
  if (a.props && typeof a.props === 'object') a = { ...(a.props as Record<string, unknown>), ...a };
  const limits = (a.limits ?? {}) as Record<string, unknown>;
  // the limits struct, or the legacy flat x-bps-* properties (what --object throttle-group,x-bps-total=N sets)
  const num = (k: string) =>
    typeof limits[k] === 'number'
      ? (limits[k] as number)
      : typeof a[`x-${k}`] === 'number'
        ? (a[`x-${k}`] as number)
        : 0;
  m.set(id, new ThrottleGroup(id, num('bps-write'), num('bps-total')));
}

/** qmp_object_del */
export function objectDel(core: SimCore, id: string): void {
  const m = objectsOf(core);
  const g = m.get(id);
  if (!g) throw generic(`object '${id}' not found`);
  if (g instanceof ThrottleGroup && g.users > 0)
    throw generic(text(core.version, 'object.throttleGroupInUse', id));
  m.delete(id);
}
