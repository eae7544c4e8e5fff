import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proposalTemplate } from '../contract/proposals/template.ts';
import { QmpClient } from '../harness/clients/qmp-client.ts';
import { listQemu } from '../harness/qemu/install.ts';

/**
 * fleece-lab as a new user gets it: `npm pack`, the tarball installed into an empty folder outside the
 * checkout, and the commands that need no checkout run there with npx. The dependencies come from npm's
 * cache when it has them (CI's `npm ci` filled it).
 */
const run = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..');
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

let dir: string;
let app: string;

/** `npx fleece-lab ARGS` in the folder: its exit code and what it printed */
async function npx(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run('npx', ['--no', 'fleece-lab', ...args], { cwd: app, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
  }
}

// each test drives several processes on a machine the rest of the suite shares
describe('the packed package in an empty folder', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-pack-'));
    app = path.join(dir, 'app');
    fs.mkdirSync(app);
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: REPO });
    const tarball = path.join(dir, packed.stdout.trim().split('\n').pop()!);
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball],
      { cwd: app },
    );
  }, 120_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it.concurrent('fleece-lab new, then check runs the new proposal as written, and it type-checks', async () => {
    const made = await npx(['new', 'my-api']);
    expect(made.code).toBe(0);
    expect(made.out).toContain('wrote my-api.ts');
    expect(fs.readFileSync(path.join(app, 'my-api.ts'), 'utf8')).toContain("from 'fleece-lab'");
    const [checked, types] = await Promise.all([
      npx(['check', './my-api.ts', '--runs', '30']),
      // the package's types: the proposal type-checks against them, and a wrong claim does not
      (async () => {
        const bad = fs
          .readFileSync(path.join(app, 'my-api.ts'), 'utf8')
          .replace("'misuse-refused',", "'misuse-refused', 'no-such-property',");
        fs.writeFileSync(path.join(app, 'bad-claim.ts'), bad);
        fs.writeFileSync(
          path.join(app, 'tsconfig.json'),
          JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              strict: true,
              noEmit: true,
              skipLibCheck: true,
              types: [],
            },
            files: ['my-api.ts', 'bad-claim.ts'],
          }),
        );
        return run(process.execPath, [TSC, '-p', app], { cwd: app }).then(
          () => '',
          (e: { stdout?: string }) => e.stdout ?? String(e),
        );
      })(),
    ]);
    expect(checked.out).toMatch(/my-api — .*\(vm domain, sim:7\.2, seed 1\): 30 runs/);
    expect(checked.out).toMatch(/holds {2}point-in-time +\(claimed\)/);
    expect(checked.code).toBe(0);
    const typeErrors = types.split('\n').filter((l) => l.includes('error TS'));
    expect(typeErrors).toHaveLength(1);
    expect(typeErrors[0]).toMatch(/^bad-claim\.ts\(\d+,\d+\): error TS2322: Type '"no-such-property"'/);
  });

  it.concurrent('conform runs the bundled runbooks on the simulator in-process and as a process (serve)', async () => {
    for (const target of ['sim:7.2', 'serve:7.2']) {
      const r = await npx(['conform', '--target', target, '--only', '^fleecing/']);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(new RegExp(`${target.replace('.', '\\.')} .*: \\d+ passed, 0 failed`));
    }
  });

  it.concurrent('serve answers QMP on the monitor socket its options name', async () => {
    const sock = path.join(dir, 'qmp.sock');
    const child = execFile(
      'npx',
      [
        '--no',
        'fleece-lab',
        'serve',
        '--chardev',
        `socket,path=${sock},server=on,wait=off,id=c0`,
        '--monitor',
        'chardev=c0',
      ],
      { cwd: app },
    );
    try {
      const deadline = Date.now() + 30_000;
      while (!fs.existsSync(sock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const qmp = await QmpClient.connect(sock);
      const v = (await qmp.execute('query-version')) as { qemu: { major: number; minor: number } };
      expect(`${v.qemu.major}.${v.qemu.minor}`).toBe('7.2');
      await qmp.execute('quit').catch(() => {});
      await qmp.close();
    } finally {
      child.kill();
    }
  });

  it.concurrent('qemu list, and qemu install of a version already in the cache', async () => {
    const list = await npx(['qemu', 'list']);
    expect(list.code).toBe(0);
    const cached = listQemu().find((q) => q.root && q.requested)?.requested;
    if (!cached) return; // nothing installed yet on this machine: installing one takes minutes
    const r = await npx(['qemu', 'install', cached]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('already installed');
  });

  it.concurrent('a proposal that cannot load says why in one line, starting with file:line: the syntax error, the missing export, the field', async () => {
    const good = proposalTemplate('broken');
    const cases: [string, string, RegExp][] = [
      [
        'syntax.ts',
        good.replace('result: z.string(),', 'result: z.string(( ,'),
        /^fleece-lab: \.\/syntax\.ts:\d+:\d+: cannot load the proposal file: Unexpected ","$/,
      ],
      [
        'no-default.ts',
        good.replace('export default defineProposal', 'export const p = defineProposal'),
        /^fleece-lab: \.\/no-default\.ts: the file has no default export/,
      ],
      [
        'missing-import.ts',
        "import { nope } from './helper.ts';\nexport default nope;\n",
        /^fleece-lab: \.\/missing-import\.ts:1: cannot load the proposal file: The requested module '\.\/helper\.ts' does not provide an export named 'nope'$/,
      ],
      [
        'schema.ts',
        good.replace("disksPerCall: 'many'", "disksPerCall: 'lots'"),
        /^fleece-lab: \.\/schema\.ts:\d+:\d+: cannot load the proposal file: proposal '[^']+': capabilities\.disksPerCall: Invalid enum value\. Expected 'one' \| 'many', received 'lots'$/,
      ],
    ];
    fs.writeFileSync(path.join(app, 'helper.ts'), 'export const yes = 1;\n');
    for (const [file, text, want] of cases) {
      fs.writeFileSync(path.join(app, file), text);
      const r = await npx(['check', `./${file}`, '--runs', '1']);
      expect(r.code, file).toBe(2);
      const lines = r.out.trim().split('\n');
      expect(lines, file).toHaveLength(1);
      expect(lines[0]).toMatch(want);
    }
  });
});
