/**
 * Persistent dirty bitmaps in qcow2 images: the simulator (in process, real files) against real
 * qemu-storage-daemon on copies of the same image — what query-named-block-nodes shows after opening,
 * and what qemu-img info/check show after the node is closed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveQemu } from '../../../harness/qemu/install.ts';
import { openQcow2 } from '../../../sim/image/qcow2.ts';
import { hasQemu, makeTempDir, QEMU_IMG, QEMU_IO, run, runOk } from '../../../sim/image/test-support.ts';
import { createSim } from '../../../sim/sim.ts';

const QSD = '/usr/bin/qemu-storage-daemon';
type Profile = '5.2' | '7.2' | '10.0' | '11.1';
const SERVE = ['node', join(dirname(fileURLToPath(import.meta.url)), '../../../bin/fleece-lab.js'), 'serve'];
const NBDINFO = '/usr/bin/nbdinfo';

interface Real {
  profile: Profile;
  qsd: string[];
  env: NodeJS.ProcessEnv;
}

const reals: Real[] = [];
if (hasQemu && existsSync(QSD)) reals.push({ profile: '7.2', qsd: [QSD], env: {} });
for (const v of ['5.2', '10.0', '11.1'] as const) {
  try {
    const q = resolveQemu(v);
    reals.push({ profile: v, qsd: q.qsd, env: q.env });
  } catch {
    // not installed
  }
}

const tmp = makeTempDir('fleece-qcow2-bitmaps-');
afterAll(() => tmp.remove());

type Cmd = { execute: string; arguments?: Record<string, unknown> };

/** Runs the commands on a real qsd (or `fleece-lab serve`) over a stdio monitor, then quit; the replies in order. */
function realSession(r: Real, cwd: string, cmds: Cmd[]): unknown[] {
  const input = [{ execute: 'qmp_capabilities' }, ...cmds, { execute: 'quit' }]
    .map((c) => `${JSON.stringify(c)}\n`)
    .join('');
  const [bin, ...pre] = r.qsd;
  const p = spawnSync(bin, [...pre, '--chardev', 'stdio,id=m', '--monitor', 'm'], {
    cwd,
    input,
    encoding: 'utf8',
    timeout: 10_000,
    env: { ...process.env, ...r.env },
  });
  const replies = p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((m) => 'return' in m || 'error' in m)
    .map((m) => ('return' in m ? m.return : { error: (m.error as { desc: string }).desc }));
  // drop qmp_capabilities and quit
  return replies.slice(1, 1 + cmds.length);
}

function simSession(profile: Profile, cwd: string, cmds: Cmd[]): unknown[] {
  const sim = createSim({ profile, flavour: 'qsd', fs: 'real', cwd });
  return cmds.map((c) => {
    const r = sim.execute(c.execute, c.arguments) as Record<string, unknown>;
    return 'return' in r ? r.return : { error: (r.error as { desc: string }).desc };
  });
}

const open = (file: string): Cmd => ({
  execute: 'blockdev-add',
  arguments: { driver: 'qcow2', 'node-name': 'q', file: { driver: 'file', filename: file } },
});
const close: Cmd = { execute: 'blockdev-del', arguments: { 'node-name': 'q' } };
const query: Cmd = { execute: 'query-named-block-nodes', arguments: { flat: true } };

/** The dirty-bitmaps of nodes q and r in each query reply; other replies as they are. */
function view(replies: unknown[]): unknown[] {
  return replies.map((r) =>
    Array.isArray(r)
      ? (r as Record<string, unknown>[])
          .filter((n) => n['node-name'] === 'q' || n['node-name'] === 'r')
          .map((n) => [n['node-name'], n['dirty-bitmaps']])
      : r,
  );
}

function info(file: string): unknown {
  const j = JSON.parse(runOk(QEMU_IMG, ['info', '-U', '--output=json', file])) as Record<string, unknown>;
  delete j.filename;
  // disk usage: QEMU punches holes where we write zeroes and writes whole metadata clusters where we
  // write the changed bytes; the contents are compared byte for byte instead (sameBytes)
  delete j['actual-size'];
  return j;
}

/** The image files byte for byte (the simulator places every cluster where QEMU does). */
function sameBytes(a: string, b: string): boolean {
  return readFileSync(a).equals(readFileSync(b));
}

function check(file: string): string {
  const r = run(QEMU_IMG, ['check', file]);
  return `${r.code} ${r.stdout}${r.stderr}`;
}

/** An image with two bitmaps (b0 enabled, b1 disabled at 128k) and some writes recorded in b0. */
function baseImage(name: string): string {
  const img = tmp.path(name);
  runOk(QEMU_IMG, ['create', '-q', '-f', 'qcow2', img, '4M']);
  runOk(QEMU_IMG, ['bitmap', '--add', img, 'b0']);
  runOk(QEMU_IMG, ['bitmap', '--add', '-g', '128k', '--disable', img, 'b1']);
  runOk(QEMU_IO, ['-f', 'qcow2', '-c', 'write 0 64k', '-c', 'write 1M 200k', '-c', 'write 3M 1k', img]);
  return img;
}

/** Runs the same session on the simulator and on real qsd, each on its own copy of `img`. */
function compare(r: Real, img: string, tag: string, cmds: (file: string) => Cmd[]) {
  const simFile = tmp.path(`${tag}-sim.qcow2`);
  const realFile = tmp.path(`${tag}-real.qcow2`);
  copyFileSync(img, simFile);
  copyFileSync(img, realFile);
  const sim = view(simSession(r.profile, tmp.dir, cmds(simFile)));
  const real = view(realSession(r, tmp.dir, cmds(realFile)));
  return { sim, real, simFile, realFile };
}

describe.skipIf(reals.length === 0)('qcow2 persistent bitmaps vs real qemu-storage-daemon', () => {
  const base = hasQemu ? baseImage('base.qcow2') : '';

  for (const r of reals) {
    it(`${r.profile}: opening loads the bitmaps; closing stores them as QEMU does`, () => {
      const c = compare(r, base, `load-${r.profile}`, (f) => [
        open(f),
        query,
        { execute: 'block-dirty-bitmap-add', arguments: { node: 'q', name: 'n1', persistent: true } },
        {
          execute: 'block-dirty-bitmap-add',
          arguments: { node: 'q', name: 'n2', persistent: true, granularity: 512, disabled: true },
        },
        { execute: 'block-dirty-bitmap-merge', arguments: { node: 'q', target: 'n2', bitmaps: ['b0'] } },
        { execute: 'block-dirty-bitmap-add', arguments: { node: 'q', name: 'tmp' } },
        query,
        close,
      ]);
      expect(c.sim).toEqual(c.real);
      expect((c.real[1] as [string, unknown[]][])[0][1].length).toBe(2);
      expect(info(c.simFile)).toEqual(info(c.realFile));
      expect(check(c.simFile)).toEqual(check(c.realFile));
      expect(sameBytes(c.simFile, c.realFile)).toBe(true);
      // the stored data: reopened, the counts match
      const again = compare(r, c.realFile, `reload-${r.profile}`, (f) => [open(f), query, close]);
      const mine = view(simSession(r.profile, tmp.dir, [open(c.simFile), query, close]));
      expect(mine).toEqual(again.real);
      expect(again.sim).toEqual(again.real);
      expect(sameBytes(again.simFile, again.realFile)).toBe(true);
    });

    it(`${r.profile}: remove, clear and disable are stored; an NBD export can use a loaded bitmap`, () => {
      const sock = tmp.path(`nbd-${r.profile}.sock`);
      const c = compare(r, base, `edit-${r.profile}`, (f) => [
        open(f),
        { execute: 'block-dirty-bitmap-remove', arguments: { node: 'q', name: 'b1' } },
        { execute: 'block-dirty-bitmap-disable', arguments: { node: 'q', name: 'b0' } },
        { execute: 'block-dirty-bitmap-add', arguments: { node: 'q', name: 'b1', persistent: true } },
        { execute: 'nbd-server-start', arguments: { addr: { type: 'unix', data: { path: sock } } } },
        {
          execute: 'block-export-add',
          arguments: { type: 'nbd', id: 'e', 'node-name': 'q', bitmaps: ['b0'] },
        },
        query,
        { execute: 'block-export-del', arguments: { id: 'e' } },
        { execute: 'nbd-server-stop' },
        { execute: 'block-dirty-bitmap-clear', arguments: { node: 'q', name: 'b0' } },
        close,
      ]);
      expect(c.sim).toEqual(c.real);
      expect(info(c.simFile)).toEqual(info(c.realFile));
      expect(check(c.simFile)).toEqual(check(c.realFile));
      expect(sameBytes(c.simFile, c.realFile)).toBe(true);
    });

    it(`${r.profile}: a bitmap left IN_USE loads inconsistent and stays IN_USE`, () => {
      const img = tmp.path(`inuse-${r.profile}.qcow2`);
      copyFileSync(base, img);
      // opened read-write and never stored: what a crashed QEMU leaves behind
      const q = openQcow2(img, { readOnly: false });
      expect(q.loadBitmaps().map((b) => b.name)).toEqual(['b0', 'b1']);
      q.close();
      const flags = (info(img) as { 'format-specific': { data: { bitmaps: { flags: string[] }[] } } })[
        'format-specific'
      ].data.bitmaps.map((b) => b.flags);
      expect(flags).toEqual([['in-use', 'auto'], ['in-use']]);
      const c = compare(r, img, `incons-${r.profile}`, (f) => [
        open(f),
        query,
        { execute: 'block-dirty-bitmap-add', arguments: { node: 'q', name: 'n', persistent: true } },
        close,
      ]);
      expect(c.sim).toEqual(c.real);
      expect(info(c.simFile)).toEqual(info(c.realFile));
      expect(check(c.simFile)).toEqual(check(c.realFile));
      expect(sameBytes(c.simFile, c.realFile)).toBe(true);
    });
  }

  for (const r of reals) {
    it(`${r.profile}: inconsistent and read-only bitmaps refuse what QEMU refuses`, () => {
      const inuse = tmp.path(`cmds-inuse-${r.profile}.qcow2`);
      copyFileSync(base, inuse);
      const q = openQcow2(inuse, { readOnly: false });
      q.loadBitmaps();
      q.close();
      const ro = tmp.path(`cmds-ro-${r.profile}.qcow2`);
      copyFileSync(base, ro);
      const bm = (cmd: string, node: string, name: string): Cmd => ({
        execute: `block-dirty-bitmap-${cmd}`,
        arguments: { node, name },
      });
      const merge = (node: string, target: string, src: string): Cmd => ({
        execute: 'block-dirty-bitmap-merge',
        arguments: { node, target, bitmaps: [src] },
      });
      const session = (tag: string): Cmd[] => {
        const a = tmp.path(`cmds-a-${tag}-${r.profile}.qcow2`);
        const b = tmp.path(`cmds-b-${tag}-${r.profile}.qcow2`);
        copyFileSync(inuse, a);
        copyFileSync(ro, b);
        const cmds: Cmd[] = [open(a)];
        cmds.push({
          execute: 'blockdev-add',
          arguments: {
            driver: 'qcow2',
            'node-name': 'r',
            'read-only': true,
            file: { driver: 'file', filename: b },
          },
        });
        for (const n of ['q', 'r']) {
          cmds.push(
            { execute: 'block-dirty-bitmap-add', arguments: { node: n, name: 'x' } },
            bm('clear', n, 'b0'),
            bm('enable', n, 'b1'),
            bm('disable', n, 'b0'),
            merge(n, 'x', 'b0'),
            merge(n, 'b0', 'x'),
            bm('remove', n, 'b1'),
          );
        }
        cmds.push(query, close, { execute: 'blockdev-del', arguments: { 'node-name': 'r' } });
        return cmds;
      };
      const sim = view(simSession(r.profile, tmp.dir, session('sim')));
      const real = view(realSession(r, tmp.dir, session('real')));
      expect(sim).toEqual(real);
      expect(real.filter((x) => x && typeof x === 'object' && 'error' in x).length).toBe(8);
      for (const f of ['a', 'b'])
        expect(
          sameBytes(
            tmp.path(`cmds-${f}-sim-${r.profile}.qcow2`),
            tmp.path(`cmds-${f}-real-${r.profile}.qcow2`),
          ),
        ).toBe(true);
    });

    it(`${r.profile}: serve stores the bitmaps on quit (5.2 did not) as qsd does`, () => {
      const serve: Real = { profile: r.profile, qsd: [...SERVE, '--profile', r.profile], env: {} };
      const cmds = (f: string): Cmd[] => [
        open(f),
        { execute: 'block-dirty-bitmap-add', arguments: { node: 'q', name: 'n1', persistent: true } },
        { execute: 'block-dirty-bitmap-merge', arguments: { node: 'q', target: 'n1', bitmaps: ['b0'] } },
      ];
      const simFile = tmp.path(`quit-${r.profile}-sim.qcow2`);
      const realFile = tmp.path(`quit-${r.profile}-real.qcow2`);
      copyFileSync(base, simFile);
      copyFileSync(base, realFile);
      expect(realSession(serve, tmp.dir, cmds(simFile))).toEqual(realSession(r, tmp.dir, cmds(realFile)));
      expect(info(simFile)).toEqual(info(realFile));
      expect(sameBytes(simFile, realFile)).toBe(true);
    });
  }

  it.skipIf(!existsSync(NBDINFO))(
    'an NBD export of loaded bitmaps: the same block status; SIGTERM stores them',
    async () => {
      const r = reals.find((x) => x.profile === '7.2') ?? reals[0];
      const serve: Real = { profile: r.profile, qsd: [...SERVE, '--profile', r.profile], env: {} };
      const maps: string[][] = [];
      const held: unknown[] = [];
      const files: string[] = [];
      for (const [tag, d] of [
        ['real', r],
        ['sim', serve],
      ] as const) {
        const file = tmp.path(`nbd-${tag}.qcow2`);
        const sock = tmp.path(`nbd-${tag}.sock`);
        copyFileSync(base, file);
        files.push(file);
        const [bin, ...pre] = d.qsd;
        const p = spawn(
          bin,
          [
            ...pre,
            '--blockdev',
            `driver=file,node-name=f,filename=${file}`,
            '--blockdev',
            'driver=qcow2,node-name=q,file=f',
            '--nbd-server',
            `addr.type=unix,addr.path=${sock}`,
            '--export',
            'type=nbd,id=e,node-name=q,writable=on,bitmaps.0=b0,bitmaps.1=b1',
          ],
          { stdio: 'ignore', env: { ...process.env, ...d.env } },
        );
        const exited = new Promise<number | null>((res) => p.on('exit', (code) => res(code)));
        try {
          for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((res) => setTimeout(res, 50));
          const uri = `nbd+unix:///q?socket=${sock}`;
          // while the daemon holds the image read-write, its bitmaps are marked in-use
          held.push(
            (info(file) as { 'format-specific': { data: { bitmaps: unknown[] } } })['format-specific'].data
              .bitmaps,
          );
          maps.push(
            ['b0', 'b1'].map((b) =>
              runOk(NBDINFO, [`--map=qemu:dirty-bitmap:${b}`, uri]).replace(/\s+/g, ' '),
            ),
          );
        } finally {
          p.kill('SIGTERM');
        }
        expect(await exited).toBe(0);
      }
      expect(maps[1]).toEqual(maps[0]);
      expect(held[1]).toEqual(held[0]);
      expect(JSON.stringify(held[0])).toContain('in-use');
      expect(maps[0][0]).toContain('1048576 262144 1 dirty');
      expect(sameBytes(files[1], files[0])).toBe(true);
    },
    20_000,
  );

  it('marks the bitmaps in-use while the image is open read-write', () => {
    const img = tmp.path('held.qcow2');
    copyFileSync(base, img);
    const sim = createSim({ profile: '7.2', flavour: 'qsd', fs: 'real', cwd: tmp.dir });
    sim.run('blockdev-add', open(img).arguments);
    const held = info(img) as { 'format-specific': { data: { bitmaps: { flags: string[] }[] } } };
    expect(held['format-specific'].data.bitmaps.map((b) => b.flags)).toEqual([
      ['in-use', 'auto'],
      ['in-use'],
    ]);
    sim.run('blockdev-del', { 'node-name': 'q' });
    const after = info(img) as { 'format-specific': { data: { bitmaps: { flags: string[] }[] } } };
    expect(after['format-specific'].data.bitmaps.map((b) => b.flags)).toEqual([['auto'], []]);
  });
});
