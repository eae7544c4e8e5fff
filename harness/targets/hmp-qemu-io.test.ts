/**
 * qemu-system-x86_64 targets and guest-like I/O through HMP qemu-io (skipped without QEMU).
 * The exact strings asserted here were seen on Debian's QEMU 7.2.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hmpQemuIo } from './hmp-qemu-io.js';
import { startSystem, withSystem } from './qemu-process.js';

function installed(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const STATS = /^64 KiB, 1 ops; [\d.]+ sec \([\d.]+ [KMG]iB\/sec and [\d.]+ ops\/sec\)$/m;

describe.skipIf(!installed('qemu-system-x86_64') || !installed('qemu-img'))('startSystem + hmpQemuIo', () => {
  it('-M none: write, read back, pattern mismatch on a blockdev-add node', async () => {
    await withSystem(async (q) => {
      expect(q.argv).toEqual(expect.arrayContaining(['-M', 'none', '-accel', 'tcg', '-nodefaults']));
      const img = path.join(q.scratch, 'disk.raw');
      fs.writeFileSync(img, Buffer.alloc(1 << 20));
      await q.qmp.execute('blockdev-add', { driver: 'file', 'node-name': 'f0', filename: img });

      const w = await hmpQemuIo(q, { node: 'f0' }, 'write -P 0x11 0 64k');
      expect(w).toMatchObject({ outcome: 'ok', hmp: '' });
      expect(w.stdout).toMatch(/^wrote 65536\/65536 bytes at offset 0\n/);
      expect(w.stdout).toMatch(STATS);

      const r = await hmpQemuIo(q, { node: 'f0' }, 'read -P 0x11 0 64k');
      expect(r.outcome).toBe('ok');
      expect(r.stdout).toMatch(/^read 65536\/65536 bytes at offset 0\n/);

      const bad = await hmpQemuIo(q, { node: 'f0' }, 'read -P 0x22 0 64k');
      expect(bad.outcome).toBe('pattern-mismatch');
      expect(bad.hmp).toBe('');
      expect(bad.stdout).toMatch(
        /^Pattern verification failed at offset 0, 65536 bytes\nread 65536\/65536 bytes/,
      );

      // -d names a qdev device, never a node
      const d = await hmpQemuIo(q, { qdev: 'f0' }, 'read 0 64k');
      expect(d).toMatchObject({ outcome: 'hmp-error', hmp: "Error: Device 'f0' not found\r\n", stdout: '' });
    });
  });

  it('reports an injected I/O error', async () => {
    await withSystem(async (q) => {
      const img = path.join(q.scratch, 'disk.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '1M']);
      execFileSync('qemu-io', ['-c', 'write -P 0x55 0 64k', img], { stdio: 'ignore' });
      await q.qmp.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': 'q0',
        file: {
          driver: 'blkdebug',
          image: { driver: 'file', filename: img },
          'inject-error': [{ event: 'read_aio', errno: 5 }],
        },
      });
      const r = await hmpQemuIo(q, { node: 'q0' }, 'read -P 0x55 0 64k');
      expect(r).toEqual({
        outcome: 'io-error',
        hmp: '',
        stdout: 'read failed: Input/output error\n',
        stderr: '',
      });
    });
  });

  it('-M q35 with a virtio-blk-pci device: qemu-io -d ID/virtio-backend is the guest path', async () => {
    const img = { driver: 'null-co', 'node-name': 'n0', size: 1048576 };
    await withSystem(
      async (q) => {
        const w = await hmpQemuIo(q, { qdev: 'vd0/virtio-backend' }, 'write -P 0x33 0 64k');
        expect(w.outcome).toBe('ok');
        const direct = await hmpQemuIo(q, { qdev: 'vd0' }, 'read 0 64k');
        expect(direct.hmp).toBe('Error: Device does not have a block device backend\r\n');
        // the device holds the write permission, so a second writer on the node is refused by HMP
        const conflict = await hmpQemuIo(q, { node: 'n0' }, 'write 0 64k');
        expect(conflict.outcome).toBe('hmp-error');
        expect(conflict.hmp).toMatch(
          /^Permission conflict on node 'n0': permissions 'write' are both required/,
        );
        const jobs = await q.qmp.execute('query-block');
        expect(JSON.stringify(jobs)).toContain('/machine/peripheral/vd0/virtio-backend');
      },
      {
        machine: 'q35',
        extraArgs: ['-blockdev', JSON.stringify(img), '-device', 'virtio-blk-pci,drive=n0,id=vd0'],
      },
    );
  });

  it('a pending call on a dying qemu-system names the exit status and stderr tail', async () => {
    const q = await startSystem();
    try {
      await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1048576 });
      const unknown = await hmpQemuIo(q, { node: 'n0' }, 'bogus');
      expect(unknown).toMatchObject({
        outcome: 'unknown',
        hmp: '',
        stdout: '',
        stderr: 'command "bogus" not found\n',
      });
      process.kill(q.proc.pid ?? 0, 'SIGSTOP');
      const call = q.qmp.execute('query-status').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      process.kill(q.proc.pid ?? 0, 'SIGKILL');
      expect(String(await call)).toMatch(
        /closed by the server( \(read ECONNRESET\))? while waiting for the reply to 'query-status' \(id fl-\d+\): qemu-system-x86_64 \(pid \d+\) was killed by signal SIGKILL; stderr tail: command "bogus" not found$/,
      );
    } finally {
      await q.stop();
    }
    expect(fs.existsSync(q.scratch)).toBe(false);
  });
});
