/**
 * The client against a real qemu-storage-daemon (skipped when none is installed).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startQsd, withQsd } from '../targets/qemu-process.js';
import { QmpConnectionClosedError, QmpError } from './qmp-client.js';

function installed(bin: string): boolean {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const nullNode = (name: string) => ({ driver: 'null-co', 'node-name': name, size: 1048576 });

describe.skipIf(!installed('qemu-storage-daemon'))('QmpClient against qemu-storage-daemon', () => {
  it('reads a greeting of the documented shape', async () => {
    await withQsd(async (q) => {
      const g = q.qmp.greeting;
      expect(g.QMP.capabilities).toContain('oob');
      expect(g.QMP.version.qemu.major).toBeGreaterThanOrEqual(5);
      expect(typeof g.QMP.version.package).toBe('string');
      expect(q.qmp.log[0]).toMatchObject({ dir: 'recv', msg: g });
    });
  });

  it('gets CommandNotFound before negotiation, then works after it', async () => {
    await withQsd(
      async (q) => {
        const err: unknown = await q.qmp.execute('query-version').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QmpError);
        expect((err as QmpError).errorClass).toBe('CommandNotFound');
        expect((err as QmpError).desc).toBe("Expecting capabilities negotiation with 'qmp_capabilities'");
        await q.qmp.negotiate();
        const again = await q.qmp.executeRaw('qmp_capabilities');
        expect(again).toMatchObject({
          error: {
            class: 'CommandNotFound',
            desc: 'Capabilities negotiation is already complete, command ignored',
          },
        });
        expect(await q.qmp.execute('query-version')).toMatchObject({ qemu: { major: expect.any(Number) } });
      },
      { negotiate: false },
    );
  });

  it('matches several calls in flight to their replies', async () => {
    await withQsd(async (q) => {
      const names = ['a', 'b', 'c', 'd', 'e'];
      await Promise.all(names.map((n) => q.qmp.execute('blockdev-add', nullNode(n))));
      const results = await Promise.allSettled([
        q.qmp.execute('query-named-block-nodes', { flat: true }),
        q.qmp.execute('blockdev-del', { 'node-name': 'nope' }),
        q.qmp.execute('query-version'),
        q.qmp.execute('no-such-command'),
        q.qmp.execute('query-jobs'),
      ]);
      const nodes = results[0].status === 'fulfilled' ? results[0].value : undefined;
      expect(Array.isArray(nodes) && nodes.length).toBe(5);
      expect(results[1]).toMatchObject({
        status: 'rejected',
        reason: { errorClass: 'GenericError', desc: "Failed to find node with node-name='nope'" },
      });
      expect(results[2]).toMatchObject({ status: 'fulfilled', value: { qemu: expect.any(Object) } });
      expect(results[3]).toMatchObject({
        status: 'rejected',
        reason: { errorClass: 'CommandNotFound', desc: 'The command no-such-command has not been found' },
      });
      expect(results[4]).toEqual({ status: 'fulfilled', value: [] });
    });
  });

  it('delivers job events to each listener registered before the command', async () => {
    await withQsd(async (q) => {
      await q.qmp.execute('blockdev-add', nullNode('n0'));
      await q.qmp.execute('blockdev-add', nullNode('n1'));
      // Register first: for a null-co source the job runs to `null` before the command's reply.
      const jobs = q.qmp.events.listen('JOB_STATUS_CHANGE');
      const all = q.qmp.events.listen();
      await q.qmp.execute('blockdev-backup', { 'job-id': 'j0', device: 'n0', target: 'n1', sync: 'full' });
      const seen: string[] = [];
      for (;;) {
        const e = await all.next();
        seen.push(e.event === 'JOB_STATUS_CHANGE' ? String(e.data?.status) : e.event);
        if (e.data?.status === 'null') break;
      }
      expect(seen[0]).toBe('created');
      expect(seen.slice(-5)).toEqual(['waiting', 'pending', 'BLOCK_JOB_COMPLETED', 'concluded', 'null']);
      const jobEvents = jobs.drain();
      expect(jobEvents.every((e) => e.event === 'JOB_STATUS_CHANGE' && e.data?.id === 'j0')).toBe(true);
      expect(jobEvents.map((e) => e.data?.status)).toEqual(seen.filter((x) => x !== 'BLOCK_JOB_COMPLETED'));
      expect(all.drain()).toEqual([]);
    });
  });

  it('answers raw garbage with an unmatched parse error', async () => {
    await withQsd(async (q) => {
      await q.qmp.sendRaw('{garbage}\r\n');
      const u = await q.qmp.nextUnmatched();
      expect(u.msg).toEqual({
        error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'garbage'" },
      });
      expect(await q.qmp.execute('query-jobs')).toEqual([]);
    });
  });

  it('fails a pending call with the exit status when QEMU dies mid-call', async () => {
    const q = await startQsd();
    try {
      const pid = q.proc.pid ?? 0;
      // Stopped, QEMU cannot answer, so the call is surely pending when the kill lands.
      process.kill(pid, 'SIGSTOP');
      const call = q.qmp.execute('query-version').catch((e: unknown) => e);
      const listener = q.qmp.events.listen();
      await new Promise((r) => setTimeout(r, 50));
      process.kill(pid, 'SIGKILL');
      const err = await call;
      expect(err).toBeInstanceOf(QmpConnectionClosedError);
      expect(String(err)).toMatch(
        /^QmpConnectionClosedError: QMP connection closed by the server( \(read ECONNRESET\))? while waiting for the reply to 'query-version' \(id fl-\d+\): qemu-storage-daemon \(pid \d+\) was killed by signal SIGKILL; stderr empty$/,
      );
      await expect(listener.next()).rejects.toThrow(/SIGKILL/);
    } finally {
      await q.stop();
    }
  });
});
