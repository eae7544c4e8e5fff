import { describe, expect, it } from 'vitest';
import { describeDifference, differences, firstDifference, pathShape, valueAt } from './json-diff.ts';

describe('the JSON diff', () => {
  it('finds every difference depth first, lists by position, and the first one', () => {
    const a = { return: [{ id: 'j', status: 'running' }], x: 1 };
    const b = { return: [{ id: 'j', status: 'paused' }], y: 2 };
    expect(differences(a, b)).toEqual([
      { path: '.return.0.status', a: 'running', b: 'paused' },
      { path: '.x', a: 1, b: undefined },
      { path: '.y', a: undefined, b: 2 },
    ]);
    expect(differences(a, b, 2)).toHaveLength(2);
    expect(firstDifference(a, b)?.path).toBe('.return.0.status');
    expect(firstDifference(a, structuredClone(a))).toBeUndefined();
    expect(firstDifference(1, 2)).toEqual({ path: '(top)', a: 1, b: 2 });
  });

  it('takes a list against an object as one difference', () => {
    expect(differences({ r: [1] }, { r: { 0: 1 } })).toEqual([{ path: '.r', a: [1], b: { 0: 1 } }]);
  });

  it('reads the value at a path, says where, and folds indexes', () => {
    const v = { steps: [{ reply: { error: { desc: 'no' } } }] };
    expect(valueAt(v, '.steps.0.reply.error.desc')).toBe('no');
    expect(valueAt(v, '.steps.1.reply')).toBeUndefined();
    expect(describeDifference({ path: '.x', a: 1, b: undefined }, 'real', 'sim')).toBe(
      '.x: real 1, sim (absent)',
    );
    expect(pathShape('.steps.12.reply.return.0.id', '[]')).toBe('.steps[].reply.return[].id');
  });
});
