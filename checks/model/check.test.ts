import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DomainKind } from '../../contract/port.ts';
import { bundled } from '../../contract/proposals/index.ts';
import type { Profile } from '../../contract/versions.ts';
import { checkProposal } from './check.ts';
import { loadProposal } from './load-proposal.ts';
import { brokenClaims } from './report.ts';

/**
 * The bundled proposals through the checker: each known flaw is found as a shrunk counterexample, a claim no
 * run reached is not called "holds", misuses are refused cleanly, and job-ids keeps every promise it makes.
 */
const check = async (name: string, runs: number, domain: DomainKind = 'vm', profile: Profile = '7.2') =>
  checkProposal(bundled(name) ?? (await loadProposal(name)), { runs, seed: 7, profile, domain });
const verdicts = async (name: string, runs: number, domain: DomainKind = 'vm') =>
  Object.fromEntries((await check(name, runs, domain)).verdicts.map((v) => [v.property, v]));

describe('fleece-lab check on the bundled proposals', () => {
  it("seed-2013: the seed's teardown is refused, so its clean teardown is never reached — not 'holds'", async () => {
    const r = await check('seed-2013', 200, 'qsd');
    const v = Object.fromEntries(r.verdicts.map((x) => [x.property, x]));
    expect(v['teardown-accepted'].status).toBe('fails');
    expect(v['teardown-accepted'].counterexample!.detail).toMatch(/cannot accept command verb 'complete'/);
    expect(v['teardown-accepted'].counterexample!.ops.length).toBeLessThanOrEqual(2);
    expect(v['clean-teardown'].status).toBe('not-exercised');
    expect(v['clean-teardown'].exercised).toBe(0);
    expect(v['clean-teardown'].reason).toMatch(/no run of \d+ reached it/);
    // a claim nothing tested fails the check as a broken one does
    expect(brokenClaims(r).map((x) => x.property)).toEqual(
      expect.arrayContaining(['teardown-accepted', 'clean-teardown']),
    );
  });

  it('blockcopy-2012: a session is one disk, so a common point in time is not expressible', async () => {
    const v = await verdicts('blockcopy-2012', 100, 'qsd');
    expect(v['common-point-in-time'].status).toBe('not-expressible');
    expect(v['common-point-in-time'].reason).toMatch(/one disk per call/);
  });

  it('backup-begin-6.0: a second client cannot get its own point in time, with the reason', async () => {
    const v = await verdicts('backup-begin-6.0', 100, 'qsd');
    expect(v['concurrent-points-in-time'].status).toBe('not-expressible');
    expect(v['concurrent-points-in-time'].reason).toMatch(/cannot acquire state change lock/);
  });

  it("backup-begin-6.0: libvirt's teardown (cancel before unexport) lets a reader see new data", async () => {
    const v = await verdicts('backup-begin-6.0', 300, 'qsd');
    expect(v['safe-teardown'].status).toBe('fails');
    expect(v['safe-teardown'].counterexample!.detail).toMatch(/data written after the point in time/);
  });

  it('every verdict that holds says how many runs exercised it, never zero', async () => {
    const r = await check('job-ids', 150, 'qsd');
    for (const v of r.verdicts.filter((x) => x.status === 'holds')) {
      expect(v.exercised).toBeGreaterThan(0);
      expect(v.exercised).toBeLessThanOrEqual(v.runs);
    }
    expect(r.domain).toBe('qsd');
    expect(r.coverage.covered).toBe(r.coverage.total);
  });

  for (const profile of ['7.2', '10.0', '11.1'] as const) {
    it(`job-ids on a VM holds every property it claims for 2,000 runs on ${profile}, each exercised`, async () => {
      const r = await checkProposal(bundled('job-ids')!, { runs: 2000, seed: 11, profile, domain: 'vm' });
      for (const v of r.verdicts.filter((x) => x.claimed)) {
        expect([v.property, v.status]).toEqual([v.property, 'holds']);
        expect(v.exercised, v.property).toBeGreaterThan(0);
      }
      expect(r.stats.runs).toBeGreaterThanOrEqual(2000);
      expect(r.coverage.covered).toBe(r.coverage.total);
    }, 300_000);
  }

  it('job-ids on 5.2 (no copy-before-write): concurrent points in time are not expressible, with the reason', async () => {
    const r = await checkProposal(bundled('job-ids')!, { runs: 100, seed: 3, profile: '5.2', domain: 'vm' });
    const v = r.verdicts.find((x) => x.property === 'concurrent-points-in-time')!;
    expect(v.status).toBe('not-expressible');
    expect(v.reason).toMatch(/QEMU 5.2 lacks copy-before-write, snapshot-access/);
  });

  it('blockcopy-2012 on a VM: the pivot leaves the guest on an identical copy, pivot before ready is refused', async () => {
    const r = await check('blockcopy-2012', 300);
    const v = Object.fromEntries(r.verdicts.map((x) => [x.property, x]));
    expect(v['pivot-identical'].status).toBe('holds');
    expect(v['pivot-identical'].exercised).toBeGreaterThan(0);
    expect(v['misuse-refused'].status).toBe('holds');
    expect(r.coverage.uncovered.map((t) => t.event)).not.toContain('waitReady');
  });

  it('misuse-refused: an implementation that crashes on an unknown job id is caught', async () => {
    const r = await check(path.join(import.meta.dirname, 'fixtures/sloppy-ids.ts'), 300, 'qsd');
    const v = r.verdicts.find((x) => x.property === 'misuse-refused')!;
    expect(v.status).toBe('fails');
    expect(v.counterexample!.detail).toMatch(/internal error, not a refusal: TypeError/);
  });

  const CHECKPOINT_CLAIMS = [
    'incremental-complete',
    'incremental-tight',
    'checkpoint-survives-restart',
    'crash-detected',
    'checkpoint-delete-merges',
  ];

  it("checkpoints-6.0 (libvirt 9.0's lowering) keeps every checkpoint promise across deletes, restarts and crashes", async () => {
    const v = await verdicts('checkpoints-6.0', 400);
    for (const p of CHECKPOINT_CLAIMS) {
      expect([p, v[p].status]).toEqual([p, 'holds']);
      expect(v[p].exercised, p).toBeGreaterThan(0);
    }
    expect(v['incremental-tight'].reason).toMatch(/^\d+ of \d+ marked clusters were not written/);
    expect(v['independent-chains'].status).toBe('not-expressible');
    expect(v['independent-chains'].reason).toMatch(/by name only/);
    // what it shares with virDomainBackupBegin: libvirt's teardown order
    expect(v['safe-teardown'].status).toBe('fails');
  }, 120_000);

  it('checkpoint-chains (chains by id, merge on delete, full backup said after a crash) holds every claim', async () => {
    const r = await check('checkpoint-chains', 400);
    for (const v of r.verdicts.filter((x) => x.claimed)) {
      expect([v.property, v.status]).toEqual([v.property, 'holds']);
      expect(v.exercised, v.property).toBeGreaterThan(0);
    }
  }, 120_000);

  it('an API without checkpoints: the checkpoint properties are not expressible, with the reason', async () => {
    const v = await verdicts('job-ids', 30);
    for (const p of [...CHECKPOINT_CLAIMS, 'independent-chains']) {
      expect(v[p].status).toBe('not-expressible');
      expect(v[p].reason).toBe('the API has no checkpoints');
    }
  });

  it('a proposal file with a call but no lowering is refused, naming the field', async () => {
    await expect(loadProposal(path.join(import.meta.dirname, 'fixtures/bad-proposal.ts'))).rejects.toThrow(
      /bad-proposal\.ts 'broken': lower\.begin: call 'begin' has no lowering/,
    );
  });

  it('an unknown proposal name says what is bundled', async () => {
    await expect(loadProposal('nope')).rejects.toThrow(
      /bundled: seed-2013, blockcopy-2012, backup-begin-6.0, job-ids-overlay, job-ids/,
    );
  });
});
