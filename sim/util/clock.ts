/**
 * Deterministic time. In process the simulator's time only moves when told to (`advance`), so a run is a
 * pure function of its inputs and seed; `fleece-lab serve` moves it with the wall clock.
 * Time is kept in nanoseconds, as QEMU's QEMU_CLOCK_REALTIME / virtual clocks are.
 */
export interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

export class SimClock {
  private nowNs: number;
  private timers: Timer[] = [];
  private seq = 0;
  /** seconds since the epoch at time 0, for event timestamps */
  readonly epochSeconds: number;

  constructor(epochSeconds = 1_700_000_000) {
    this.nowNs = 0;
    this.epochSeconds = epochSeconds;
  }

  get now(): number {
    return this.nowNs;
  }

  timestamp(): { seconds: number; microseconds: number } {
    const us = Math.floor(this.nowNs / 1000);
    return { seconds: this.epochSeconds + Math.floor(us / 1_000_000), microseconds: us % 1_000_000 };
  }

  schedule(delayNs: number, fn: () => void): Timer {
    const t: Timer = { at: this.nowNs + Math.max(0, delayNs), seq: this.seq++, fn };
    this.timers.push(t);
    return t;
  }

  cancel(t: Timer): void {
    const i = this.timers.indexOf(t);
    if (i >= 0) this.timers.splice(i, 1);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** the next timer due at or before `limit`, earliest first, ties in scheduling order */
  private popDue(limit: number): Timer | undefined {
    let best = -1;
    for (let i = 0; i < this.timers.length; i++) {
      const t = this.timers[i];
      if (t.at > limit) continue;
      if (
        best < 0 ||
        t.at < this.timers[best].at ||
        (t.at === this.timers[best].at && t.seq < this.timers[best].seq)
      )
        best = i;
    }
    if (best < 0) return undefined;
    return this.timers.splice(best, 1)[0];
  }

  /**
   * Run timers due within `ns` from now, then set the time to now + ns. Bounded: a timer storm that
   * schedules more than `maxTimers` fails loudly instead of spinning.
   */
  advance(ns: number, maxTimers = 1_000_000): number {
    const end = this.nowNs + ns;
    let ran = 0;
    for (;;) {
      const t = this.popDue(end);
      if (!t) break;
      this.nowNs = Math.max(this.nowNs, t.at);
      t.fn();
      if (++ran > maxTimers)
        throw new Error(`clock: more than ${maxTimers} timers ran in one advance of ${ns} ns`);
    }
    this.nowNs = end;
    return ran;
  }

  /** Run until no timer is left (or `maxNs` of simulated time passed). Returns the time taken. */
  runUntilIdle(maxNs = 3600e9, maxTimers = 1_000_000): number {
    const start = this.nowNs;
    let ran = 0;
    for (;;) {
      if (this.timers.length === 0) break;
      const next = Math.min(...this.timers.map((t) => t.at));
      if (next - start > maxNs) throw new Error(`clock: still busy after ${maxNs} ns of simulated time`);
      const t = this.popDue(next)!;
      this.nowNs = Math.max(this.nowNs, t.at);
      t.fn();
      if (++ran > maxTimers)
        throw new Error(`clock: more than ${maxTimers} timers ran while waiting for idle`);
    }
    return this.nowNs - start;
  }
}
