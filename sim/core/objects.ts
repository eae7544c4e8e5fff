import type { SimCore } from './core.ts';

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

/** an object the block layer does not use, kept for its id and properties (qemu-system's secret, RAM) */
export class PlainObject {
  constructor(
    readonly id: string,
    readonly qomType: string,
    readonly props: Record<string, unknown>,
  ) {}
}

type SimObject = ThrottleGroup | IoThread | PlainObject;

const objects = new WeakMap<SimCore, Map<string, SimObject>>();

export function objectsOf(core: SimCore): Map<string, SimObject> {
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
