import { describe, expect, it } from 'vitest';
import { QEMU_VERSIONS, type QemuVersion, resolveQemu } from '../../harness/qemu/install.ts';
import { formatCrashes, formatFailure, runDifferential } from './qmp-differential.ts';

/**
 * The randomized differential, seeded: random QMP sequences on the simulator and on each installed real
 * qemu-storage-daemon, every reply and each step's events compared. Long runs:
 *   fleece-lab qmp-differential --version 7.2 --runs 1000 --seed 7
 */
const RUNS = 100;
const SEED = 20261126;

function missing(v: QemuVersion): string {
  try {
    resolveQemu(v);
    return '';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

// each version runs its own qemu-storage-daemons, mostly waiting on QMP: the versions run side by side
describe.concurrent('randomized QMP differential: simulator against real qemu-storage-daemon', () => {
  for (const v of QEMU_VERSIONS) {
    const why = missing(v);
    it.skipIf(why !== '')(
      `${v}: ${RUNS} sequences${why ? ` (skipped: ${why})` : ''}`,
      // 100 sequences take 20-90 s a version on a quiet 2-core machine; the four versions share it with the
      // other test files, so the bound is wide: it is there to stop a hang, not to time anything
      { timeout: 300_000 },
      async () => {
        const r = await runDifferential({ version: v, runs: RUNS, seed: SEED });
        // sequences that crash the real QEMU (e.g. a transaction's block-dirty-bitmap-enable on a missing node)
        // are skipped: there is no reply to compare
        if (r.crashes.length > 0) console.log(formatCrashes(r));
        expect(r.failure, formatFailure(r)).toBeUndefined();
      },
    );
  }
});
