import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundled } from '../../contract/proposals/index.ts';
import type { Profile } from '../../contract/versions.ts';
import { checkProposal } from './check.ts';
import { loadProposal } from './load-proposal.ts';

/**
 * The bundled proposals through the checker: each known flaw is found as a shrunk counterexample, and
 * job-ids keeps every promise it makes.
 */
const verdict = async (name: string, runs: number, profile: Profile = '7.2') => {
  const r = await checkProposal(bundled(name)!, { runs, seed: 7, profile });
  return Object.fromEntries(r.verdicts.map((v) => [v.property, v]));
};

describe('fleece-lab check on the bundled proposals', () => {
  it("seed-2013: the seed's teardown is refused — a backup job cannot complete", async () => {
    const v = await verdict('seed-2013', 200);
    expect(v['teardown-accepted'].status).toBe('fails');
    expect(v['teardown-accepted'].counterexample!.detail).toMatch(/cannot accept command verb 'complete'/);
    expect(v['teardown-accepted'].counterexample!.ops).toHaveLength(1);
  });

  it('blockcopy-2012: disk-by-disk starts are not one point in time', async () => {
    const v = await verdict('blockcopy-2012', 300);
    expect(v['common-point-in-time'].status).toBe('fails');
    const ops = v['common-point-in-time'].counterexample!.ops;
    const start = ops.find((o) => o.op === 'start');
    expect(start && start.op === 'start' && start.disks.length).toBe(2);
    expect(start && start.op === 'start' && start.inject.length).toBe(1);
  });

  it('backup-begin-6.0: a second client cannot get its own point in time, with the reason', async () => {
    const v = await verdict('backup-begin-6.0', 200);
    expect(v['concurrent-points-in-time'].status).toBe('not-expressible');
    expect(v['concurrent-points-in-time'].reason).toMatch(/cannot acquire state change lock/);
  });

  it("backup-begin-6.0: libvirt's teardown (cancel before unexport) lets a reader see new data", async () => {
    const v = await verdict('backup-begin-6.0', 300);
    expect(v['safe-teardown'].status).toBe('fails');
    expect(v['safe-teardown'].counterexample!.detail).toMatch(/data written after the point in time/);
  });

  for (const profile of ['7.2', '10.0', '11.1'] as const) {
    it(`job-ids holds every property it claims for 2,000 runs on ${profile}`, async () => {
      const r = await checkProposal(bundled('job-ids')!, { runs: 2000, seed: 11, profile });
      for (const v of r.verdicts.filter((x) => x.claimed))
        expect([v.property, v.status]).toEqual([v.property, 'holds']);
      expect(r.stats.runs).toBeGreaterThanOrEqual(2000);
    }, 240_000);
  }

  it('a proposal file with a call but no lowering is refused, naming the field', async () => {
    await expect(loadProposal(path.join(import.meta.dirname, 'fixtures/bad-proposal.ts'))).rejects.toThrow(
      /bad-proposal\.ts 'broken': lower\.begin: call 'begin' has no lowering/,
    );
  });

  it('an unknown proposal name says what is bundled', async () => {
    await expect(loadProposal('nope')).rejects.toThrow(
      /bundled: seed-2013, blockcopy-2012, backup-begin-6.0, job-ids/,
    );
  });
});
