/**
 * The command table is well-formed and the command line is made from it: every command has help, its
 * `--help` prints its usage and exits 0, an unknown option is one line and exit 2; only bin/ reads
 * process.argv; and the table loads no command's implementation (`fleece-lab serve` starts fast).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FAILING_CLASSES } from '../contract/formats/divergence-classes.ts';
import { main } from './cli.ts';
import type { Options } from './command.ts';
import { COMMANDS, GROUPS, MAIN_JOB } from './commands.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'bin', 'fleece-lab.js');

/** runs the command line in this process, capturing what it prints */
async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: out.join('\n'), err: err.join('\n') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the command table', () => {
  it('has unique names, each with a summary, and help for every option', () => {
    const names = COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const c of [...COMMANDS, MAIN_JOB]) {
      expect(c.summary.trim(), c.name).not.toBe('');
      expect(c === MAIN_JOB || (c.description ?? '').trim() !== '', `${c.name}: description`).toBe(true);
      for (const [k, o] of Object.entries(c.options as Options)) {
        expect(o.help.trim(), `${c.name} --${k}`).not.toBe('');
        expect(k, `${c.name} --${k}`).toMatch(/^[a-z][a-z0-9-]*$/);
        expect(k === 'help' || o.short === 'h', `${c.name} --${k}: -h/--help belong to the help`).toBe(false);
      }
    }
    // a two-word command belongs to a group, which has its own help
    for (const c of COMMANDS.filter((x) => x.name.includes(' ')))
      expect(Object.keys(GROUPS)).toContain(c.name.split(' ')[0]);
  });

  it('the differential replay fails by default on a wrong simulator, as on an unexplained difference', () => {
    const replay = COMMANDS.find((c) => c.name === 'replay')!;
    const failOn = (replay.options as Options)['fail-on'] as { default?: string };
    expect(failOn.default?.split(',').sort()).toEqual([...FAILING_CLASSES].sort());
    // CI takes the default rather than naming its own classes
    const ci = fs.readFileSync(path.join(ROOT, '.ci', 'versions'), 'utf8');
    expect(ci).not.toMatch(/--fail-on/);
  });

  it('lists every command in the main help, the developer ones apart', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^usage: fleece-lab \[COMMAND\] \[OPTIONS\]/);
    const [pub, dev] = out.split('developer commands');
    for (const c of COMMANDS) {
      const shown = c.name.includes(' ') && !c.dev ? c.name.split(' ')[0] : c.name;
      expect(c.dev ? dev : pub, c.name).toMatch(new RegExp(`\\n  ${shown}  `));
    }
    expect(out).toContain('--sim-only');
  });

  for (const c of COMMANDS) {
    it(`${c.name}: --help prints its usage and exits 0; 'help ${c.name}' prints the same`, async () => {
      const h = await run(['help', ...c.name.split(' ')]);
      expect(h.code).toBe(0);
      expect(h.out).toMatch(new RegExp(`^usage: fleece-lab ${c.name}\\b`));
      for (const k of Object.keys(c.options)) expect(h.out, `--${k}`).toContain(`--${k}`);
      // serve is qemu-storage-daemon: its --help is qsd's own (checked with serve's tests)
      if (c.raw) return;
      for (const flag of ['--help', '-h']) {
        const r = await run([...c.name.split(' '), flag]);
        expect(r.code, flag).toBe(0);
        expect(r.out, flag).toBe(h.out);
        expect(r.err).toBe('');
      }
    });

    if (!c.raw)
      it(`${c.name}: an unknown option is one line and exit 2`, async () => {
        const r = await run([...c.name.split(' '), '--no-such-option']);
        expect(r.code).toBe(2);
        expect(r.out).toBe('');
        const [first, ...more] = r.err.split('\n');
        expect(
          first.startsWith(`${c.errors?.prefix ?? 'fleece-lab'}: Unknown option '--no-such-option'`),
        ).toBe(true);
        // the fuzz runner always printed its usage after the error
        if (c.errors?.helpOnUsageError) expect(more.join('\n')).toContain(`usage: fleece-lab ${c.name}`);
        else expect(more).toEqual([]);
      });
  }

  it('a group alone, or with a word that is not its command, prints its usage and exits 2', async () => {
    for (const argv of [['qemu'], ['qemu', 'frobnicate']]) {
      const r = await run(argv);
      expect(r.code).toBe(2);
      expect(r.out).toMatch(/^usage: fleece-lab qemu install VERSION\|all\n {7}fleece-lab qemu list\n/);
    }
    expect((await run(['qemu', '--help'])).code).toBe(0);
    const r = await run(['qemu', 'install']);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/^usage: fleece-lab qemu install VERSION\|all/);
  });

  it('an unknown command names itself, prints the main help and exits 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^fleece-lab: unknown command 'frobnicate'\n\nusage: fleece-lab \[COMMAND\]/);
  });

  it('the process: exit statuses and output of bin/fleece-lab.js', () => {
    const p = (argv: string[]) =>
      spawnSync(process.execPath, [CLI, ...argv], { cwd: ROOT, encoding: 'utf8' });
    const help = p(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: fleece-lab/);
    const bad = p(['conform', '--target', 'sim:7.2', '--no-such-option']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("fleece-lab: Unknown option '--no-such-option'\n");
    const badVersion = p(['qemu', 'install', '9.9']);
    expect(badVersion.status).toBe(2);
    expect(badVersion.stderr).toBe(
      "fleece-lab qemu install: unknown version '9.9' (known: 5.2, 7.2, 10.0, 11.1, all)\n",
    );
  });
});

/** every source file of the project, relative to its root */
function sources(dir = ROOT, rel = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (['node_modules', '.git', 'golden', 'scratch-dev'].includes(e.name)) return [];
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return sources(path.join(dir, e.name), r);
    return /\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [r] : [];
  });
}

describe('the command line is bin/', () => {
  it('no file outside bin/ reads process.argv (tests and test fixtures excepted)', () => {
    const readers = sources().filter(
      (f) =>
        !f.startsWith('bin/') &&
        !/\.test\.ts$/.test(f) &&
        !f.split('/').includes('fixtures') &&
        /process\.argv/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(readers).toEqual([]);
  });

  it('the table and the dispatcher load no command implementation (serve starts fast)', () => {
    const light = ['bin/cli.ts', 'bin/command.ts', 'bin/commands.ts', 'bin/dev-commands.ts', 'bin/help.ts'];
    const allowed = new Set([...light, 'harness/qemu/install.ts']);
    for (const f of light) {
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      const statics = [...text.matchAll(/^import (?!type )[^;]*? from '([^']+)';$/gms)].map((m) => m[1]);
      for (const s of statics) {
        if (s.startsWith('node:')) continue;
        expect(allowed.has(path.join(path.dirname(f), s)), `${f} imports ${s}`).toBe(true);
      }
    }
  });
});
