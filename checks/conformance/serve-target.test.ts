import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { resolveTarget } from '../../harness/targets/target-spec.ts';
import { conform } from './conform.ts';

/**
 * `fleece-lab serve` started exactly like qemu-storage-daemon gives the same status as the in-process
 * simulator on every check (a sixth of the suite here, to keep CI short; `fleece-lab conform --target
 * serve:7.2` runs all of it).
 */
function haveQemuImg(): boolean {
  try {
    execFileSync('qemu-img', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!haveQemuImg())(
  'serve:7.2 against sim:7.2 (skipped without qemu-img, which makes the images)',
  () => {
    it('every check has the same status', { timeout: 600_000 }, async () => {
      const shard = { index: 1, count: 6 };
      const [sim, serve] = await Promise.all([
        conform(resolveTarget('sim:7.2'), { shard }),
        conform(resolveTarget('serve:7.2'), { shard, jobs: 3 }),
      ]);
      const simStatus = new Map(sim.checks.map((c) => [c.id, c.status]));
      const differ = serve.checks
        .filter((c) => !(c.status === 'skip' && c.reason?.includes('qemu-system')))
        .filter((c) => c.status !== simStatus.get(c.id))
        .map((c) => `${c.id}: serve ${c.status} (${c.reason ?? ''}), sim ${simStatus.get(c.id)}`);
      expect(differ).toEqual([]);
      expect(serve.checks.filter((c) => c.status === 'pass').length).toBeGreaterThan(40);
    });
  },
);
