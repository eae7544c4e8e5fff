import { describe, expect, it } from 'vitest';
import { compareToBaseline } from './baseline.ts';
import type { CheckStatus, Results } from './results.ts';

const results = (checks: [string, CheckStatus][]): Results =>
  ({
    tool: 'fleece-lab',
    kind: 'conformance',
    target: 'sim:7.2',
    qemu: { version: '7.2', package: 'test' },
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1,
    checks: checks.map(([id, status]) => ({ id, title: id, status, durationMs: 1 })),
  }) as unknown as Results;

describe('compareToBaseline', () => {
  it('fails a check that got worse, reports one that got better and one that went missing', () => {
    const v = compareToBaseline(
      results([
        ['a', 'fail'],
        ['b', 'pass'],
      ]),
      results([
        ['a', 'pass'],
        ['b', 'xfail'],
        ['c', 'pass'],
      ]),
    );
    expect(v.worse.map((w) => w.id)).toEqual(['a']);
    expect(v.better.map((w) => w.id)).toEqual(['b']);
    expect(v.missing).toEqual(['c']);
  });

  it('holds a check the baseline does not know to pass or skip', () => {
    const v = compareToBaseline(
      results([
        ['new-fail', 'fail'],
        ['new-pass', 'pass'],
        ['new-skip', 'skip'],
      ]),
      results([]),
    );
    expect(v.worse.map((w) => w.id)).toEqual(['new-fail']);
    expect(v.added.map((a) => a.id)).toEqual(['new-fail', 'new-pass', 'new-skip']);
  });
});
