import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttachRefused } from './attach.ts';
import { conform } from './conform.ts';
import { resolveAttachTarget } from './target-spec.ts';
import { startQsd, startSystem } from './targets/qemu-process.ts';

/**
 * Attach mode on a real QEMU that already holds a node, a job and an export of its own: the checks run,
 * nothing that existed before is changed, nothing is left behind; a live VM (guest devices) is refused
 * unless allowed.
 */
function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!have('qemu-storage-daemon'))(
  '--target qmp:SOCKET (skipped without qemu-storage-daemon)',
  () => {
    // QEMU serves one client per monitor socket: the endpoint gets a second monitor for the attached run
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-attach-'));
    const sock = path.join(dir, 'second.sock');

    it('touches only what it creates', { timeout: 300_000 }, async () => {
      const q = await startQsd({
        extraArgs: ['--chardev', `socket,path=${sock},server=on,wait=off,id=c9`, '--monitor', 'chardev=c9'],
      });
      try {
        await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'source', size: 1 << 30 });
        await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'vmtarget', size: 1 << 30 });
        await q.qmp.execute('blockdev-backup', {
          'job-id': 'j',
          device: 'source',
          target: 'vmtarget',
          sync: 'full',
          speed: 1024,
        });
        await q.qmp.execute('nbd-server-start', {
          addr: { type: 'unix', data: { path: `${q.scratch}/own.sock` } },
        });
        await q.qmp.execute('block-export-add', {
          type: 'nbd',
          id: 'e1',
          'node-name': 'vmtarget',
          name: 'mine',
        });
        const before = await q.qmp.execute('query-named-block-nodes', { flat: true });
        const jobsBefore = (await q.qmp.execute('query-jobs')) as { id: string; status: string }[];
        const target = await resolveAttachTarget(sock, false);
        const r = await conform(target, { only: '^(errors|bitmaps)/' });
        const skipped = r.checks.filter((c) => c.status === 'skip');
        // checks that name the endpoint's own objects ('source', job 'j', export 'e1') are skipped, with the reason
        expect(skipped.length).toBeGreaterThan(0);
        for (const c of skipped)
          expect(c.reason).toMatch(/attach mode: .*(existed before|whole endpoint|stdout|guest devices)/);
        expect(r.checks.filter((c) => c.status === 'pass').length).toBeGreaterThan(10);
        // the endpoint's own node, job and export are as they were, and nothing was left behind
        const after = (await q.qmp.execute('query-named-block-nodes', { flat: true })) as {
          'node-name': string;
        }[];
        expect(after.map((n) => n['node-name']).sort()).toEqual(
          (before as { 'node-name': string }[]).map((n) => n['node-name']).sort(),
        );
        const jobsAfter = (await q.qmp.execute('query-jobs')) as { id: string; status: string }[];
        expect(jobsAfter.map((j) => [j.id, j.status])).toEqual(jobsBefore.map((j) => [j.id, j.status]));
        expect(await q.qmp.execute('query-block-exports')).toEqual([
          { type: 'nbd', id: 'e1', 'node-name': expect.any(String), 'shutting-down': false },
        ]);
      } finally {
        await q.stop();
      }
    });

    it.skipIf(!have('qemu-system-x86_64'))(
      'refuses an endpoint with guest devices unless --allow-live-vm',
      { timeout: 60_000 },
      async () => {
        const q = await startSystem({
          machine: 'q35',
          extraArgs: [
            '-blockdev',
            '{"driver":"null-co","node-name":"disk0","size":1048576}',
            '-device',
            'virtio-blk-pci,drive=disk0,id=vd0',
            '-qmp',
            `unix:${sock}.sys,server=on,wait=off`,
          ],
        });
        try {
          await expect(resolveAttachTarget(`${sock}.sys`, false)).rejects.toThrow(AttachRefused);
          await expect(resolveAttachTarget(`${sock}.sys`, false)).rejects.toThrow(
            /guest devices .*--allow-live-vm/,
          );
          const t = await resolveAttachTarget(`${sock}.sys`, true);
          expect(t.label).toMatch(/^qmp:7\.2\./);
        } finally {
          await q.stop();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    );
  },
);
