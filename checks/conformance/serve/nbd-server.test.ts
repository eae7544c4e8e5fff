/**
 * The simulator's NBD server under real clients: qemu-io, nbdinfo, nbdcopy, qemu-img (QEMU's and
 * libnbd's own NBD clients), compared with a real qemu-storage-daemon where that says more.
 * Every tool runs asynchronously: the server lives in this process.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NbdClient, NbdConnectionClosedError } from '../../../harness/clients/nbd-client.ts';
import { attachNbdServer } from '../../../sim/serve/nbd/server.ts';
import { createSim } from '../../../sim/sim.ts';
import {
  addExports,
  haveTool,
  MiB,
  makeImages,
  pattern,
  startQsdTarget,
  startSimTarget,
  type Target,
  withScratch,
} from '../nbd-scenario.ts';

const pexec = promisify(execFile);

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await pexec(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : 1, out: (x.stdout ?? '') + (x.stderr ?? '') };
  }
}

const tools = ['qemu-io', 'qemu-img', 'nbdinfo', 'nbdcopy'].every((t) => haveTool(t));
const haveQsd = haveTool('qemu-storage-daemon');

const uri = (t: Target, name: string) => `nbd+unix:///${name}?socket=${t.socket}`;

async function withSim<T>(
  fn: (t: Target, dir: string) => Promise<T>,
  profile: '7.2' | '10.0' = '7.2',
): Promise<T> {
  return withScratch(async (dir) => {
    const t = await startSimTarget(path.join(dir, 'nbd.sock'), dir, profile);
    try {
      return await fn(t, dir);
    } finally {
      await t.stop();
    }
  });
}

/** the same writes, through our client, on either target */
async function guestWrites(t: Target): Promise<void> {
  const c = await NbdClient.connect(t.socket, { exportName: 'top' });
  await c.write(3 * MiB, pattern(3 * MiB, 4096, 5));
  await c.write(100 * 1024, pattern(0, 10, 9));
  await c.writeZeroes(3 * MiB + 65536, 65536);
  await c.disconnect();
}

describe.skipIf(!tools)('the simulator NBD server with real NBD clients', () => {
  it('serves qemu-io reads of a qcow2 chain, byte for byte', async () => {
    await withSim(async (t, dir) => {
      await addExports(t, makeImages(dir));
      const r = await run('qemu-io', [
        '-r',
        '-f',
        'raw',
        uri(t, 'top'),
        '-c',
        'read -P 0x11 0 512k',
        '-c',
        'read -P 0x22 512k 1M',
        '-c',
        'read -P 0 1536k 2560k',
      ]);
      expect(r.out).not.toMatch(/failed|verification/i);
      expect(r.out).toContain('read 2621440/2621440 bytes at offset 1572864');
      const raw = await run('qemu-io', ['-r', '-f', 'raw', uri(t, 'raw'), '-c', 'read -v 4096 16']);
      expect(raw.code).toBe(0);
      const hex = [...pattern(4096, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      expect(raw.out).toContain(hex);
    });
  });

  it('takes qemu-io writes on a writable export; a read-only one refuses them', async () => {
    await withScratch(async (dir) => {
      const img = makeImages(dir);
      const t = await startSimTarget(path.join(dir, 'nbd.sock'), dir);
      try {
        await addExports(t, img);
        const w = await run('qemu-io', [
          '-f',
          'raw',
          uri(t, 'top'),
          '-c',
          'write -P 0x5a 1M 64k',
          '-c',
          'write -z 2M 128k',
          '-c',
          'read -P 0x5a 1M 64k',
        ]);
        expect(w.out).not.toMatch(/failed|verification/i);
        const ro = await run('qemu-io', ['-f', 'raw', uri(t, 'raw'), '-c', 'write 0 512']);
        expect(ro.code).not.toBe(0);
      } finally {
        await t.stop();
      }
      // the writes reached the image file
      const check = await run('qemu-io', [
        '-r',
        '-f',
        'qcow2',
        img.top,
        '-c',
        'read -P 0x5a 1M 64k',
        '-c',
        'read -P 0 2M 128k',
      ]);
      expect(check.out).not.toMatch(/failed|verification/i);
    });
  });

  it('lets nbdcopy copy the export, and qemu-img compare it with the image', async () => {
    await withSim(async (t, dir) => {
      const img = makeImages(dir);
      await addExports(t, img);
      const out = path.join(dir, 'copy.raw');
      const cp = await run('nbdcopy', [uri(t, 'top'), out]);
      expect(cp.out).toBe('');
      expect(
        (await run('qemu-img', ['compare', '-U', '-f', 'raw', '-F', 'qcow2', out, img.top])).out,
      ).toContain('Images are identical');
      const direct = await run('qemu-img', [
        'compare',
        '-U',
        '-f',
        'raw',
        '-F',
        'qcow2',
        uri(t, 'top'),
        img.top,
      ]);
      expect(direct.out).toContain('Images are identical');
      const differ = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', uri(t, 'top'), img.raw]);
      expect(differ.code).toBe(1);
      expect(differ.out).toContain('Content mismatch at offset 0!');
    });
  });

  it.skipIf(!haveQsd)(
    'answers nbdinfo (--list, --json, --map for every context) exactly like qemu-storage-daemon 7.2',
    async () => {
      const views: Record<string, string>[] = [];
      for (const kind of ['qsd', 'sim'] as const) {
        await withScratch(async (dir) => {
          const img = makeImages(dir);
          const sock = path.join(dir, 'nbd.sock');
          const t = kind === 'qsd' ? await startQsdTarget(sock) : await startSimTarget(sock, dir);
          try {
            await addExports(t, img);
            await guestWrites(t);
            const v: Record<string, string> = {};
            const norm = (s: string) => s.split(sock).join('SOCK');
            v.list = norm((await run('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${sock}`])).out);
            v.json = norm((await run('nbdinfo', ['--json', uri(t, 'raw')])).out);
            v.map = (await run('nbdinfo', ['--map', uri(t, 'top')])).out;
            v.depth = (await run('nbdinfo', ['--map=qemu:allocation-depth', uri(t, 'top')])).out;
            v.bitmap = (await run('nbdinfo', ['--map=qemu:dirty-bitmap:b0', uri(t, 'top')])).out;
            v.totals = (await run('nbdinfo', ['--map', '--totals', uri(t, 'top')])).out;
            views.push(v);
          } finally {
            await t.stop();
          }
        });
      }
      expect(views[1]).toEqual(views[0]);
      expect(views[0]!.map).toMatch(/^\s+0\s+1572864\s+0\s+data$/m);
      expect(views[1]!.bitmap).toMatch(/65536\s+65536\s+1\s+dirty/);
    },
  );

  it('exports a snapshot-access node: the point in time survives guest writes, byte for byte', async () => {
    await withSim(async (t, dir) => {
      const src = path.join(dir, 'src.img');
      const expected = path.join(dir, 'expected.img');
      fs.writeFileSync(src, pattern(0, 4 * MiB, 1));
      fs.copyFileSync(src, expected);
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'temp.qcow2'), '4M']);
      await t.exec('blockdev-add', { driver: 'file', 'node-name': 'src', filename: src });
      await t.exec('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'temp',
        file: { driver: 'file', filename: path.join(dir, 'temp.qcow2') },
      });
      await t.exec('blockdev-add', {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'src',
        target: 'temp',
      });
      await t.exec('blockdev-add', { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' });
      // qemu-storage-daemon has no guest: the guest's view is the filter, exported writable
      await t.exec('block-export-add', {
        type: 'nbd',
        id: 'guest',
        'node-name': 'cbw',
        name: 'guest',
        writable: true,
      });
      await t.exec('block-export-add', { type: 'nbd', id: 'fleece', 'node-name': 'acc', name: 'fleece' });
      const g = await run('qemu-io', [
        '-f',
        'raw',
        uri(t, 'guest'),
        '-c',
        'write -P 0xaa 1M 64k',
        '-c',
        'write -P 0xbb 3000k 100',
      ]);
      expect(g.out).not.toMatch(/failed/i);
      const out = path.join(dir, 'fleece.raw');
      expect((await run('nbdcopy', [uri(t, 'fleece'), out])).out).toBe('');
      expect((await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', out, expected])).out).toContain(
        'Images are identical',
      );
      // the guest sees its writes, the reader does not
      const now = await run('qemu-io', ['-r', '-f', 'raw', uri(t, 'guest'), '-c', 'read -P 0xaa 1M 64k']);
      expect(now.out).not.toMatch(/failed|verification/i);
      const then = await run('qemu-io', ['-r', '-f', 'raw', uri(t, 'fleece'), '-c', 'read -P 0xaa 1M 64k']);
      expect(then.out).toMatch(/Pattern verification failed/);
      // snapshot-access is read-only whatever the client tries
      const w = await run('qemu-io', ['-f', 'raw', uri(t, 'fleece'), '-c', 'write 0 512']);
      expect(w.code).not.toBe(0);
    });
  });

  it('fails reads of a bitmap-limited snapshot outside the bitmap with EINVAL', async () => {
    await withSim(async (t, dir) => {
      const src = path.join(dir, 'src.img');
      fs.writeFileSync(src, pattern(0, 4 * MiB, 1));
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'temp.qcow2'), '4M']);
      await t.exec('blockdev-add', { driver: 'file', 'node-name': 'src', filename: src });
      await t.exec('block-dirty-bitmap-add', { node: 'src', name: 'bm', granularity: 65536 });
      await t.exec('block-export-add', {
        type: 'nbd',
        id: 'w',
        'node-name': 'src',
        name: 'w',
        writable: true,
      });
      const w = await NbdClient.connect(t.socket, { exportName: 'w' });
      await w.write(MiB, pattern(MiB, 128 * 1024, 1));
      await w.disconnect();
      await t.exec('block-export-del', { id: 'w' });
      await t.exec('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'temp',
        file: { driver: 'file', filename: path.join(dir, 'temp.qcow2') },
      });
      await t.exec('blockdev-add', {
        driver: 'copy-before-write',
        'node-name': 'cbw',
        file: 'src',
        target: 'temp',
        bitmap: { node: 'src', name: 'bm' },
      });
      await t.exec('blockdev-add', { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' });
      await t.exec('block-export-add', { type: 'nbd', id: 'fl', 'node-name': 'acc', name: 'fleece' });
      const outside = await run('qemu-io', ['-r', '-f', 'raw', uri(t, 'fleece'), '-c', 'read 0 64k']);
      expect(outside.out).toContain('read failed: Invalid argument');
      const inside = await run('qemu-io', ['-r', '-f', 'raw', uri(t, 'fleece'), '-c', 'read 1M 128k']);
      expect(inside.out).toContain('read 131072/131072 bytes at offset 1048576');
      const map = await run('nbdinfo', ['--map', uri(t, 'fleece')]);
      expect(map.out).toMatch(/block-status: command failed: Invalid argument/);
      const c = await NbdClient.connect(t.socket, { exportName: 'fleece' });
      await expect(c.read(0, 4096)).rejects.toMatchObject({
        codeName: 'EINVAL',
        serverMessage: 'unable to check for holes: Permission denied',
      });
      await c.disconnect();
    });
  });
});

describe('the simulator NBD server lifecycle', () => {
  it('listens on a 0600 unix socket, drops clients on nbd-server-stop, and removes the socket', async () => {
    await withSim(async (t, dir) => {
      await t.exec('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: MiB });
      await t.exec('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'n0', name: 'n' });
      expect(fs.statSync(t.socket).mode & 0o777).toBe(0o600);
      const c = await NbdClient.connect(t.socket, { exportName: 'n', timeoutMs: 5000 });
      expect((await c.read(0, 4096)).every((b) => b === 0)).toBe(true);
      await t.exec('nbd-server-stop');
      await c.closed;
      await expect(c.read(0, 512)).rejects.toBeInstanceOf(NbdConnectionClosedError);
      expect(fs.existsSync(t.socket)).toBe(false);
      void dir;
    });
  });

  it('drops the clients of an export removed in hard mode; safe mode refuses while they are there', async () => {
    await withSim(async (t) => {
      await t.exec('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: MiB });
      await t.exec('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'n0', name: 'n' });
      await t.exec('block-export-add', { type: 'nbd', id: 'e2', 'node-name': 'n0', name: 'other' });
      const c = await NbdClient.connect(t.socket, { exportName: 'n', timeoutMs: 5000 });
      const other = await NbdClient.connect(t.socket, { exportName: 'other', timeoutMs: 5000 });
      await expect(t.exec('block-export-del', { id: 'e' })).rejects.toThrow("export 'e' still in use");
      await t.exec('block-export-del', { id: 'e', mode: 'hard' });
      await c.closed;
      await expect(c.read(0, 512)).rejects.toBeInstanceOf(NbdConnectionClosedError);
      // the other export's client is untouched
      expect((await other.read(0, 512)).length).toBe(512);
      await other.disconnect();
      await t.exec('block-export-del', { id: 'e2' });
    });
  });

  it('honours max-connections: no multi-conn flag, and a second client waits for a slot', async () => {
    await withScratch(async (dir) => {
      const sim = createSim({ profile: '7.2', flavour: 'qsd', fs: 'real', cwd: dir });
      const h = attachNbdServer(sim.core);
      try {
        const sock = path.join(dir, 's.sock');
        sim.run('nbd-server-start', { addr: { type: 'unix', data: { path: sock } }, 'max-connections': 1 });
        sim.run('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: MiB });
        sim.run('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'n0', name: 'n' });
        const a = await NbdClient.connect(sock, { exportName: 'n', timeoutMs: 5000 });
        expect(a.flags & 0x100).toBe(0);
        let bDone = false;
        const b = NbdClient.connect(sock, { exportName: 'n', timeoutMs: 5000 }).then((c) => {
          bDone = true;
          return c;
        });
        await new Promise((r) => setTimeout(r, 200));
        expect(bDone).toBe(false);
        expect(h.connectionCount()).toBe(2);
        await a.disconnect();
        const bc = await b;
        expect((await bc.read(0, 512)).length).toBe(512);
        await bc.disconnect();
      } finally {
        await h.close();
      }
    });
  });

  it('listens on inet addresses too', async () => {
    await withScratch(async (dir) => {
      const sim = createSim({ profile: '10.0', flavour: 'qsd', fs: 'real', cwd: dir });
      const h = attachNbdServer(sim.core);
      try {
        sim.run('nbd-server-start', { addr: { type: 'inet', data: { host: '127.0.0.1', port: '0' } } });
        await h.ready();
        const a = h.address();
        expect(typeof a).toBe('object');
        const port = (a as { port: number }).port;
        sim.run('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: MiB });
        sim.run('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'n0', name: 'n' });
        const c = await NbdClient.connect({ host: '127.0.0.1', port }, { exportName: 'n', timeoutMs: 5000 });
        expect(c.mode).toBe('extended');
        expect(c.size).toBe(MiB);
        await c.disconnect();
      } finally {
        await h.close();
      }
    });
  });
});
