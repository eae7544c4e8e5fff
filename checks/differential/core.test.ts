import { describe, expect, it } from 'vitest';
import { FAILING_CLASSES } from '../../contract/formats/divergence-classes.ts';
import { classify } from './classify.ts';
import { multisetGap } from './compare.ts';
import { ddmin } from './ddmin.ts';
import { settle } from './settle.ts';
import { pairsOf } from './side.ts';

/** The differential core on its own: shrinking, settling, the class decision, the pairs, event multisets. */
describe('differential core', () => {
  it('ddmin keeps a 1-minimal sub-sequence within its bound', async () => {
    const items = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const budget = { left: 100 };
    const m = await ddmin(items, async (c) => c.includes(3) && c.includes(11), budget);
    expect(m).toEqual([3, 11]);
    const tight = { left: 2 };
    const partial = await ddmin(items, async (c) => c.includes(3) && c.includes(11), tight);
    expect(tight.left).toBe(0);
    expect(partial).toContain(3);
    expect(partial).toContain(11);
  });

  it('settle shrinks within its bound, then replays once more', async () => {
    const seen: number[][] = [];
    const reproduce = async (c: number[]) => {
      seen.push(c);
      return c.includes(4) ? `diverges at ${c.indexOf(4)}` : undefined;
    };
    const s = await settle({ items: [1, 2, 3, 4, 5], reproduce, shrink: { tests: 50 } });
    expect(s).toEqual({ items: [4], again: 'diverges at 0', boundReached: false });
    expect(seen.at(-1)).toEqual([4]);
    const once = await settle({ items: [1, 2], reproduce });
    expect(once).toEqual({ items: [1, 2], again: undefined, boundReached: false });
    const tight = await settle({ items: [1, 2, 3, 4, 5], reproduce, shrink: { tests: 1 } });
    expect(tight.boundReached).toBe(true);
  });

  it('classifies: unexplained, simulator wrong, versions differ, both; which classes fail the gate', () => {
    expect(classify({ established: false })).toBe('unexplained');
    expect(classify({ established: true, pair: 'sim-vs-real' })).toBe('simulator-wrong');
    // a simulator that differs from its own real QEMU is wrong even where it answers as another version
    // does: "versions differ" needs every profile to equal its own real QEMU (issue 16)
    expect(classify({ established: true, pair: 'real-vs-real', simWrongAt: [] })).toBe('versions-differ');
    expect(classify({ established: true, pair: 'real-vs-real', simWrongAt: ['sim:5.2'] })).toBe('both');
    expect([...FAILING_CLASSES].sort()).toEqual(['both', 'simulator-wrong', 'unexplained']);
  });

  it('pairs each real QEMU with its simulator, then consecutive real versions', () => {
    expect(pairsOf(['5.2', '7.2', '10.0']).map(([a, b]) => `${a.key} ${b.key}`)).toEqual([
      'real:5.2 sim:5.2',
      'real:7.2 sim:7.2',
      'real:10.0 sim:10.0',
      'real:5.2 real:7.2',
      'real:7.2 real:10.0',
    ]);
  });

  it('compares events as a multiset', () => {
    expect(multisetGap(['a', 'b', 'a'], ['a', 'b'], (x) => x)).toEqual({ a: ['a'], b: [] });
    expect(multisetGap([{ e: 1 }], [{ e: 1 }, { e: 2 }])).toEqual({ a: [], b: [{ e: 2 }] });
  });
});
