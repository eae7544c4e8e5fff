import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeStatus } from '../../contract/formats/probes.ts';
import { type Feature, PROFILES, type Profile, VERSIONS } from '../../contract/versions.ts';
import { startQsd } from '../../harness/targets/qemu-process.ts';
import { resolveAttachTarget, resolveTarget } from '../../harness/targets/target-spec.ts';
import { loadGolden } from '../conformance/golden.ts';
import { runRunbook } from '../conformance/run-runbook.ts';
import { PROBES } from './catalogue.ts';
import { runbookOf, runProbes } from './run.ts';

/**
 * The probes against real QEMU and the simulator: what each probe says of each real version's recording
 * (written down here, so a change of verdict shows), that every simulator profile says the same, and that
 * each bug switch of the version table, turned the other way on a profile, flips the probe: a probe that
 * cannot come out otherwise is no probe.
 */
const RECORDED: Record<string, Record<Profile, ProbeStatus>> = {
  'hbitmap-status-first-dirty': {
    '5.2': 'not-applicable',
    '7.2': 'present',
    '10.0': 'fixed',
    '11.1': 'fixed',
  },
  'cbw-timeout-uint32': { '5.2': 'not-applicable', '7.2': 'present', '10.0': 'fixed', '11.1': 'fixed' },
  'cve-2024-7409-stray-clients': { '5.2': 'present', '7.2': 'broken', '10.0': 'fixed', '11.1': 'fixed' },
  'cve-2024-7409-handshake-limit': { '5.2': 'present', '7.2': 'fixed', '10.0': 'fixed', '11.1': 'fixed' },
  'cve-2024-7409-max-connections': { '5.2': 'present', '7.2': 'fixed', '10.0': 'fixed', '11.1': 'fixed' },
  'transaction-grouped-up-front': { '5.2': 'present', '7.2': 'present', '10.0': 'fixed', '11.1': 'fixed' },
  'job-ratelimit-early-wakeup': { '5.2': 'present', '7.2': 'present', '10.0': 'fixed', '11.1': 'fixed' },
};

describe('each probe on the recordings of real QEMU', () => {
  it('covers the whole catalogue', () => {
    expect(Object.keys(RECORDED).sort()).toEqual(PROBES.map((p) => p.id).sort());
  });
  for (const p of PROBES)
    for (const v of PROFILES)
      it(`${p.id} on real QEMU ${v}: ${RECORDED[p.id][v]}`, () => {
        const g = loadGolden(v, p.runbook);
        expect(g, `recording of ${p.runbook} for ${v}`).toBeDefined();
        const d = p.decide(g!.transcript);
        expect(d.status).toBe(RECORDED[p.id][v]);
        // a decided probe names the step and what the target answered there
        expect(d.evidence.step).not.toBeNull();
        expect(d.evidence.saw).not.toBe('');
      });
});

describe('each probe on each simulator profile gives the recorded status', () => {
  for (const v of PROFILES)
    it(`sim:${v}`, async () => {
      const r = await runProbes(resolveTarget(`sim:${v}`));
      expect(Object.fromEntries(r.probes.map((p) => [p.id, p.status]))).toEqual(
        Object.fromEntries(PROBES.map((p) => [p.id, RECORDED[p.id][v]])),
      );
    });
});

/**
 * Each switch turned the other way on a profile, and the status it must then give: a bug put into a
 * version that has the fix, or the fix into one that has the bug.
 */
const FLIPS: { probe: string; profile: Profile; feature: Feature; becomes: ProbeStatus }[] = [
  {
    probe: 'hbitmap-status-first-dirty',
    profile: '10.0',
    feature: 'hbitmap-status-first-dirty-bug',
    becomes: 'present',
  },
  {
    probe: 'hbitmap-status-first-dirty',
    profile: '7.2',
    feature: 'hbitmap-status-first-dirty-bug',
    becomes: 'fixed',
  },
  { probe: 'cbw-timeout-uint32', profile: '11.1', feature: 'cbw-timeout-uint32-bug', becomes: 'present' },
  { probe: 'cbw-timeout-uint32', profile: '7.2', feature: 'cbw-timeout-uint32-bug', becomes: 'fixed' },
  {
    probe: 'cve-2024-7409-stray-clients',
    profile: '10.0',
    feature: 'nbd-server-stop-closes-clients',
    becomes: 'present',
  },
  {
    probe: 'cve-2024-7409-stray-clients',
    profile: '5.2',
    feature: 'nbd-server-stop-closes-clients',
    becomes: 'fixed',
  },
  {
    probe: 'cve-2024-7409-stray-clients',
    profile: '11.1',
    feature: 'nbd-server-stop-handshake-hang-bug',
    becomes: 'broken',
  },
  {
    probe: 'cve-2024-7409-stray-clients',
    profile: '7.2',
    feature: 'nbd-server-stop-handshake-hang-bug',
    becomes: 'fixed',
  },
  {
    probe: 'cve-2024-7409-handshake-limit',
    profile: '10.0',
    feature: 'nbd-handshake-limit',
    becomes: 'present',
  },
  {
    probe: 'cve-2024-7409-handshake-limit',
    profile: '5.2',
    feature: 'nbd-handshake-limit',
    becomes: 'fixed',
  },
  {
    probe: 'cve-2024-7409-max-connections',
    profile: '11.1',
    feature: 'nbd-default-max-connections-100',
    becomes: 'present',
  },
  {
    probe: 'cve-2024-7409-max-connections',
    profile: '5.2',
    feature: 'nbd-default-max-connections-100',
    becomes: 'fixed',
  },
  {
    probe: 'transaction-grouped-up-front',
    profile: '7.2',
    feature: 'transaction-tran-api',
    becomes: 'fixed',
  },
  {
    probe: 'transaction-grouped-up-front',
    profile: '10.0',
    feature: 'transaction-tran-api',
    becomes: 'present',
  },
  { probe: 'job-ratelimit-early-wakeup', profile: '7.2', feature: 'job-ratelimit-sleep', becomes: 'fixed' },
  {
    probe: 'job-ratelimit-early-wakeup',
    profile: '11.1',
    feature: 'job-ratelimit-sleep',
    becomes: 'present',
  },
];

describe('a bug switched the other way flips its probe', () => {
  it('every switch of every probe is flipped at least once, and each is a feature of the version table', () => {
    for (const p of PROBES)
      for (const s of p.switches) {
        expect(
          FLIPS.some((f) => f.probe === p.id && f.feature === s.feature),
          `${p.id} ${s.feature}`,
        ).toBe(true);
        // the switch is read where the behaviour is: some profile has it, some does not
        const has = PROFILES.filter((v) => VERSIONS[v].features.has(s.feature));
        expect(has.length > 0 && has.length < PROFILES.length, s.feature).toBe(true);
      }
  });
  for (const f of FLIPS)
    it(`${f.probe}: sim:${f.profile} with ${f.feature} switched: ${RECORDED[f.probe][f.profile]} → ${f.becomes}`, async () => {
      const p = PROBES.find((x) => x.id === f.probe)!;
      expect(f.becomes).not.toBe(RECORDED[f.probe][f.profile]);
      const t = await runRunbook(
        runbookOf(p),
        { kind: 'sim', profile: f.profile, switched: [f.feature] },
        'sim',
      );
      expect(p.decide(t).status).toBe(f.becomes);
    });
});

describe('on a QEMU that is not ours (attach mode)', () => {
  it('a probe whose command hangs some versions for good is not run: inconclusive, and the QEMU still answers', async () => {
    // one client per monitor socket: the endpoint gets a second monitor for the attached run
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-probe-attach-'));
    const sock = path.join(dir, 'second.sock');
    const spec = resolveTarget('serve:7.2').spec('qsd') as { argvPrefix?: string[] };
    const q = await startQsd({
      argvPrefix: spec.argvPrefix,
      extraArgs: ['--chardev', `socket,path=${sock},server=on,wait=off,id=c9`, '--monitor', 'chardev=c9'],
    });
    try {
      const target = await resolveAttachTarget(sock, false);
      const r = await runProbes(target, { only: 'stray-clients' });
      expect(r.probes.map((p) => p.status)).toEqual(['inconclusive']);
      expect(r.probes[0].evidence.saw).toMatch(/nbd-server-stop hangs some QEMU versions for good/);
      expect(await q.qmp.execute('query-block-exports')).toEqual([]);
    } finally {
      await q.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
