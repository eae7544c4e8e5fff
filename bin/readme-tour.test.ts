import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveQemu } from '../harness/qemu/install.ts';
import { linePattern, missingLines, tourBlocks } from './readme-tour.ts';

/**
 * The README's tour works in the order it gives, as a new user would try it (issue 16): every command of
 * every marked tour block (bin/readme-tour.ts says how blocks are marked) runs in order in one scratch
 * folder, and its output must still look as the README shows it — the same lines in the same order, any
 * number allowed to differ. A `real` block runs where each version it names is installed (CI has all four).
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = tourBlocks(README);

/** why a real QEMU version cannot run here ('' when it can: PATH, or a root in the cache) */
function lacking(v: string): string {
  try {
    resolveQemu(v);
    return '';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** a command line in bash, stdout and stderr together, bounded */
function run(
  command: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ out: string; status: number | null }> {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-c', `${command} 2>&1`], { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => chunks.push(b));
    const timer = setTimeout(() => p.kill('SIGKILL'), 280_000);
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ out: Buffer.concat(chunks).toString('utf8'), status });
    });
  });
}

/**
 * The scratch folder: the repository's files by symbolic link, except reports/latest (what the tour writes);
 * `npx fleece-lab` and `fleece-lab` run this checkout's command line. Real QEMU is what the machine has (on
 * CI: 7.2 from apt and the roots .ci/roots readies).
 */
function scratch(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-tour-'));
  for (const e of fs.readdirSync(ROOT))
    if (e !== 'reports' && e !== '.git') fs.symlinkSync(path.join(ROOT, e), path.join(dir, e));
  fs.mkdirSync(path.join(dir, 'reports'));
  for (const e of fs.readdirSync(path.join(ROOT, 'reports')))
    if (e !== 'latest') fs.symlinkSync(path.join(ROOT, 'reports', e), path.join(dir, 'reports', e));
  const bin = path.join(dir, '.tour-bin');
  fs.mkdirSync(bin);
  const cli = path.join(ROOT, 'bin', 'fleece-lab.js');
  const realNpx = spawnSync('bash', ['-c', 'command -v npx'], { encoding: 'utf8' }).stdout.trim();
  fs.writeFileSync(
    path.join(bin, 'npx'),
    `#!/bin/sh\nif [ "$1" = fleece-lab ]; then shift; exec node '${cli}' "$@"; fi\nexec '${realNpx}' "$@"\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(bin, 'fleece-lab'), `#!/bin/sh\nexec node '${cli}' "$@"\n`, { mode: 0o755 });
  return {
    dir,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  };
}

describe('README tour: marked blocks are read and compared by structure', () => {
  it('has tour blocks, each with commands', () => {
    expect(
      blocks.length,
      'no <!-- tour: sim --> or <!-- tour: real V --> block in README.md',
    ).toBeGreaterThan(0);
    expect(blocks.some((b) => b.mode === 'sim')).toBe(true);
    const [b] = tourBlocks(
      'x\n<!-- tour: real 11.1 7.2 -->\n\n```\n$ npx fleece-lab a \\\n  --b\nshown\n$ c\n```\n',
    );
    expect(b).toMatchObject({ mode: 'real', versions: ['11.1', '7.2'], line: 2 });
    expect(b.commands).toEqual([
      { command: 'npx fleece-lab a --b', expected: ['shown'] },
      { command: 'c', expected: [] },
    ]);
  });

  it('numbers may differ, words and order may not', () => {
    const shown = [
      'qsd:7.2.22: safe-teardown fails: byte 0 is 0x20, ...',
      'same outcome as recorded (safe-teardown)',
    ];
    expect(
      missingLines(
        shown,
        'qsd:10.0.13: safe-teardown fails: byte 0 is 0x1f, more\nsame outcome as recorded (safe-teardown)\n',
      ),
    ).toEqual([]);
    // what a new user got before counterexamples were saved: the check fails
    expect(
      missingLines(shown, 'fleece-lab: ENOENT: no such file or directory, open reports/latest/traces/x.json'),
    ).toEqual(shown);
    expect(missingLines([...shown].reverse(), shown.join('\n'))).toHaveLength(1);
    expect(linePattern('...')).toBeUndefined();
    expect(
      linePattern('  holds  point-in-time (claimed) in all 181 of 287 runs')!.test(
        '  holds  point-in-time (claimed) in all 9 of 12 runs',
      ),
    ).toBe(true);
  });
});

describe.sequential('README tour: the commands in order', () => {
  // made when the first command runs: a filtered run that skips every command leaves nothing behind
  let s: ReturnType<typeof scratch> | undefined;
  beforeAll(() => {
    s = scratch();
  });
  afterAll(() => {
    if (s) fs.rmSync(s.dir, { recursive: true, force: true });
  });
  for (const b of blocks) {
    const why = b.versions
      .map(lacking)
      .filter((w) => w !== '')
      .join('; ');
    for (const c of b.commands) {
      it.skipIf(why !== '')(
        `README line ${b.line}: $ ${c.command}${why ? ` (skipped: ${why})` : ''}`,
        { timeout: 300_000 },
        async () => {
          // asynchronously: a command may run for a minute, and the test worker must keep answering meanwhile
          const r = await run(c.command, s!.dir, s!.env);
          const out = r.out;
          const missing = missingLines(c.expected, out);
          expect(
            missing,
            `shown in the README but not printed (exit ${r.status}):\n${out.slice(-4000)}`,
          ).toEqual([]);
        },
      );
    }
  }
});
