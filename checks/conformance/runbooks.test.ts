import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROFILES, versionInfo } from '../../contract/versions.ts';
import { loadGolden, withoutTarget } from './golden.ts';
import { runRunbook } from './run-runbook.ts';
import { RUNBOOKS } from './runbooks/index.ts';

/**
 * The simulator against real QEMU: live against the machine's qemu 7.2 where it is installed, and
 * against the recordings of every version (conformance/golden) always.
 */
function hostQemuIs72(): boolean {
  try {
    return /version 7\.2\./.test(execFileSync('qemu-storage-daemon', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}
const live = hostQemuIs72();

// Each live check runs its own QEMU: a few at once keep the 2-core machine busy without starving it.
describe.concurrent('runbooks: simulator 7.2 against the live qemu 7.2 of this machine', () => {
  for (const rb of RUNBOOKS) {
    const known = rb.known.find((k) => k.profile === '7.2');
    const why = !live
      ? 'no qemu-storage-daemon 7.2 on PATH'
      : known
        ? `known difference: ${known.reason}`
        : '';
    // one retry: real QEMU's main loop runs on the wall clock, and a rare event-order race is not a regression
    it.skipIf(why !== '')(`${rb.id}${why ? ` (skipped: ${why})` : ''}`, { retry: 1 }, async ({ expect }) => {
      const [sim, real] = await Promise.all([
        runRunbook(rb, { kind: 'sim', profile: '7.2' }, 'sim:7.2'),
        runRunbook(rb, { kind: 'qemu' }, 'qemu'),
      ]);
      expect(withoutTarget(sim)).toEqual(withoutTarget(real));
    });
  }
});

describe('runbooks: simulator against recorded real QEMU', () => {
  for (const profile of PROFILES) {
    for (const rb of RUNBOOKS) {
      const missing = rb.needs.filter((f) => !versionInfo(profile).features.has(f));
      const golden = loadGolden(profile, rb.id);
      const known = rb.known.find((k) => k.profile === profile);
      const why =
        missing.length > 0
          ? `QEMU ${profile} lacks ${missing.join(', ')}`
          : !golden
            ? `no recording for ${profile}`
            : known
              ? `known difference: ${known.reason}`
              : '';
      it.skipIf(why !== '')(`${profile} ${rb.id}${why ? ` (skipped: ${why})` : ''}`, async () => {
        const sim = await runRunbook(rb, { kind: 'sim', profile }, `sim:${profile}`);
        expect(withoutTarget(sim)).toEqual(golden!.transcript);
      });
    }
  }
});
