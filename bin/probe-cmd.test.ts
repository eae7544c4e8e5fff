import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { PROBES } from '../checks/probes/catalogue.ts';
import { parseProbeResults } from '../contract/formats/probes.ts';
import { main } from './cli.ts';

/**
 * `fleece-lab probe`: the table it prints (a row per probe with its status and upstream fix, then the fixes
 * carried), the JSON (a probes file) and Markdown it writes, its usage errors, and `fleece-lab diff` of two
 * probe files naming a fix lost.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-probe-cmd-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    vi.restoreAllMocks();
  }
}

function hostQemuIs72(): boolean {
  try {
    return /version 7\.2\./.test(execFileSync('qemu-storage-daemon', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

describe('fleece-lab probe', () => {
  const a = path.join(dir, 'sim-10.0.json');
  const b = path.join(dir, 'sim-10.0-lost.json');

  it('prints a row per probe with its status and fix, writes JSON and Markdown', async () => {
    const md = path.join(dir, 'sim-10.0.md');
    const { code, out } = await run(['probe', '--target', 'sim:10.0', '--json', a, '--md', md]);
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toBe('sim:10.0 (QEMU 10.0, fleece-lab simulator)');
    expect(lines[1]).toMatch(/^probe +status +fix +bug +evidence$/);
    for (const p of PROBES) {
      const row = lines.find((l) => l.startsWith(`${p.id} `));
      expect(row, p.id).toBeDefined();
      expect(row).toContain(p.fix.commit.slice(0, 10));
      expect(row).toContain(p.fix.release);
      expect(row).toMatch(/ fixed /);
      expect(row).toMatch(/step \d+ \(/);
    }
    expect(lines.at(-1)).toBe('fixes carried: 7 of 7 fixed');
    const r = parseProbeResults(JSON.parse(fs.readFileSync(a, 'utf8')), a);
    expect(r.kind).toBe('probes');
    expect(r.qemu).toEqual({ version: '10.0', package: 'fleece-lab simulator' });
    expect(r.probes.map((p) => p.id)).toEqual(PROBES.map((p) => p.id));
    const text = fs.readFileSync(md, 'utf8');
    expect(text).toContain('| probe | bug | fix | affected | status | evidence |');
    expect(text).toContain('| sim:10.0 | 10.0 | fleece-lab simulator | – | 7 of 7 fixed |');
  });

  it('--switch puts a bug into a simulator profile, and diff names the fix lost', async () => {
    const { code, out } = await run([
      'probe',
      '--target',
      'sim:10.0',
      '--switch',
      'cbw-timeout-uint32-bug',
      '--only',
      'cbw',
      '--json',
      b,
    ]);
    expect(code).toBe(0);
    expect(out.split('\n')[0]).toBe(
      'sim:10.0 (QEMU 10.0, fleece-lab simulator), switched: cbw-timeout-uint32-bug',
    );
    expect(out).toMatch(/^cbw-timeout-uint32 +present /m);
    const d = await run(['diff', a, b]);
    expect(d.code).toBe(1);
    expect(d.out).toContain('sim:10.0 → sim:10.0: 1 probes changed status (1 fix lost: cbw-timeout-uint32)');
    expect(d.out).toMatch(/\| cbw-timeout-uint32 \| fixed \| present \| \*\*fix lost\*\* \|/);
    expect(d.out).toContain('Only in A: hbitmap-status-first-dirty');
    const back = await run(['diff', b, a]);
    expect(back.code).toBe(0);
    expect(back.out).toContain('| cbw-timeout-uint32 | present | fixed | fix gained |');
  });

  it('refuses a switch that is no feature, and a switch on a real target', async () => {
    const bad = await run(['probe', '--target', 'sim:7.2', '--switch', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('fleece-lab probe: --switch nope: not a feature of the version table');
    const real = await run(['probe', '--target', 'serve:7.2', '--switch', 'cbw-timeout-uint32-bug']);
    expect(real.code).toBe(2);
    expect(real.err).toBe('fleece-lab probe: --switch needs a simulator target (sim:PROFILE), not serve:7.2');
  });

  it.skipIf(!hostQemuIs72())(
    "runs on this machine's real QEMU 7.2 (the default cap of 100 connections is in Debian's 7.2.22)",
    async () => {
      const { code, out } = await run(['probe', '--target', 'qemu', '--only', 'max-connections']);
      expect(code).toBe(0);
      expect(out.split('\n')[0]).toMatch(/^qemu:7\.2\.\d+ \(QEMU 7\.2\.\d+, Debian /);
      expect(out).toMatch(/^cve-2024-7409-max-connections +fixed +c8a76dbd90 9\.1\.0 /m);
    },
  );
});
