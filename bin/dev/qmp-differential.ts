import {
  formatCrashes,
  formatFailure,
  minimizeCrash,
  replaySequence,
  runDifferential,
} from '../../checks/conformance/qmp-differential.ts';
import type { Cmd } from '../../checks/conformance/qmp-sequences.ts';
import type { QemuVersion } from '../../harness/qemu/install.ts';

export interface QmpDifferentialOptions {
  version: string;
  runs: string;
  seed?: string;
  replay?: string;
  'minimize-crashes': boolean;
}

/**
 * `fleece-lab qmp-differential`: random QMP sequences on the simulator and on real qemu-storage-daemon of
 * each version (or one sequence replayed, printed step by step). Exit 1 when a version diverged.
 */
export async function cmdQmpDifferential(o: QmpDifferentialOptions): Promise<number> {
  const versions = o.version.split(',') as QemuVersion[];
  const runs = Number(o.runs);
  const seed = Number(o.seed ?? String(Date.now() % 1_000_000));
  if (o.replay) {
    const seq = JSON.parse(o.replay) as Cmd[];
    for (const version of versions) console.log(`${version}:\n${await replaySequence(version, seq)}`);
    return 0;
  }
  let bad = 0;
  for (const version of versions) {
    const t0 = Date.now();
    const r = await runDifferential({ version, runs, seed });
    if (r.crashes.length) {
      console.log(formatCrashes(r));
      if (o['minimize-crashes']) {
        const min = await minimizeCrash(version, r.crashes[0].sequence);
        console.log(`${version}: smallest crashing sequence found:\n${JSON.stringify(min)}`);
      }
    }
    console.log(`${formatFailure(r)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    if (r.failure) bad++;
  }
  return bad === 0 ? 0 : 1;
}
