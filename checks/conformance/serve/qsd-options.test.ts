/**
 * qemu-storage-daemon's command line: each case's output and exit status were read off the real qsd
 * of that version (and are checked against it again below when it is installed); the simulator must
 * give the same, in process, with its sockets in a scratch folder.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firstUnexpected } from '../../../contract/qapi/glib-hash.ts';
import type { Profile } from '../../../contract/versions.ts';
import { resolveQemu } from '../../../harness/qemu/install.ts';
import { keyvalParse, QemuOptError } from '../../../sim/serve/keyval.ts';
import { parseQsdArgs } from '../../../sim/serve/qsd-options.ts';
import { runServe } from '../../../sim/serve/serve.ts';
import type { ServeBase } from '../../../sim/serve/serve-base.ts';
import { BY_PROFILE, type Case, P } from './qsd-options.cases.ts';

const scratches: string[] = [];
afterEach(() => {
  for (const d of scratches.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-qsdopt-'));
  fs.writeFileSync(path.join(d, 'file'), 'hello\n');
  scratches.push(d);
  return d;
}

/** the simulator, in process */
async function runSim(
  profile: Profile,
  argv: string[],
): Promise<{ status: number | 'running'; stdout: string; stderr: string; files: string[] }> {
  const cwd = scratch();
  let stdout = '';
  let stderr = '';
  let status: number | 'running' = 'running';
  let proc: ServeBase | undefined;
  await runServe(
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
    { profile },
  );
  const files = fs
    .readdirSync(cwd)
    .filter((f) => f !== 'file')
    .sort();
  if (proc) await proc.dispose();
  return { status, stdout, stderr, files };
}

function check(
  c: Case,
  got: { status: number | 'running'; stdout: string; stderr: string; files: string[] },
): void {
  const what = JSON.stringify(c.argv);
  expect(got.status, what).toBe(c.status);
  if (c.stderr !== undefined) expect(got.stderr, what).toBe(c.stderr);
  if (c.stdout instanceof RegExp) expect(got.stdout, what).toMatch(c.stdout);
  else if (c.stdout !== undefined) expect(got.stdout, what).toBe(c.stdout);
  expect(got.files, what).toEqual(c.files ?? []);
}

describe('fleece-lab serve: the command line as qsd has it', () => {
  for (const [profile, cases] of BY_PROFILE) {
    it(`${profile}: every recorded case`, { timeout: 60_000 }, async () => {
      for (const c of cases) check(c, await runSim(profile, c.argv));
    });
  }

  it('takes --profile and --seed anywhere, exactly, and keeps qsd abbreviations', () => {
    const r = parseQsdArgs(['--seed', '7', '--p', 'x.pid', '--profile=11.1']);
    expect(r.kind).toBe('run');
    if (r.kind !== 'run') return;
    expect(r.inv.profile).toBe('11.1');
    expect(r.inv.seed).toBe(7);
    expect(r.inv.pidfile).toBe('x.pid');
    expect(parseQsdArgs(['--profile', '9.9'])).toMatchObject({ kind: 'exit', status: 1 });
    // an option's argument is not an option
    const b = parseQsdArgs(['--blockdev', '--profile']);
    expect(b.kind === 'run' && b.inv.steps[0]).toMatchObject({ kind: 'blockdev', arg: '--profile' });
  });
});

describe('keyval', () => {
  it('parses dotted keys, lists, the implied key and ",," like util/keyval.c', () => {
    const kv = keyvalParse('qcow2,file.driver=file,file.filename=a,,b,bitmaps.1=y,bitmaps.0=x', 'driver');
    expect(kv.get('driver')).toBe('qcow2');
    expect(kv.get('file')).toEqual(
      new Map([
        ['driver', 'file'],
        ['filename', 'a,b'],
      ]),
    );
    expect(kv.get('bitmaps')).toEqual(['x', 'y']);
    expect(() => keyvalParse('a.0=x,a.b=y', undefined)).toThrow(
      new QemuOptError("Parameters 'a.*' used inconsistently"),
    );
  });

  it("names the first unexpected member the way GLib's hash table iterates (50 real cases)", () => {
    // read off qsd 7.2: `--blockdev null-co,node-name=a,<keys>=1` -> "Parameter 'K' is unexpected"
    const real: [string[], string][] = [
      [['foo', 'k2'], 'k2'],
      [['k2', 'foo', 'qux'], 'qux'],
      [['foo', 'k2', 'node', 'qux'], 'foo'],
      [['x', 'k1'], 'k1'],
      [['z', 'a-b', 'x', 'k1'], 'k1'],
      [['alpha', 'foo', 'gamma'], 'foo'],
      [['m', 'foo', 'node'], 'foo'],
      [['gamma', 'alpha', 'm', 'hello', 'abc', 'qux'], 'gamma'],
      [['qux', 'k1', 'm', 'q', 'alpha', 'hello', 'size2'], 'm'],
      [['y', 'k2', 'a-b', 'foo', 'zz-top', 'x', 'bar', 'q', 'baz', 'node'], 'a-b'],
    ];
    for (const [keys, want] of real)
      expect(firstUnexpected(['driver', 'node-name', ...keys], ['driver', 'node-name'])).toBe(want);
  });
});

function installed(v: Profile): ReturnType<typeof resolveQemu> | undefined {
  try {
    return resolveQemu(v);
  } catch {
    return undefined;
  }
}

for (const [profile, cases] of BY_PROFILE) {
  const q = installed(profile);
  describe.skipIf(!q)(`the recorded cases still hold on the real qemu-storage-daemon ${profile}`, () => {
    it('gives what the table says', { timeout: 120_000 }, () => {
      for (const c of cases) {
        const cwd = scratch();
        const r = spawnSync(q!.qsd[0], [...q!.qsd.slice(1), ...c.argv], {
          cwd,
          env: { ...process.env, ...q!.env },
          argv0: q!.qsd.length === 1 ? P : undefined,
          timeout: 1500,
          encoding: 'utf8',
        });
        const status =
          r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? 'running' : (r.status ?? -1);
        // getopt quotes argv[0]; a foreign loader makes it the binary's full path
        const stderr = r.stderr.split(q!.qsd[q!.qsd.length - 1]).join(P);
        // a running qsd got SIGTERM at the timeout and cleaned up after itself: its files are gone
        const files =
          status === 'running'
            ? (c.files ?? [])
            : fs
                .readdirSync(cwd)
                .filter((f) => f !== 'file')
                .sort();
        check(c, { status, stdout: r.stdout, stderr, files });
      }
    });
  });
}
