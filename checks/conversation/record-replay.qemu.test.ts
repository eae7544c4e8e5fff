/**
 * Recording a client nobody here wrote (socat, fed a QMP conversation on its standard input) through
 * `fleece-lab record --listen --upstream` in front of the real qemu-system-x86_64 7.2 of PATH, then
 * replaying the trace with `replay` on that QEMU and on the simulator with profile 7.2: both answer as
 * recorded. Skipped, with the reason, without qemu-system-x86_64 7.2 or socat.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConversationTrace } from '../../contract/formats/conversation-trace.ts';
import { replayConversation } from './replay-conversation.ts';

const CLI = fileURLToPath(new URL('../../bin/fleece-lab.js', import.meta.url));

function version(bin: string, flag = '--version'): string | undefined {
  try {
    return execFileSync(bin, [flag], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

const why = !/version 7\.2\./.test(version('qemu-system-x86_64') ?? '')
  ? 'no qemu-system-x86_64 7.2 on PATH'
  : version('socat', '-V') === undefined
    ? 'socat is not installed (apt-get install socat)'
    : undefined;

const procs: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const p of procs)
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await new Promise((r) => p.once('close', r));
    }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms: number, what: string) => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms`);
};

function run(argv: string[], input?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    procs.push(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (b) => {
      out += b;
    });
    p.stderr.on('data', (b) => {
      err += b;
    });
    p.stdin.end(input ?? '');
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** what socat sends: negotiation, queries, the guest writing through its device, a bitmap, run state */
const CONVERSATION = [
  { execute: 'qmp_capabilities', id: 'c-1' },
  { execute: 'query-status', id: 'c-2' },
  { execute: 'query-block', id: 'c-3' },
  {
    execute: 'human-monitor-command',
    id: 'c-4',
    arguments: { 'command-line': 'qemu-io -d vd0/virtio-backend "write -P 0x5a 0 65536"' },
  },
  { execute: 'block-dirty-bitmap-add', id: 'c-5', arguments: { node: 'd0', name: 'b0', persistent: true } },
  { execute: 'query-named-block-nodes', id: 'c-6', arguments: { flat: true } },
  { execute: 'cont', id: 'c-7' },
  { execute: 'stop', id: 'c-8' },
  { execute: 'no-such-command', id: 'c-9' },
  { execute: 'query-status', id: 'c-10' },
]
  .map((m) => JSON.stringify(m))
  .join('\n');

describe.skipIf(why !== undefined)(
  `record through the proxy, replay (${why ?? 'real QEMU 7.2, socat'})`,
  () => {
    it('records socat talking to real qemu-system-x86_64 7.2; the trace replays as recorded on it and on sim:7.2', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-rec-'));
      dirs.push(dir);
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'disk0.qcow2'), '4M']);
      const qmp = path.join(dir, 'qmp.sock');
      const qemu = spawn(
        'qemu-system-x86_64',
        [
          '-M',
          'q35',
          '-accel',
          'tcg',
          '-display',
          'none',
          '-nodefaults',
          '-S',
          '-m',
          '128',
          '-qmp',
          `unix:${qmp},server=on,wait=off`,
          '-blockdev',
          `{"driver":"file","filename":"${path.join(dir, 'disk0.qcow2')}","node-name":"f0"}`,
          '-blockdev',
          '{"driver":"qcow2","file":"f0","node-name":"d0"}',
          '-device',
          'virtio-blk-pci,drive=d0,id=vd0',
        ],
        { stdio: 'ignore' },
      );
      procs.push(qemu);
      await until(() => fs.existsSync(qmp), 30_000, 'QMP socket');

      const listen = path.join(dir, 'proxy.sock');
      const trace = path.join(dir, 'trace.json');
      const recorder = run([
        process.execPath,
        CLI,
        'record',
        '--listen',
        listen,
        '--upstream',
        qmp,
        '--qemu-pid',
        String(qemu.pid),
        '--wait-client',
        '30',
        '--out',
        trace,
      ]);
      await until(() => fs.existsSync(listen), 30_000, 'proxy socket');
      const client = await run(['socat', '-t', '3', '-', `UNIX-CONNECT:${listen}`], `${CONVERSATION}\n`);
      const rec = await recorder;
      expect(rec.code, `${rec.err} / socat: ${client.err}`).toBe(0);
      expect(rec.out).toMatch(/trace\.json: 23 messages, QEMU 7\.2\.\d+ .*, ended by the client/);
      // the client saw QEMU's own bytes: its greeting, then the replies with its ids
      expect(client.out).toMatch(/^\{"QMP": \{"version": \{"qemu": \{"micro": \d+, "minor": 2, "major": 7\}/);
      expect(client.out).toContain('{"return": {}, "id": "c-1"}');
      expect(client.out).toContain('{"id": "c-9", "error": {"class": "CommandNotFound"');

      const t = parseConversationTrace(fs.readFileSync(trace, 'utf8'), trace);
      const c = t.connections[0];
      expect(c?.argvFrom).toBe('proc');
      expect(c?.argv?.[0]).toMatch(/qemu-system-x86_64$/);
      expect(t.images).toEqual([{ path: '<SCRATCH>/disk0.qcow2', format: 'qcow2', size: 4 * 1024 * 1024 }]);
      const sends = c?.messages.filter((m) => m.dir === 'send').map((m) => (m.msg as { id?: string }).id);
      expect(sends).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-5', 'c-6', 'c-7', 'c-8', 'c-9', 'c-10']);
      const events = c?.messages.flatMap((m) =>
        (m.msg as { event?: string }).event ? [(m.msg as { event: string }).event] : [],
      );
      expect(events).toEqual(['RESUME', 'STOP']);

      const r = await replayConversation(t, trace, ['qemu:7.2', 'sim:7.2']);
      for (const o of r.outcomes) {
        expect(o.broken, o.label).toEqual([]);
        expect(o.steps, o.label).toBe(11);
        expect(o.differences, o.label).toEqual([]);
      }
    }, 120_000);
  },
);
