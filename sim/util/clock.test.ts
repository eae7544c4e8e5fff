import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimClock } from './clock.ts';
import { Rng } from './rng.ts';

describe('deterministic clock', () => {
  it('runs timers in time order, ties in scheduling order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 50 }), (delays) => {
        const c = new SimClock();
        const ran: number[] = [];
        delays.forEach((d, i) => {
          c.schedule(d, () => {
            ran.push(i);
          });
        });
        c.advance(1000);
        const expected = delays
          .map((d, i) => [d, i])
          .sort((a, b) => a[0] - b[0] || a[1] - b[1])
          .map((x) => x[1]);
        expect(ran).toEqual(expected);
        expect(c.now).toBe(1000);
      }),
    );
  });
  it('a timer storm fails loudly instead of spinning', () => {
    const c = new SimClock();
    const again = () => c.schedule(0, again);
    again();
    expect(() => c.advance(0, 1000)).toThrow(/more than 1000 timers/);
  });
  it('timestamps follow simulated time', () => {
    const c = new SimClock(100);
    c.advance(1_500_000_000);
    expect(c.timestamp()).toEqual({ seconds: 101, microseconds: 500000 });
  });
});

describe('seeded randomness', () => {
  it('one seed, one sequence', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 20 }, () => a.u32());
    expect(Array.from({ length: 20 }, () => b.u32())).toEqual(xs);
    expect(Array.from({ length: 20 }, () => c.u32())).not.toEqual(xs);
  });
  it('a zero fault rate draws nothing', () => {
    const a = new Rng(1);
    const before = new Rng(1).u32();
    expect(a.chance(0)).toBe(false);
    expect(a.u32()).toBe(before);
  });
});
