import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../contract/formats/scenarios.ts';
import { bundled } from '../../contract/proposals/index.ts';
import { startPort } from '../../harness/start-port.ts';
import { type ResolvedTarget, resolveTarget } from '../../harness/targets/target-spec.ts';
import { replayOps } from './replay.ts';
import { World } from './world.ts';

/**
 * The scenarios (checks/model/scenarios/*.json: runs of the property checker written down with the outcome
 * they must have) replayed on the simulator and on real qemu-system of every version they name: three
 * points in time of one disk with the middle one ended first while the guest writes, a pivot, and the
 * counterexamples of the bundled proposals. A real QEMU missing here skips its case with the reason.
 * `fleece-lab replay checks/model/scenarios/X.json --target T` runs one by hand.
 */
const DIR = path.join(import.meta.dirname, 'scenarios');
const FULL = 256 * 1024;
const SCENARIOS = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, ...parseScenario(fs.readFileSync(path.join(DIR, f), 'utf8'), f) }));

function realTarget(v: string): ResolvedTarget | string {
  try {
    const t = resolveTarget(`system:${v}`);
    return t.profile === v ? t : `QEMU ${v} is not installed here (found ${t.qemu.version})`;
  } catch (e) {
    return `QEMU ${v} is not installed here: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

describe('check runs replayed on the simulator and on real qemu-system', () => {
  it('finds the scenarios', () => expect(SCENARIOS.length).toBeGreaterThanOrEqual(6));
  for (const c of SCENARIOS) {
    const domain = World.domainFor(bundled(c.proposal)!, c.domain, 2, FULL);
    for (const v of c.versions) {
      it(`${c.scenario} (sim:${v})`, async () => {
        const r = await replayOps(
          bundled(c.proposal)!,
          () => startPort(resolveTarget(`sim:${v}`), domain),
          c.ops,
        );
        expect(r.unknown).toBeUndefined();
        expect(r.violated, r.detail).toBe(c.fails);
        expect(r.exercised).toEqual(expect.arrayContaining(c.reaches));
      });
      const t = realTarget(v);
      it.skipIf(typeof t === 'string')(
        `${c.scenario} (real qemu-system ${v}${typeof t === 'string' ? `: skipped, ${t}` : ''})`,
        async () => {
          const r = await replayOps(
            bundled(c.proposal)!,
            () => startPort(t as ResolvedTarget, domain),
            c.ops,
          );
          expect(r.unknown).toBeUndefined();
          expect(r.violated, r.detail).toBe(c.fails);
          expect(r.exercised).toEqual(expect.arrayContaining(c.reaches));
        },
        120_000,
      );
    }
  }
});
