import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROFILES, versionInfo } from '../../contract/versions.ts';
import { loadGolden, withoutTarget } from './golden.ts';
import { judge } from './known-difference.ts';
import { RECORDING_GAPS, recordItText } from './recording-gaps.ts';
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
    const why = !live ? 'no qemu-storage-daemon 7.2 on PATH' : '';
    // one retry: real QEMU's main loop runs on the wall clock, and a rare event-order race is not a regression
    it.skipIf(why !== '')(`${rb.id}${why ? ` (skipped: ${why})` : ''}`, { retry: 1 }, async ({ expect }) => {
      const [sim, real] = await Promise.all([
        runRunbook(rb, { kind: 'sim', profile: '7.2' }, 'sim:7.2'),
        runRunbook(rb, { kind: 'qemu' }, 'qemu'),
      ]);
      // a known difference excuses only its own step and paths (checks/conformance/known-difference.ts)
      if (known) expect(judge(withoutTarget(sim), withoutTarget(real), known).status).not.toBe('fail');
      else expect(withoutTarget(sim)).toEqual(withoutTarget(real));
    });
  }
});

describe('runbooks: simulator against recorded real QEMU', () => {
  for (const profile of PROFILES) {
    for (const rb of RUNBOOKS) {
      const missing = rb.needs.filter((f) => !versionInfo(profile).features.has(f));
      const golden = loadGolden(profile, rb.id);
      const gap = RECORDING_GAPS.find((g) => g.profile === profile && g.id === rb.id);
      const known = rb.known.find((k) => k.profile === profile);
      const why =
        missing.length > 0
          ? `QEMU ${profile} lacks ${missing.join(', ')}`
          : !golden && gap
            ? `no recording for ${profile}: ${gap.reason}`
            : '';
      // A known difference does not skip the check: everything outside the step and paths it names must
      // still equal the recording, and the difference must still be where it says.
      it.skipIf(why !== '')(
        `${profile} ${rb.id}${why ? ` (skipped: ${why})` : known ? ' (known difference, xfail)' : ''}`,
        async () => {
          expect(golden, recordItText(profile, rb.id)).toBeDefined();
          const sim = await runRunbook(rb, { kind: 'sim', profile }, `sim:${profile}`);
          if (!known) expect(withoutTarget(sim)).toEqual(golden!.transcript);
          else
            expect(judge(withoutTarget(sim), golden!.transcript, known)).toMatchObject({ status: 'xfail' });
        },
      );
    }
  }
});
