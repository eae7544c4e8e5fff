import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cmdReplay } from './replay-cmd.ts';

/** `fleece-lab replay SCENARIO`: the outcome is compared with the scenario's, both ways. */
const SCENARIO = path.join(
  import.meta.dirname,
  '../checks/model/scenarios/job-ids.three-points-middle-first.json',
);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-replay-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(file: string): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await cmdReplay({ target: 'sim:7.2' }, [file]), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('replay of a scenario', () => {
  it('the middle-first scenario has its outcome on the simulator', async () => {
    const r = await run(SCENARIO);
    expect(r.out).toMatch(/same outcome as the scenario \(no property fails\)/);
    expect(r.code).toBe(0);
  });

  it('a scenario that expects a failure the run does not have is DIFFERENT (exit 1)', async () => {
    const s = JSON.parse(fs.readFileSync(SCENARIO, 'utf8'));
    const f = path.join(dir, 'wrong-fails.json');
    fs.writeFileSync(f, JSON.stringify({ ...s, fails: 'safe-teardown' }));
    const r = await run(f);
    expect(r.out).toMatch(/DIFFERENT: the scenario has safe-teardown fails/);
    expect(r.code).toBe(1);
  });

  it('a property the run does not reach is DIFFERENT too', async () => {
    const s = JSON.parse(fs.readFileSync(SCENARIO, 'utf8'));
    const f = path.join(dir, 'unreached.json');
    fs.writeFileSync(f, JSON.stringify({ ...s, reaches: ['pivot-identical'] }));
    const r = await run(f);
    expect(r.out).toMatch(/reaches pivot-identical, which this run did not/);
    expect(r.code).toBe(1);
  });

  it('a malformed scenario is refused in one line naming the field', async () => {
    const f = path.join(dir, 'bad.json');
    fs.writeFileSync(f, JSON.stringify({ scenario: 'x', proposal: 'job-ids', domain: 'vm', ops: [] }));
    await expect(run(f)).rejects.toThrow(/bad\.json: versions: /);
  });
});
