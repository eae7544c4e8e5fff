/**
 * End to end: `fleece-lab serve` and the real qemu-storage-daemon started with the SAME argument vector
 * (each in its own scratch folder), driven through the same script; replies compared as raw lines
 * (byte for byte, generated node names aside), events and raw lines after contract/noise.ts, qemu-io's output
 * on the NBD exports, and what is left on disk after quit / SIGTERM.
 * Skipped when no real qemu-storage-daemon 7.2 is installed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  dropDrainPairLines,
  dropDrainPairs,
  normalizeStdout,
  normalizeText,
  normalizeValue,
  type RecordedEvent,
} from '../../../contract/noise.ts';
import { QmpClient, type QmpEvent } from '../../../harness/clients/qmp-client.ts';
import { resolveQemu } from '../../../harness/qemu/install.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TSX_LOADER = path.join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const SERVE = path.join(ROOT, 'bin/serve.ts');

function findQemu(): ReturnType<typeof resolveQemu> | undefined {
  try {
    return resolveQemu('7.2');
  } catch {
    return undefined;
  }
}
const qemu = findQemu();
const MiB = 1 << 20;

interface Launched {
  kind: 'real' | 'sim';
  proc: ChildProcess;
  scratch: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const launched: Launched[] = [];

function makeScratch(kind: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fl-serve-${kind}-`));
  // src.raw: 4 MiB of 0x11; temp.qcow2: an empty 4 MiB overlay
  fs.writeFileSync(path.join(dir, 'src.raw'), Buffer.alloc(4 * MiB, 0x11));
  execFileSync(
    qemu!.img[0],
    [...qemu!.img.slice(1), 'create', '-q', '-f', 'qcow2', path.join(dir, 'temp.qcow2'), '4M'],
    {
      env: { ...process.env, ...qemu!.env },
    },
  );
  return dir;
}

function launch(kind: 'real' | 'sim', argv: string[], scratch: string): Launched {
  const cmd =
    kind === 'real'
      ? [...qemu!.qsd, ...argv]
      : [process.execPath, '--import', TSX_LOADER, SERVE, '--profile', '7.2', ...argv];
  const proc = spawn(cmd[0], cmd.slice(1), {
    cwd: scratch,
    env: { ...process.env, ...(kind === 'real' ? qemu!.env : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
  });
  proc.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const l: Launched = { kind, proc, scratch, exited, stderr: () => err };
  launched.push(l);
  return l;
}

async function waitFor(file: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fs.existsSync(file)) {
    if (Date.now() > end) throw new Error(`${file} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** the first line a fresh connection gets (the greeting), raw */
function rawGreeting(sock: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: sock });
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no greeting'));
    }, 10_000);
    s.on('data', (b) => {
      buf += b.toString('latin1');
      const i = buf.indexOf('\r\n');
      if (i >= 0) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.slice(0, i + 2));
      }
    });
    s.on('error', reject);
  });
}

function qemuIo(scratch: string, image: string, cmd: string, readOnly = false): string {
  const args = [...qemu!.io.slice(1), ...(readOnly ? ['-r'] : []), '-f', 'raw', image, '-c', cmd];
  try {
    return execFileSync(qemu!.io[0], args, {
      cwd: scratch,
      env: { ...process.env, ...qemu!.env },
      encoding: 'utf8',
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; status?: number };
    return `exit ${err.status}: ${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
}

/** a raw connection that keeps every byte it gets */
function rawConn(
  sock: string,
): Promise<{ write: (s: string) => void; text: () => string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: sock });
    let buf = '';
    s.on('data', (b) => {
      buf += b.toString('latin1');
    });
    s.once('connect', () =>
      resolve({
        write: (x) => s.write(Buffer.from(x, 'latin1')),
        text: () => buf,
        close: () => s.destroy(),
      }),
    );
    s.once('error', reject);
  });
}

interface Transcript {
  second: string[];
  greeting: string;
  lines: string[];
  events: RecordedEvent[];
  io: string[][];
  leftover: string[];
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

const ARGV = [
  '--chardev',
  'socket,path=qmp.sock,server=on,wait=off,id=c0',
  '--monitor',
  'chardev=c0',
  '--chardev',
  'socket,path=qmp2.sock,server=on,wait=off,id=c1',
  '--monitor',
  'chardev=c1',
  '--blockdev',
  'driver=file,node-name=src-file,filename=src.raw',
  '--blockdev',
  '{"driver": "raw", "node-name": "source", "file": "src-file"}',
  '--nbd-server',
  'addr.type=unix,addr.path=nbd.sock',
  '--export',
  'type=nbd,id=live,node-name=source,name=live,writable=on',
  '--pidfile',
  'qsd.pid',
];

/** The fleecing recipe over QMP, with guest writes and fleecing reads on the NBD exports. */
async function scenario(kind: 'real' | 'sim', ending: 'quit' | 'SIGTERM'): Promise<Transcript> {
  const scratch = makeScratch(kind);
  const p = launch(kind, ARGV, scratch);
  await waitFor(path.join(scratch, 'qsd.pid'));
  await waitFor(path.join(scratch, 'qmp.sock'));
  const greeting = await rawGreeting(path.join(scratch, 'qmp.sock'));
  const c = await QmpClient.connect(path.join(scratch, 'qmp.sock'), { negotiate: false, timeoutMs: 15_000 });
  // the second monitor: garbage first, then negotiated; it must see every event the first one does
  const m2 = await rawConn(path.join(scratch, 'qmp2.sock'));
  m2.write('{"execute": [1, 2}\r\n"\xff garbage\r\n{"execute":"qmp_capabilities","id":"m2"}\r\n');
  const events = c.events.listen();
  const recorded: RecordedEvent[] = [];
  const lines: string[] = [];
  const io: string[][] = [];
  let step = 0;
  const collect = () => {
    for (const e of events.drain() as QmpEvent[]) {
      recorded.push({
        event: e.event,
        data: normalizeValue(e.data, scratch) as Record<string, unknown>,
        step,
      });
    }
  };
  const send = async (raw: string) => {
    step++;
    await c.sendRaw(raw);
    const r = await c.nextUnmatched();
    lines.push(normalizeText(r.line));
    collect();
    return r.msg;
  };
  const q = (execute: string, args?: Record<string, unknown>, id?: unknown) => {
    const o: Record<string, unknown> = { execute };
    if (args) o.arguments = args;
    if (id !== undefined) o.id = id;
    return send(`${JSON.stringify(o)}\r\n`);
  };
  const until = async (match: { event: string; data?: Record<string, unknown> }) => {
    const hit = (e: { event: string; data?: Record<string, unknown> }) =>
      e.event === match.event && Object.entries(match.data ?? {}).every(([k, v]) => e.data?.[k] === v);
    if (recorded.some((e) => e.step === step && hit(e))) return;
    const e = await events.waitFor(match, { timeoutMs: 15_000 });
    recorded.push({ event: e.event, data: normalizeValue(e.data, scratch) as Record<string, unknown>, step });
    collect();
  };
  const nbd = (name: string) => `nbd+unix:///${name}?socket=${path.join(scratch, 'nbd.sock')}`;

  await q('query-version', undefined, 'pre'); // before negotiation: CommandNotFound
  await send('{"execute": "qmp_capabilities", "id": {"n": [1, 2.5]}}\r\n');
  await q('query-block-exports', undefined, 1);
  await q(
    'blockdev-add',
    {
      driver: 'qcow2',
      'node-name': 'temp',
      file: { driver: 'file', filename: 'temp.qcow2' },
      backing: 'source',
    },
    2,
  );
  await q('blockdev-backup', { 'job-id': 'fleece', device: 'source', target: 'temp', sync: 'none' }, 3);
  await q('block-export-add', { type: 'nbd', id: 'fl', 'node-name': 'temp', name: 'fleece' }, 4);
  io.push(normalizeStdout(qemuIo(scratch, nbd('live'), 'write -P 0x22 0 64k'), scratch));
  io.push(normalizeStdout(qemuIo(scratch, nbd('fleece'), 'read -P 0x11 0 64k', true), scratch));
  io.push(normalizeStdout(qemuIo(scratch, nbd('live'), 'read -P 0x22 0 64k', true), scratch));
  io.push(normalizeStdout(qemuIo(scratch, nbd('fleece'), 'read -P 0x11 64k 64k', true), scratch));
  await q('query-block-exports', undefined, 5);
  await q('block-job-complete', { device: 'fleece' }, 6);
  await q('block-export-del', { id: 'fl' }, 7);
  await until({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'fl' } });
  await q('block-job-cancel', { device: 'fleece' }, 8);
  await until({ event: 'JOB_STATUS_CHANGE', data: { id: 'fleece', status: 'null' } });
  await q('query-jobs', undefined, 9);
  await q('blockdev-del', { 'node-name': 'temp' }, 10);
  await send('{"execute": "nope", "id": 11}{"execute": "blockdev-del"}\r\n');
  lines.push(normalizeText((await c.nextUnmatched()).line));
  io.push(normalizeStdout(qemuIo(scratch, nbd('live'), 'read -P 0x22 0 64k', true), scratch));
  await new Promise((r) => setTimeout(r, 300));
  // event timestamps are the wall clock's
  for (const m of m2.text().matchAll(/"seconds": (\d+)/g))
    expect(Math.abs(Number(m[1]) - Date.now() / 1000)).toBeLessThan(300);
  const second = m2
    .text()
    .split('\r\n')
    .map((l) => normalizeText(l));
  m2.close();
  let exit: Transcript['exit'];
  if (ending === 'quit') {
    step++;
    await c.sendRaw('{"execute": "quit", "id": "bye"}\r\n');
    const r = await c.nextUnmatched().catch(() => undefined);
    lines.push(r ? normalizeText(r.line) : '<no reply>');
    exit = await p.exited;
    await c.close();
  } else {
    await c.close();
    p.proc.kill('SIGTERM');
    exit = await p.exited;
  }
  const leftover = fs.readdirSync(scratch).sort();
  // the guest's write reached the source image
  const src = fs.readFileSync(path.join(scratch, 'src.raw'));
  expect(src.subarray(0, 64 * 1024).every((b) => b === 0x22)).toBe(true);
  expect(src.subarray(64 * 1024).every((b) => b === 0x11)).toBe(true);
  return { greeting, second, lines, events: dropDrainPairs(recorded), io, leftover, exit };
}

afterAll(async () => {
  for (const l of launched) {
    if (l.proc.exitCode === null && l.proc.signalCode === null) l.proc.kill('SIGKILL');
    await l.exited;
    fs.rmSync(l.scratch, { recursive: true, force: true });
  }
});

describe.skipIf(!qemu)('fleece-lab serve against qemu-storage-daemon 7.2, same argv', () => {
  it('answers the fleecing recipe like qsd, line for line, and quits like it', {
    timeout: 120_000,
  }, async () => {
    const real = await scenario('real', 'quit');
    const sim = await scenario('sim', 'quit');
    expect(sim.greeting.replace(/"micro": \d+/, '')).toBe(real.greeting.replace(/"micro": \d+/, ''));
    expect(sim.lines).toEqual(real.lines);
    expect(sim.events).toEqual(real.events);
    expect(dropDrainPairLines(sim.second)).toEqual(dropDrainPairLines(real.second));
    expect(sim.io).toEqual(real.io);
    expect(sim.exit).toEqual(real.exit);
    expect(sim.leftover).toEqual(real.leftover);
  });

  it('exits on SIGTERM like qsd: status 0, monitor sockets and pid file gone', {
    timeout: 120_000,
  }, async () => {
    const real = await scenario('real', 'SIGTERM');
    const sim = await scenario('sim', 'SIGTERM');
    expect(sim.exit).toEqual(real.exit);
    expect(sim.leftover).toEqual(real.leftover);
    expect(sim.leftover).not.toContain('qsd.pid');
    expect(sim.leftover).not.toContain('qmp.sock');
  });
});
