/**
 * include/qemu/ratelimit.h as block jobs use it: a quota of bytes per slice (BLOCK_JOB_SLICE_TIME, 100 ms);
 * going over the quota extends the slice, and the delay is the time until the extended slice ends.
 */
export const BLOCK_JOB_SLICE_TIME_NS = 100_000_000;

export class RateLimit {
  private sliceStart = 0;
  private sliceEnd = 0;
  private dispatched = 0;
  private sliceQuota = 0;

  constructor(private readonly sliceNs = BLOCK_JOB_SLICE_TIME_NS) {}

  /** ratelimit_set_speed: bytes per second; 0 is no limit */
  setSpeed(speed: number): void {
    // slice_quota is a uint64_t: the double is truncated
    this.sliceQuota = speed === 0 ? 0 : Math.max(Math.floor((speed * this.sliceNs) / 1e9), 1);
  }

  /** ratelimit_calculate_delay: account `n` bytes at `now` (ns); returns how long to wait, 0 for not at all */
  calculateDelay(now: number, n: number): number {
    if (this.sliceQuota === 0) return 0;
    if (this.sliceEnd < now) {
      // the previous, possibly extended, slice is over: start a new one
      this.sliceStart = now;
      this.sliceEnd = now + this.sliceNs;
      this.dispatched = 0;
    }
    this.dispatched += n;
    if (this.dispatched < this.sliceQuota) return 0;
    const delaySlices = this.dispatched / this.sliceQuota;
    this.sliceEnd = this.sliceStart + Math.floor(delaySlices * this.sliceNs);
    return this.sliceEnd - now;
  }
}
