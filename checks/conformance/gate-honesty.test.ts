import { describe, expect, it } from 'vitest';
import { resolveTarget } from '../../harness/targets/target-spec.ts';
import { conform } from './conform.ts';
import { type Golden, loadGolden } from './golden.ts';
import { judge, knownStepMismatch } from './known-difference.ts';
import { RECORDING_GAPS } from './recording-gaps.ts';
import { RUNBOOKS } from './runbooks/index.ts';

/**
 * The conformance gate cannot be fooled (issue 16): a wrong answer outside a known difference fails, a
 * known difference excuses only its own step and paths, and a check without a recording fails.
 * Each case injects a deliberately wrong recording (the simulator's answer differs from it exactly as a
 * wrong simulator answer would) and runs the real runner on the simulator.
 */
const byId = (id: string) => RUNBOOKS.find((r) => r.id === id)!;
const clone = <T>(x: T): T => structuredClone(x);

/** a recording of `profile` with one reply changed: what the simulator answers there is now "wrong" */
function wrongAt(profile: string, id: string, step: number): Golden {
  const g = clone(loadGolden(profile, id)!);
  const steps = (g.transcript as { steps: { reply?: unknown }[] }).steps;
  steps[step].reply = { return: { injected: 'a wrong answer' } };
  return g;
}

async function verdict(
  profile: string,
  id: string,
  recordings: (p: string, i: string) => Golden | undefined,
) {
  const r = await conform(resolveTarget(`sim:${profile}`), { runbooks: [byId(id)], recordings });
  return r.checks[0];
}

describe('the conformance gate', () => {
  it('a known difference (xfail) names its step and paths; the simulator still shows it there', async () => {
    for (const rb of RUNBOOKS)
      for (const k of rb.known) {
        const g = loadGolden(k.profile, rb.id);
        expect(g, `${rb.id} ${k.profile}`).toBeDefined();
        expect(knownStepMismatch(k, g!.transcript), `${rb.id} ${k.profile}`).toBe('');
      }
    const c = await verdict('5.2', 'jobs/drive-backup', loadGolden);
    expect(c.status).toBe('xfail');
    expect(c.reason).toContain('excused: step 14, .steps.9.reply');
  });

  it('any other difference in a runbook with a known difference fails it', async () => {
    // step 0 of jobs/drive-backup is outside what the 5.2 known difference excuses
    const c = await verdict('5.2', 'jobs/drive-backup', (p, i) =>
      p === '5.2' && i === 'jobs/drive-backup' ? wrongAt(p, i, 0) : loadGolden(p, i),
    );
    expect(c.status).toBe('fail');
    expect(c.reason).toContain('.steps.0.reply');
    expect(c.reason).toContain('not excused: the known difference excuses only step 14');
    // a difference inside an excused path is still excused
    const inside = await verdict('5.2', 'jobs/drive-backup', (p, i) => wrongAt(p, i, 10));
    expect(inside.status).toBe('xfail');
  });

  it('a known difference that no longer shows where it says fails', () => {
    const rb = byId('jobs/drive-backup');
    const k = rb.known[0];
    const g = loadGolden('5.2', rb.id)!.transcript as { steps: { reply?: unknown }[] };
    const t = clone(g);
    t.steps[10].reply = { return: { other: true } };
    expect(judge(t, g, k)).toMatchObject({ status: 'fail', reason: expect.stringContaining('did not show') });
    expect(judge(t, g, { ...k, step: 13 })).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('misplaced'),
    });
  });

  it('a wrong answer without a known difference fails', async () => {
    const c = await verdict('7.2', 'errors/unknown-command', (p, i) => wrongAt(p, i, 1));
    expect(c.status).toBe('fail');
    expect(c.reason).toMatch(/^\.steps\.1\.reply/);
  });

  it('a check without a recording fails with "record it", unless it is a listed gap', async () => {
    const c = await verdict('7.2', 'errors/unknown-command', () => undefined);
    expect(c.status).toBe('fail');
    expect(c.reason).toContain('record it (fleece-lab record-golden 7.2 --only errors/unknown-command)');
    // every listed gap is a real one: a check that applies to the version and has no recording
    for (const g of RECORDING_GAPS) {
      expect(byId(g.id), g.id).toBeDefined();
      expect(loadGolden(g.profile, g.id), `${g.profile} ${g.id} is recorded: remove the gap`).toBeUndefined();
    }
  });
});
