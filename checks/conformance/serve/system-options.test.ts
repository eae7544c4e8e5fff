/**
 * qemu-system-x86_64's command line: each case's output, exit status and files were read off the real
 * qemu-system-x86_64 of every version (system-options.cases.json), and are checked against it again below
 * when it is installed; `fleece-lab serve --flavour system` must give the same, in process, with its
 * sockets in a scratch folder.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROFILES, type Profile } from '../../../contract/versions.ts';
import { resolveQemu } from '../../../harness/qemu/install.ts';
import type { ServeBase } from '../../../sim/serve/serve-base.ts';
import { parseSystemArgs } from '../../../sim/serve/system-options.ts';
import { runSystemServe } from '../../../sim/serve/system-serve.ts';
import { pool } from './clients-kit.ts';

interface Expect {
  status: number | 'running';
  stderr?: string;
  stdout?: string;
  /** how a long output (-h) begins */
  stdoutHead?: string;
  files?: string[];
}
interface SystemCase {
  argv: string[];
  expect: Expect;
  by?: Partial<Record<Profile, Expect>>;
}

const CASES: SystemCase[] = JSON.parse(
  fs.readFileSync(new URL('./system-options.cases.json', import.meta.url), 'utf8'),
);

function expected(c: SystemCase, p: Profile): Expect {
  return c.by?.[p] ?? c.expect;
}

/** what the simulator refuses on purpose: it says so in one line and exits 1 */
const NOT_SIMULATED: { what: string; applies: (c: SystemCase, p: Profile) => boolean }[] = [
  { what: '-drive (block devices are -blockdev only)', applies: (c) => c.argv.includes('-drive') },
  {
    what: 'an HMP monitor (-mon mode=readline): QMP only',
    applies: (c, p) => p === '5.2' && c.argv.some((a) => a.includes('mode=readline')),
  },
];

/** -msg timestamp=on puts the wall clock in every line */
function normalise(stderr: string): string {
  return stderr.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/g, '<TIMESTAMP>');
}

interface Outcome {
  status: number | 'running';
  stdout: string;
  stderr: string;
  files: string[];
}

const scratches: string[] = [];
afterEach(() => {
  for (const d of scratches.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-sysopt-'));
  fs.writeFileSync(path.join(d, 'file'), 'hello\n');
  scratches.push(d);
  return d;
}

function listed(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f !== 'file')
    .sort();
}

/** the simulator, in process: what it printed, its exit status or 'running', its files while it runs */
async function runSim(profile: Profile, argv: string[]): Promise<Outcome> {
  const cwd = scratch();
  let stdout = '';
  let stderr = '';
  let status: number | 'running' = 'running';
  let proc: ServeBase | undefined;
  await runSystemServe(
    argv,
    {
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
      cwd,
      pid: 4242,
      exit: (code) => {
        status = code;
      },
      onProcess: (p) => {
        proc = p;
      },
    },
    { profile, relaunch: [] },
  );
  const files = listed(cwd);
  if (proc) await proc.dispose();
  return { status, stdout, stderr: normalise(stderr), files };
}

function check(c: SystemCase, p: Profile, got: Outcome): void {
  const e = expected(c, p);
  const what = `${p} ${JSON.stringify(c.argv)}`;
  expect(got.status, what).toBe(e.status);
  expect(got.stderr, what).toBe(e.stderr ?? '');
  if (e.stdoutHead !== undefined) expect(got.stdout.startsWith(e.stdoutHead), what).toBe(true);
  else expect(got.stdout, what).toBe(e.stdout ?? '');
  expect(got.files, what).toEqual(e.files ?? []);
}

describe('fleece-lab serve --flavour system: the command line as qemu-system-x86_64 has it', () => {
  for (const p of PROFILES) {
    it(`${p}: every recorded case`, { timeout: 120_000 }, async () => {
      for (const c of CASES) {
        const got = await runSim(p, c.argv);
        const refused = NOT_SIMULATED.find((n) => n.applies(c, p));
        if (refused) {
          expect(got.status, `${p} ${c.argv.join(' ')}: ${refused.what}`).toBe(1);
          expect(got.stderr).toMatch(/fleece-lab: .* not simulated\n$/);
          continue;
        }
        check(c, p, got);
      }
    });
  }

  it('takes --profile, --seed and --flavour exactly, and leaves QEMU its -seed', () => {
    const r = parseSystemArgs(['--seed', '7', '-seed', '5', '--profile=11.1', '--flavour', 'system']);
    expect(r.kind).toBe('run');
    if (r.kind !== 'run') return;
    expect(r.config.profile).toBe('11.1');
    expect(r.config.seed).toBe(7);
    expect(parseSystemArgs(['--profile', '9.9'])).toMatchObject({ kind: 'exit', status: 1 });
    // an option's argument is not one of ours
    const n = parseSystemArgs(['-name', '--profile', '-M', 'none']);
    expect(n.kind === 'run' && n.config.lists.name.find(undefined)?.get('guest')).toBe('--profile');
  });
});

function installed(v: Profile): ReturnType<typeof resolveQemu> | undefined {
  try {
    return resolveQemu(v);
  } catch {
    return undefined;
  }
}

/** the real binary: a case still running after `ms` gets SIGTERM (its "terminating" line is dropped) */
function runReal(q: ReturnType<typeof resolveQemu>, argv: string[], ms: number): Promise<Outcome> {
  const cwd = scratch();
  return new Promise((resolve) => {
    const child = spawn(q.system[0], [...q.system.slice(1), ...argv], {
      cwd,
      env: { ...process.env, ...q.env },
      argv0: q.system.length === 1 ? 'qemu-system-x86_64' : undefined,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let running: string[] | undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      running = listed(cwd);
      child.kill('SIGTERM');
    }, ms);
    child.on('close', (code) => {
      clearTimeout(timer);
      const bin = q.system[q.system.length - 1];
      const err = stderr
        .split(bin)
        .join('qemu-system-x86_64')
        .replace(/(\S+ )?qemu-system-x86_64: terminating on signal 15 from pid \d+ \(.*\)\n$/, '');
      // a daemon that got away names itself in its pid file
      const pid = path.join(cwd, 'p.pid');
      if (!running && fs.existsSync(pid)) process.kill(Number(fs.readFileSync(pid, 'utf8')), 'SIGKILL');
      resolve({
        status: running ? 'running' : (code ?? -1),
        stdout,
        stderr: normalise(err),
        files: running ?? listed(cwd),
      });
    });
  });
}

for (const p of PROFILES) {
  const q = installed(p);
  describe.skipIf(!q)(`the recorded cases still hold on the real qemu-system-x86_64 ${p}`, () => {
    it('gives what the table says', { timeout: 300_000 }, async () => {
      // four at a time: a case that starts up waits out its 1.5 s before it is told to go
      const got = await pool(
        CASES.map((c) => () => runReal(q!, c.argv, 1_500)),
        4,
      );
      CASES.forEach((c, i) => {
        check(c, p, got[i]);
      });
    });
  });
}
