import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { conform } from '../checks/conformance/conform.ts';
import { RUNBOOKS } from '../checks/conformance/runbooks/index.ts';
import { inShard, parseShard } from '../checks/conformance/shard.ts';
import { resolveTarget } from '../harness/targets/target-spec.ts';
import { buildMatrix } from './matrix.ts';
import { mergeMatrices, mergeProposals, mergeResults } from './merge.ts';
import { res, tr } from './test-fixtures.ts';

describe('shards', () => {
  it('parses i/n', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    expect(() => parseShard('0/4')).toThrow(/1 <= i <= n/);
    expect(() => parseShard('5/4')).toThrow(/1 <= i <= n/);
    expect(() => parseShard('1-4')).toThrow(/expected i\/n/);
  });

  it('splits a list into n disjoint parts that cover it, balanced', () => {
    const ids = RUNBOOKS.map((r) => r.id);
    for (const n of [1, 2, 3, 7]) {
      const parts = Array.from({ length: n }, (_, i) => inShard(ids, { index: i + 1, count: n }));
      expect(parts.flat().sort()).toEqual([...ids].sort());
      const sizes = parts.map((p) => p.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      // the same split every time
      expect(inShard(ids, { index: 1, count: n })).toEqual(parts[0]);
    }
    expect(inShard(['a', 'b', 'c', 'd', 'e'], { index: 2, count: 2 })).toEqual(['b', 'd']);
  });

  it('conform --shard runs its part; merging the parts gives the unsharded run', async () => {
    const t = resolveTarget('sim:7.2');
    const only = 'bitmaps/';
    const whole = await conform(t, { only });
    const parts = [];
    for (let i = 1; i <= 3; i++) parts.push(await conform(t, { only, shard: { index: i, count: 3 } }));
    expect(parts.map((p) => p.checks.length).reduce((a, b) => a + b)).toBe(whole.checks.length);
    expect(parts[1].checks[0].id).toBe(whole.checks[1].id);
    const merged = mergeResults(
      parts.map((p, i) => ({ file: `p${i}`, results: p })),
      RUNBOOKS.map((r) => r.id),
    );
    expect(merged.checks.map((c) => [c.id, c.status])).toEqual(whole.checks.map((c) => [c.id, c.status]));
  });
});

describe('merge', () => {
  it('refuses results of different targets or disagreeing duplicates', () => {
    const a = res('qemu:7.2.22', '7.2.22', [['x', 'pass']]);
    expect(() =>
      mergeResults([
        { file: 'a', results: a },
        { file: 'b', results: res('qemu:10.0.13', '10.0.13', [['y', 'pass']]) },
      ]),
    ).toThrow(/of qemu:10.0.13/);
    expect(() =>
      mergeResults([
        { file: 'a', results: a },
        { file: 'b', results: res('qemu:7.2.22', '7.2.22', [['x', 'fail']]) },
      ]),
    ).toThrow(/check x differs between a and b/);
    const m = mergeResults([
      { file: 'a', results: a },
      {
        file: 'b',
        results: res('qemu:7.2.22', '7.2.22', [
          ['x', 'pass'],
          ['w', 'skip'],
        ]),
      },
    ]);
    expect(m.checks.map((c) => c.id)).toEqual(['x', 'w']);
    expect(m.durationMs).toBe(20);
  });

  it('merges matrix shards in the given order', () => {
    const shard = (ids: string[]) =>
      buildMatrix({
        createdAt: ids.join(),
        versions: [
          {
            version: '7.2',
            real: {
              results: res(
                'qemu:7.2.22',
                '7.2.22',
                ids.map((id) => [id, 'pass']),
              ),
            },
            sim: {
              results: res(
                'sim:7.2',
                '7.2',
                ids.map((id) => [id, 'pass']),
              ),
            },
          },
        ],
        recording: (_v, id) => tr(id),
        shard: '1/2',
      });
    const m = mergeMatrices(
      [
        { file: 'a', matrix: shard(['b', 'd']) },
        { file: 'b', matrix: shard(['a', 'c']) },
      ],
      ['a', 'b', 'c', 'd'],
    );
    expect(m.rows.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(m.shard).toBeUndefined();
  });

  it('merges proposal reports by name', () => {
    const p = (proposal: string, status: string) => ({ proposal, verdicts: [{ property: 'p', status }] });
    expect(
      mergeProposals(
        [
          { file: 'a', reports: [p('two', 'holds')] },
          { file: 'b', reports: [p('one', 'fails')] },
        ],
        ['one', 'two'],
      ).map((x) => x.proposal),
    ).toEqual(['one', 'two']);
    expect(() =>
      mergeProposals([
        { file: 'a', reports: [p('one', 'holds')] },
        { file: 'b', reports: [p('one', 'fails')] },
      ]),
    ).toThrow(/proposal one differs/);
  });
});
