import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { side } from '../checks/differential/side.ts';
import type { Observed } from '../checks/model/observe.ts';
import { cmdDifferential, missingCommand } from './differential-cmd.ts';

/**
 * The differential replay runs a VM-domain run on qemu-system-x86_64 and asks that program's schema what it
 * lacks; a qsd-domain run on qemu-storage-daemon. A version where no run reached real QEMU is not a pass.
 */
const obs = (commands: string[]): Observed => ({
  side: 'sim:7.2',
  version: '7.2',
  steps: [],
  events: [],
  commands,
  trace: [],
});
const hasSystem = (() => {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-diffcmd-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(args: Record<string, unknown>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const code = await cmdDifferential(
      {
        jobs: '1',
        shrink: '0',
        'shrink-replays': '2',
        out: path.join(dir, 'out'),
        'fail-on': 'simulator-wrong,unexplained',
        'no-install': true,
        ...args,
      },
      [],
    );
    return { code, out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('replay --traces: the program a domain runs on', () => {
  it('a VM run needs what qemu-system has (cont, stop); a qsd run what qemu-storage-daemon has', () => {
    expect(missingCommand(side('real', '7.2'), obs(['blockdev-add', 'cont', 'stop']), 'vm')).toBeUndefined();
    expect(missingCommand(side('real', '7.2'), obs(['blockdev-add', 'cont', 'stop']), 'qsd')).toBe(
      'QEMU 7.2 lacks cont, stop',
    );
  });

  it.skipIf(!hasSystem)(
    'a saved VM run replays on real qemu-system 7.2, not skipped (skipped without qemu-system-x86_64)',
    async () => {
      const src = path.join(
        import.meta.dirname,
        '../checks/model/scenarios/job-ids.three-points-middle-first.json',
      );
      fs.copyFileSync(src, path.join(dir, 'one.json'));
      const r = await run({ traces: path.join(dir, 'one.json'), versions: '7.2' });
      expect(r.out).toMatch(/7\.2\s+replayed 1 on real 7\.2/);
      expect(r.code, r.out).toBe(0);
    },
    120_000,
  );

  it('a version where no run reached real QEMU is NOT COMPARED, exit 1', async () => {
    const runs = path.join(dir, 'qsd-needs-cont.runs.jsonl');
    // a qsd-domain run of a proposal whose lowering stops the guest: qemu-storage-daemon has no 'stop'
    const s = JSON.parse(
      fs.readFileSync(
        path.join(import.meta.dirname, '../checks/model/scenarios/job-ids.three-points-middle-first.json'),
        'utf8',
      ),
    );
    fs.writeFileSync(runs, `${JSON.stringify({ proposal: 'job-ids', domain: 'qsd', ops: s.ops })}\n`);
    const r = await run({ traces: runs, versions: '7.2' });
    if (/replayed 1 on real/.test(r.out)) return; // the qsd lowering needs nothing qsd lacks: nothing to show here
    expect(r.out).toMatch(/NOT COMPARED: no saved run replayed on real 7\.2/);
    expect(r.code).toBe(1);
  }, 120_000);
});
