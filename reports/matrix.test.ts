import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../contract/formats/results.ts';
import {
  buildMatrix,
  classifyCell,
  disagreements,
  gateFailures,
  matrixMarkdown,
  summarizeMatrix,
} from './matrix.ts';
import { res, tr } from './test-fixtures.ts';

const NEW = "Cannot find device='nope' nor node-name='nope'";
const OLD = 'Cannot find device=nope nor node_name=nope';

describe('classifyCell', () => {
  const pass = { id: 'c', status: 'pass' as const, durationMs: 1 };
  const fail = { id: 'c', status: 'fail' as const, durationMs: 1, reason: '.steps.1: got x, recorded y' };

  it('agrees when both transcripts are the same, whatever the statuses', () => {
    const c = classifyCell({
      id: 'c',
      version: '7.2',
      real: pass,
      sim: pass,
      realTrace: tr('c', NEW),
      simTrace: tr('c', NEW),
      others: [],
    });
    expect(c).toEqual({ real: 'pass', sim: 'pass', agree: true });
  });

  it('simulator wrong: the simulator differs and every real version answers as this one', () => {
    const c = classifyCell({
      id: 'c',
      version: '7.2',
      real: pass,
      sim: fail,
      realTrace: tr('c', NEW),
      simTrace: tr('c', 'something else'),
      recording: tr('c', NEW),
      others: [{ version: '10.0', trace: tr('c', NEW) }],
    });
    expect(c.agree).toBe(false);
    expect(c.class).toBe('simulator-wrong');
    expect(c.reason).toContain('.steps.1.reply.error.desc (blockdev-backup)');
    expect(c.reason).toContain('"something else"');
    expect(c.reason).toContain('real 10.0 answer as 7.2 does');
  });

  it('simulator wrong, not versions differ: it answers as another real version does, unlike its own (issue 16)', () => {
    const c = classifyCell({
      id: 'c',
      version: '7.2',
      real: pass,
      sim: fail,
      realTrace: tr('c', NEW),
      simTrace: tr('c', OLD),
      recording: tr('c', NEW),
      others: [
        { version: '5.2', trace: tr('c', OLD) },
        { version: '10.0', trace: tr('c', NEW) },
      ],
    });
    expect(c.class).toBe('simulator-wrong');
    expect(c.reason).toContain('sim:7.2 answers as real QEMU 5.2 does');
    expect(c.reason).toContain("its profile has another version's behaviour");
  });

  it('a simulator text no real version has is wrong even where the real versions differ', () => {
    const c = classifyCell({
      id: 'c',
      version: '7.2',
      real: pass,
      sim: fail,
      realTrace: tr('c', NEW),
      simTrace: tr('c', 'invented'),
      others: [{ version: '5.2', trace: tr('c', OLD) }],
    });
    expect(c.class).toBe('simulator-wrong');
    expect(c.reason).toContain('real versions differ here too (5.2:');
  });

  it('unexplained: the real QEMU differs from its own recording', () => {
    const c = classifyCell({
      id: 'c',
      version: '7.2',
      real: fail,
      sim: pass,
      realTrace: tr('c', 'flaky'),
      simTrace: tr('c', NEW),
      recording: tr('c', NEW),
      others: [],
    });
    expect(c.class).toBe('unexplained');
    expect(c.reason).toContain('differs from its own recording');
  });

  it('a known difference (xfail) keeps its reason', () => {
    const c = classifyCell({
      id: 'c',
      version: '7.2',
      real: pass,
      sim: { id: 'c', status: 'xfail', durationMs: 1, reason: 'timing of events' },
      realTrace: tr('c', NEW),
      simTrace: tr('c', 'x'),
      others: [],
    });
    expect(c.class).toBe('simulator-wrong');
    expect(c.reason).toContain('known: timing of events');
  });

  it('without transcripts: statuses decide, a broken real run is unexplained', () => {
    const base = { id: 'c', version: '7.2', others: [] };
    expect(classifyCell({ ...base, real: pass, sim: pass }).agree).toBe(true);
    const broken = classifyCell({
      ...base,
      real: { id: 'c', status: 'fail', durationMs: 1, reason: 'QEMU exited' },
      sim: pass,
      simTrace: tr('c'),
    });
    expect(broken.class).toBe('unexplained');
    expect(broken.reason).toContain('QEMU exited');
    const skip = { id: 'c', status: 'skip' as const, durationMs: 0, reason: 'QEMU 5.2 lacks x' };
    expect(classifyCell({ ...base, real: skip, sim: skip }).agree).toBe(true);
    expect(classifyCell({ ...base, real: skip, sim: pass }).class).toBe('unexplained');
    expect(classifyCell({ ...base, real: undefined, sim: pass }).agree).toBeNull();
  });
});

describe('buildMatrix', () => {
  // a, b: agree everywhere; c: the 7.2 profile has 5.2's text; d: the simulator is plain wrong on 10.0
  const versions = ['5.2', '7.2', '10.0'];
  const realText: Record<string, string> = { '5.2': OLD, '7.2': NEW, '10.0': NEW };
  const rec = (v: string, id: string) => (id === 'b' ? undefined : tr(id, realText[v]));
  const m = buildMatrix({
    createdAt: 'now',
    recording: rec,
    versions: versions.map((v) => ({
      version: v,
      real: {
        results: res(`qemu:${v}.1`, `${v}.1`, [
          ['a', 'pass'],
          ['b', 'skip', 'no recording'],
          ['c', 'pass'],
          ['d', 'pass'],
        ]),
        // the real run kept no transcripts: passing checks stand on the recordings
      },
      sim: {
        results: res(`sim:${v}`, v, [
          ['a', 'pass'],
          ['b', 'skip', 'no recording'],
          ['c', v === '7.2' ? 'fail' : 'pass'],
          ['d', v === '10.0' ? 'fail' : 'pass'],
        ]),
        traces: new Map([
          ['a', tr('a', realText[v])],
          ['c', tr('c', v === '7.2' ? OLD : realText[v])],
          ['d', tr('d', v === '10.0' ? 'Invented' : realText[v])],
        ]),
      },
    })),
  });

  it('classifies each disagreement and nothing else', () => {
    expect(disagreements(m).map((d) => [d.id, d.version, d.class])).toEqual([
      ['c', '7.2', 'simulator-wrong'],
      ['d', '10.0', 'simulator-wrong'],
    ]);
    // both fail the gate: a wrong simulator answer, whether or not another version gives it
    expect(gateFailures(m).map((d) => [d.id, d.version])).toEqual([
      ['c', '7.2'],
      ['d', '10.0'],
    ]);
    expect(m.rows.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(m.versions[0].real?.package).toBe('Debian 5.2.1');
  });

  it('compares real transcripts of consecutive versions', () => {
    const a = m.rows.find((r) => r.id === 'a')!;
    expect(a.versions.map((s) => s.same)).toEqual([false, true]);
    expect(a.versions[0].where).toContain('blockdev-backup: .steps.1.reply.error.desc');
    expect(m.rows.find((r) => r.id === 'b')!.versions.map((s) => s.same)).toEqual([null, null]);
  });

  it('a known difference (xfail) does not fail the gate; an unexplained one does', () => {
    const cell = (sim: CheckResult, realTrace: string) =>
      buildMatrix({
        createdAt: 'now',
        versions: [
          {
            version: '7.2',
            real: {
              results: res('qemu:7.2.1', '7.2.1', [['c', 'pass']]),
              traces: new Map([['c', tr('c', realTrace)]]),
            },
            sim: {
              results: { ...res('sim:7.2', '7.2', []), checks: [sim] },
              traces: new Map([['c', tr('c', 'x')]]),
            },
          },
        ],
      });
    const xfail = cell({ id: 'c', status: 'xfail', durationMs: 1, reason: 'known' }, NEW);
    expect(disagreements(xfail).map((d) => d.class)).toEqual(['simulator-wrong']);
    expect(gateFailures(xfail)).toEqual([]);
    const wrong = cell({ id: 'c', status: 'fail', durationMs: 1, reason: 'differs' }, NEW);
    expect(gateFailures(wrong).map((d) => d.class)).toEqual(['simulator-wrong']);
  });

  it('sums and renders', () => {
    const s = summarizeMatrix(m);
    expect(s.map((x) => [x.agree, x['simulator-wrong'], x['versions-differ'], x.unexplained])).toEqual([
      [4, 0, 0, 0],
      [3, 1, 0, 0],
      [3, 1, 0, 0],
    ]);
    const md = matrixMarkdown(m);
    expect(md).toContain('| c | 7.2 | pass | fail | .steps.1.reply.error.desc (blockdev-backup)');
    expect(md).toContain('### unexplained (0)');
    expect(md).toContain('| d | pass | pass | pass/fail ✗ simulator wrong |');
  });
});
