import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NbdClient } from '../../harness/clients/nbd-client.ts';
import type { QmpClient } from '../../harness/clients/qmp-client.ts';
import { AttachRefused } from '../../harness/targets/attach.ts';
import { startQsd, startSystem } from '../../harness/targets/qemu-process.ts';
import { resolveAttachTarget } from '../../harness/targets/target-spec.ts';
import { conform } from './conform.ts';

/**
 * Attach mode on a real QEMU that already holds nodes, a running job, a dirty bitmap and an NBD export
 * of its own: the checks run, and afterwards every one of those is as it was — the same
 * query-named-block-nodes entries, the same job state and speed, the same export, the same bytes in the
 * image file and over the export — and nothing the checks made is left. A live VM (guest devices) is
 * refused by `fleece-lab conform` unless --allow-live-vm; allowed, its guest disk is left as it was.
 */
function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const CLI = fileURLToPath(new URL('../../bin/fleece-lab.js', import.meta.url));
const MiB = 1 << 20;

/** The endpoint as the checks could change it, minus what moves on its own (a running job's progress). */
async function state(q: QmpClient): Promise<unknown> {
  const jobs = (await q.execute('query-jobs')) as Record<string, unknown>[];
  const blockJobs = (await q.execute('query-block-jobs')) as Record<string, unknown>[];
  return {
    nodes: await q.execute('query-named-block-nodes', { flat: true }),
    block: await q.execute('query-block'),
    exports: await q.execute('query-block-exports'),
    jobs: jobs.map(({ 'current-progress': _c, ...j }) => j),
    blockJobs: blockJobs.map(({ offset: _o, busy: _b, ...j }) => j),
  };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

async function readExport(sock: string, name: string, length: number): Promise<string> {
  const c = await NbdClient.connect({ path: sock }, { exportName: name });
  try {
    return createHash('sha256')
      .update(await c.read(0, length))
      .digest('hex');
  } finally {
    await c.disconnect();
  }
}

describe.skipIf(!have('qemu-storage-daemon'))(
  '--target qmp:SOCKET (skipped without qemu-storage-daemon)',
  () => {
    // QEMU serves one client per monitor socket: the endpoint gets a second monitor for the attached run
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-attach-'));
    const sock = path.join(dir, 'second.sock');
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('touches only what it creates', { timeout: 60_000 }, async () => {
      // the endpoint's own image: 4 MiB with data in it
      const image = path.join(dir, 'theirs.raw');
      const data = Buffer.alloc(4 * MiB);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 12)) & 0xff;
      fs.writeFileSync(image, data);
      const q = await startQsd({
        extraArgs: ['--chardev', `socket,path=${sock},server=on,wait=off,id=c9`, '--monitor', 'chardev=c9'],
      });
      try {
        await q.qmp.execute('blockdev-add', {
          driver: 'raw',
          'node-name': 'disk',
          file: { driver: 'file', 'node-name': 'disk-file', filename: image },
        });
        await q.qmp.execute('block-dirty-bitmap-add', { node: 'disk', name: 'vm-b0', persistent: false });
        await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'source', size: 1 << 30 });
        await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'vmtarget', size: 1 << 30 });
        // a job that runs all through the checks
        await q.qmp.execute('blockdev-backup', {
          'job-id': 'vm-backup',
          device: 'source',
          target: 'vmtarget',
          sync: 'full',
          speed: 1024,
        });
        const nbd = path.join(q.scratch, 'own.sock');
        await q.qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: nbd } } });
        await q.qmp.execute('block-export-add', {
          type: 'nbd',
          id: 'e1',
          'node-name': 'disk',
          name: 'mine',
        });

        const before = await state(q.qmp);
        const fileBefore = sha256(image);
        const exportBefore = await readExport(nbd, 'mine', 4 * MiB);
        expect(exportBefore).toBe(fileBefore);

        const target = await resolveAttachTarget(sock, false);
        const r = await conform(target, { only: '^(errors|bitmaps|exports)/' });
        const skipped = r.checks.filter((c) => c.status === 'skip');
        // checks that name the endpoint's own objects or act on all of it are skipped, with the reason
        expect(skipped.length).toBeGreaterThan(0);
        for (const c of skipped)
          expect(c.reason).toMatch(/attach mode: .*(existed before|whole endpoint|stdout|guest devices)/);
        expect(r.checks.filter((c) => c.status === 'pass').length).toBeGreaterThan(10);
        // a check naming the endpoint's export 'e1' is among them
        expect(skipped.map((c) => c.reason)).toContain(
          "attach mode: 'block-export-add' names export 'e1', which existed before the run",
        );
        // the checks really did make and remove nodes, jobs and bitmaps of their own beside the endpoint's
        const passed = r.checks.filter((c) => c.status === 'pass').map((c) => c.id);
        for (const id of ['errors/duplicate-job-id', 'errors/target-busy', 'bitmaps/add-and-query'])
          expect(passed).toContain(id);

        // node for node, job for job, export for export: as before, and nothing left behind
        expect(await state(q.qmp)).toEqual(before);
        expect((await q.qmp.execute('query-jobs')) as { status: string }[]).toEqual([
          expect.objectContaining({ id: 'vm-backup', status: 'running' }),
        ]);
        // byte for byte: the image file and what its export serves
        expect(sha256(image)).toBe(fileBefore);
        expect(await readExport(nbd, 'mine', 4 * MiB)).toBe(exportBefore);
      } finally {
        await q.stop();
      }
    });

    it.skipIf(!have('qemu-system-x86_64'))(
      'refuses an endpoint with guest devices unless --allow-live-vm (fleece-lab conform)',
      { timeout: 60_000 },
      async () => {
        const image = path.join(dir, 'guest.raw');
        fs.writeFileSync(image, Buffer.alloc(MiB, 0x42));
        const vmSock = `${sock}.sys`;
        const q = await startSystem({
          machine: 'q35',
          extraArgs: [
            '-blockdev',
            JSON.stringify({
              driver: 'raw',
              'node-name': 'disk0',
              file: { driver: 'file', filename: image },
            }),
            '-device',
            'virtio-blk-pci,drive=disk0,id=vd0',
            '-qmp',
            `unix:${vmSock},server=on,wait=off`,
          ],
        });
        try {
          await expect(resolveAttachTarget(vmSock, false)).rejects.toThrow(AttachRefused);
          const before = await state(q.qmp);
          const cli = (...extra: string[]) =>
            spawnSync(
              process.execPath,
              [CLI, 'conform', '--target', `qmp:${vmSock}`, '--only', '^errors/blockdev-', ...extra],
              { encoding: 'utf8', timeout: 30_000 },
            );
          const refused = cli();
          expect(refused.status).toBe(2);
          expect(refused.stderr).toMatch(
            /^fleece-lab: the endpoint has guest devices \(.*vd0.*\): refusing to run checks on a live VM without --allow-live-vm$/m,
          );
          // refused before anything was touched
          expect(await state(q.qmp)).toEqual(before);

          const allowed = cli('--allow-live-vm');
          expect(allowed.status, allowed.stdout + allowed.stderr).toBe(0);
          expect(allowed.stdout).toMatch(/^qmp:7\.2\.\d+ .*: [1-9]\d* passed, 0 failed/m);
          // allowed, the checks ran beside the guest's disk and left it as it was
          expect(await state(q.qmp)).toEqual(before);
          expect(fs.readFileSync(image).equals(Buffer.alloc(MiB, 0x42))).toBe(true);
        } finally {
          await q.stop();
        }
      },
    );
  },
);
