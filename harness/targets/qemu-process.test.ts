/**
 * Starting and stopping real QEMU without leaks (skipped where QEMU is not installed).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanupAllSync, registeredCount } from './cleanup-registry.js';
import { isProcessAlive } from './proc-alive.js';
import { type QemuProcess, startQsd, withQsd } from './qemu-process.js';

function installed(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number | undefined): boolean {
  return pid !== undefined && isProcessAlive(pid);
}

/** SIGKILL is delivered asynchronously; give the kernel a moment to finish the process. */
async function eventuallyDead(pid: number): Promise<boolean> {
  const until = Date.now() + 3_000;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

function expectGone(q: QemuProcess): void {
  expect(alive(q.proc.pid)).toBe(false);
  expect(fs.existsSync(q.scratch)).toBe(false);
}

const here = path.dirname(fileURLToPath(import.meta.url));

describe.skipIf(!installed('qemu-storage-daemon'))('startQsd', () => {
  it('starts in a fleece-lab- scratch folder with socket and pidfile', async () => {
    await withQsd(async (q) => {
      expect(path.basename(q.scratch)).toMatch(/^fleece-lab-/);
      expect(fs.existsSync(path.join(q.scratch, 'qmp.sock'))).toBe(true);
      expect(Number(fs.readFileSync(path.join(q.scratch, 'qsd.pid'), 'utf8'))).toBe(q.proc.pid);
      expect(q.argv).toContain('chardev=c0');
    });
  });

  it('stop() leaves no process and no scratch folder, and is idempotent', async () => {
    const q = await startQsd();
    await Promise.all([q.stop(), q.stop()]);
    await q.stop();
    expectGone(q);
    expect(q.exitStatus()).toEqual({ code: 0, signal: null });
  });

  it('stop() cleans up after QEMU was SIGKILLed', async () => {
    const q = await startQsd();
    process.kill(q.proc.pid ?? 0, 'SIGKILL');
    await q.exited;
    await q.stop();
    expectGone(q);
    expect(q.exitStatus()?.signal).toBe('SIGKILL');
  });

  it('stop() escalates to signals when QEMU does not answer quit', async () => {
    const q = await startQsd({ stopStepMs: 300 });
    process.kill(q.proc.pid ?? 0, 'SIGSTOP');
    await q.stop();
    expectGone(q);
    expect(q.exitStatus()?.signal).toBe('SIGKILL');
  });

  it('a failed start reports stderr and exit status and leaves nothing behind', async () => {
    const err = await startQsd({ extraArgs: ['--blockdev', 'driver=nope,node-name=x'] }).catch(
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(
      /QEMU startup failed: .*qemu-storage-daemon \(pid \d+\) exited with status 1; stderr tail: .*nope/,
    );
    const err2 = await startQsd({ argvPrefix: ['/nonexistent/qsd'] }).catch((e: unknown) => e);
    expect(String(err2)).toMatch(/could not be started: spawn \/nonexistent\/qsd ENOENT/);
    expect(registeredCount()).toBe(0);
  });

  it('cleanupAllSync kills and removes what is still registered', async () => {
    const q = await startQsd();
    expect(registeredCount()).toBe(1);
    cleanupAllSync();
    await q.exited;
    expectGone(q);
    await q.stop();
  });

  for (const mode of ['throw', 'reject', 'exit', 'SIGTERM', 'SIGINT'] as const) {
    it(`a test process that dies by ${mode} leaks no QEMU and no scratch folder`, async () => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(here, 'fixtures/registry-child.ts'),
          mode.startsWith('SIG') ? 'signal' : mode,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) =>
        child.once('exit', (code, sig) => r([code, sig])),
      );
      const first = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(buf.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => reject(new Error(`child exited ${code} before reporting`)));
      });
      const { pid, scratch } = JSON.parse(first) as { pid: number; scratch: string };
      expect(alive(pid)).toBe(true);
      if (mode === 'SIGTERM' || mode === 'SIGINT') child.kill(mode);
      const [code, signal] = await exited;
      // signals are re-raised after cleanup, so the child still dies *of* the signal
      expect(mode.startsWith('SIG') ? signal : code).toBe(
        mode.startsWith('SIG') ? mode : mode === 'exit' ? 3 : 1,
      );
      expect(await eventuallyDead(pid)).toBe(true);
      expect(fs.existsSync(scratch)).toBe(false);
    }, 20_000);
  }
});
