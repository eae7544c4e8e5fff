/**
 * Differential, through real clients: `fleece-lab serve --profile V` and the real qemu-storage-daemon V
 * started with the SAME argument vector (each in its own scratch folder holding identical images made by
 * qemu-img/qemu-io), then probed by nbdinfo, nbdcopy, qemu-img, qemu-io and a QMP client. Every output is
 * compared byte for byte after normalising only noise (contract/noise.ts): the scratch folder, pids, node
 * names, qemu-io's timing, QMP timestamps, and a drain's paused/running pair among the events. Startup: stdout, stderr and exit status (good and bad command lines, -V, -h,
 * --daemonize). The comparison itself is checked to flag a changed byte.
 * A version whose qemu-storage-daemon is not installed is skipped, as is everything without the tools.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDrainPairLines, normalizeText } from '../../../contract/noise.ts';
import { type ResolvedQemu, resolveQemu } from '../../../harness/qemu/install.ts';
import { alive, execOut, firstDifference, have, pool, RawQmp, sleep } from './clients-kit.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TSX_LOADER = path.join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const SERVE = path.join(ROOT, 'bin/serve.ts');

const TOOLS = ['qemu-img', 'qemu-io', 'nbdinfo', 'nbdcopy'].filter(have);
const haveTools = TOOLS.length === 4;

type Kind = 'real' | 'sim';
type Version = '7.2' | '11.1' | '10.0' | '5.2';

function findQemu(v: Version): ResolvedQemu | undefined {
  try {
    return resolveQemu(v);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ processes and scratch folders

const scratchDirs: string[] = [];
const procs: ChildProcess[] = [];

afterAll(async () => {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    }
  }
  for (const d of scratchDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Identical images, made by the host's qemu-img/qemu-io (the same tools for both sides). */
function makeScratch(tag: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fl-rc-${tag}-`));
  scratchDirs.push(dir);
  const img = (...a: string[]) => execFileSync('qemu-img', a, { cwd: dir, stdio: 'ignore' });
  const io = (file: string, fmt: string, ...cmds: string[]) =>
    execFileSync('qemu-io', ['-f', fmt, file, ...cmds.flatMap((c) => ['-c', c])], {
      cwd: dir,
      stdio: 'ignore',
    });
  // disk.raw: sparse 4 MiB, data at 0 (64k of 0x11) and 1 MiB (128k of 0x22)
  img('create', '-q', '-f', 'raw', 'disk.raw', '4M');
  io('disk.raw', 'raw', 'write -P 0x11 0 64k', 'write -P 0x22 1M 128k');
  // base.qcow2 + top.qcow2 (backing base): allocation in both layers, a zeroed cluster in top
  img('create', '-q', '-f', 'qcow2', 'base.qcow2', '4M');
  io('base.qcow2', 'qcow2', 'write -P 0x33 0 256k', 'write -P 0x44 2M 64k');
  img('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2', '4M');
  io('top.qcow2', 'qcow2', 'write -P 0x55 64k 64k', 'write -z 2M 64k', 'write -P 0x66 3M 64k');
  fs.copyFileSync(path.join(dir, 'disk.raw'), path.join(dir, 'disk.orig'));
  // temp.qcow2: the fleecing target
  img('create', '-q', '-f', 'qcow2', 'temp.qcow2', '4M');
  return dir;
}

interface Started {
  kind: Kind;
  dir: string;
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<string>;
}

function start(kind: Kind, v: Version, q: ResolvedQemu, argv: string[], dir: string): Started {
  const argv0 = q.qsd[q.qsd.length - 1];
  const cmd =
    kind === 'real'
      ? [...q.qsd, ...argv]
      : [process.execPath, '--import', TSX_LOADER, SERVE, '--profile', v, ...argv];
  const proc = spawn(cmd[0], cmd.slice(1), {
    cwd: dir,
    env: { ...process.env, ...(kind === 'real' ? q.env : { FLEECE_LAB_QSD_ARGV0: argv0 }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString('latin1');
  });
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString('latin1');
  });
  const exited = new Promise<string>((resolve) =>
    proc.once('close', (code, signal) => resolve(signal ? `signal ${signal}` : `exit ${code}`)),
  );
  return { kind, dir, proc, out: () => out, err: () => err, exited };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** until `file` exists or the process ends; true when the file is there */
function readsLine(p: string): boolean {
  try {
    return fs.readFileSync(p, 'utf8').endsWith('\n');
  } catch {
    return false;
  }
}

async function until(s: Started, file: string, ms = 20_000): Promise<boolean> {
  let done = false;
  void s.exited.then(() => {
    done = true;
  });
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // a pid file is there once its line is (qemu_write_pidfile opens, then writes: both sides have a window)
    if (
      fs.existsSync(path.join(s.dir, file)) &&
      (!file.endsWith('.pid') || readsLine(path.join(s.dir, file)))
    )
      return true;
    if (done) return false;
    await sleep(20);
  }
  throw new Error(`${s.kind}: neither ${file} nor an exit within ${ms} ms; stderr: ${s.err()}`);
}

// ------------------------------------------------------------------ normalising and comparing

type Transcript = Record<string, string>;
type Probe = (s: Started) => Promise<Transcript>;

/**
 * Start real and sim with `argv` in identical scratch folders; when startup succeeds (`ready` appears),
 * run `probe`, then SIGTERM. The transcript: stdout, stderr, exit status and the probe's outputs.
 */
async function both(
  v: Version,
  q: ResolvedQemu,
  argv: string[],
  opts: { ready?: string; probe?: Probe; sequential?: boolean; scratch?: boolean; daemon?: boolean } = {},
): Promise<{ real: Transcript; sim: Transcript }> {
  const one = async (kind: Kind): Promise<Transcript> => {
    const dir =
      opts.scratch === false ? fs.mkdtempSync(path.join(os.tmpdir(), `fl-rc-${kind}-`)) : makeScratch(kind);
    if (opts.scratch === false) scratchDirs.push(dir);
    const s = start(kind, v, q, argv, dir);
    const t: Transcript = {};
    let pids: number[] = [s.proc.pid ?? -1];
    if (opts.daemon) {
      // the parent exits once startup is over; the daemon's pid is in the pid file
      t.status = await s.exited;
      const pidfile = path.join(dir, 'qsd.pid');
      if (fs.existsSync(pidfile)) {
        const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
        pids = [...pids, pid];
        if (opts.probe) Object.assign(t, await opts.probe(s));
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 200 && alive(pid); i++) await sleep(25);
        t.daemonGone = String(!alive(pid));
      }
    } else if (opts.ready && (await until(s, opts.ready))) {
      const pidfile = path.join(dir, opts.ready);
      if (opts.ready.endsWith('.pid')) {
        const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
        pids = [...pids, pid];
        t.pidfile = fs.readFileSync(pidfile, 'utf8').replace(String(pid), '$PID');
      }
      if (opts.probe) Object.assign(t, await opts.probe(s));
      if (s.proc.exitCode === null) s.proc.kill('SIGTERM');
      else for (const p of pids.slice(1)) if (alive(p)) process.kill(p, 'SIGTERM');
    }
    t.status ??= await Promise.race([
      s.exited,
      sleep(20_000).then(() => {
        s.proc.kill('SIGKILL');
        return 'timeout';
      }),
    ]);
    await sleep(50);
    t.stdout = s.out();
    t.stderr = s.err();
    t.leftover = fs.readdirSync(dir).sort().join(' ');
    for (const k of Object.keys(t)) t[k] = normalizeText(t[k], dir, pids);
    return t;
  };
  if (opts.sequential) {
    const real = await one('real');
    const sim = await one('sim');
    return { real, sim };
  }
  const [real, sim] = await Promise.all([one('real'), one('sim')]);
  return { real, sim };
}

function expectSame(r: { real: Transcript; sim: Transcript }): void {
  let d = firstDifference(r.real, r.sim);
  if (d) d += `\n  real stderr: ${r.real.stderr}\n  sim stderr: ${r.sim.stderr}`;
  if (d && process.env.FL_RC_DUMP) {
    for (const k of Object.keys({ ...r.real, ...r.sim }))
      if (r.real[k] !== r.sim[k]) console.log(`=== ${k}\n--- real\n${r.real[k]}\n--- sim\n${r.sim[k]}`);
  }
  expect(d, d).toBeUndefined();
}

// ------------------------------------------------------------------ the probes

const uri = (s: Started, name: string) => `nbd+unix:///${name}?socket=${path.join(s.dir, 'nbd.sock')}`;

async function nbdProbe(s: Started): Promise<Transcript> {
  const d = s.dir;
  const t: Transcript = {};
  const u = (n: string) => uri(s, n);
  t['nbdinfo --list'] = await execOut('nbdinfo', ['--list', u('')], d);
  t['nbdinfo --json'] = await execOut('nbdinfo', ['--json', u('top')], d);
  t['nbdinfo raw'] = await execOut('nbdinfo', [u('raw')], d);
  t['nbdinfo --map'] = await execOut('nbdinfo', ['--map', u('top')], d);
  t['nbdinfo --map totals'] = await execOut('nbdinfo', ['--map', '--totals', u('raw')], d);
  t['nbdinfo --map depth'] = await execOut('nbdinfo', ['--map=qemu:allocation-depth', u('top')], d);
  t['nbdinfo --map bitmap'] = await execOut('nbdinfo', ['--map=qemu:dirty-bitmap:b0', u('top')], d);
  t['nbdinfo --map missing'] = await execOut('nbdinfo', ['--map=qemu:dirty-bitmap:nope', u('top')], d);
  for (const p of [
    '--can=write',
    '--can=trim',
    '--can=zero',
    '--can=fua',
    '--can=cache',
    '--can=df',
    '--can=multi-conn',
    '--can=fast-zero',
    '--can=flush',
    '--can=block-status',
    '--is=read-only',
    '--is=rotational',
    '--has=base:allocation',
    '--size',
    '--content',
  ]) {
    t[`nbdinfo ${p} top`] = await execOut('nbdinfo', [p, u('top')], d);
    t[`nbdinfo ${p} raw`] = await execOut('nbdinfo', [p, u('raw')], d);
  }
  t['nbdinfo missing export'] = await execOut('nbdinfo', [u('nope')], d);
  t['qemu-img info'] = await execOut('qemu-img', ['info', '--output=json', u('top')], d);
  t['qemu-img info human'] = await execOut('qemu-img', ['info', u('raw')], d);
  t['qemu-img map'] = await execOut('qemu-img', ['map', '--output=json', u('top')], d);
  t['qemu-img map raw'] = await execOut('qemu-img', ['map', '--output=json', u('raw')], d);
  t['qemu-img compare'] = await execOut(
    'qemu-img',
    ['compare', '-f', 'raw', '-F', 'raw', u('raw'), 'disk.raw'],
    d,
  );
  t['qemu-img compare top'] = await execOut(
    'qemu-img',
    ['compare', '-f', 'raw', '-F', 'qcow2', u('top'), 'top.qcow2'],
    d,
  );
  t['qemu-io read -v'] = await execOut(
    'qemu-io',
    [
      '-r',
      '-f',
      'raw',
      u('top'),
      '-c',
      'read -v 65500 100',
      '-c',
      'readv -P 0x33 0 4k 60k',
      '-c',
      'read -P 0 1M 4k',
      '-c',
      'map',
      '-c',
      'alloc 0 4M',
      '-c',
      'alloc 2M 64k',
    ],
    d,
  );
  t['qemu-io write to ro'] = await execOut('qemu-io', ['-f', 'raw', u('top'), '-c', 'write 0 4k'], d);
  t['qemu-io rw raw'] = await execOut(
    'qemu-io',
    [
      '-f',
      'raw',
      u('raw'),
      '-c',
      'write -P 0x77 512 4k',
      '-c',
      'write -z 1M 64k',
      '-c',
      'discard 2M 64k',
      '-c',
      'flush',
      '-c',
      'read -v 500 40',
      '-c',
      'read -P 0 1M 64k',
      '-c',
      'map',
    ],
    d,
  );
  t.nbdcopy = await execOut('nbdcopy', [u('top'), path.join(d, 'copy.raw')], d);
  t['nbdcopy cmp'] = await execOut(
    'qemu-img',
    ['compare', '-f', 'raw', '-F', 'qcow2', 'copy.raw', 'top.qcow2'],
    d,
  );
  fs.rmSync(path.join(d, 'copy.raw'), { force: true });
  t['disk.raw after'] =
    fs.readFileSync(path.join(d, 'disk.raw')).toString('base64').length.toString() +
    ':' +
    Buffer.from(fs.readFileSync(path.join(d, 'disk.raw')).subarray(0, 8192)).toString('hex');
  return t;
}

const NBD_ARGV = [
  '--blockdev',
  'driver=file,node-name=raw-file,filename=disk.raw',
  '--blockdev',
  '{"driver": "raw", "node-name": "raw", "file": "raw-file"}',
  '--blockdev',
  'driver=qcow2,node-name=top,file.driver=file,file.filename=top.qcow2,read-only=on',
  '--nbd-server',
  'addr.type=unix,addr.path=nbd.sock',
  '--export',
  'type=nbd,id=e-raw,node-name=raw,name=raw,writable=on,description=the raw disk',
  '--export',
  'type=nbd,id=e-top,node-name=top,name=top,allocation-depth=on',
  '--chardev',
  'socket,path=qmp.sock,server=on,wait=off,id=m0',
  '--monitor',
  'chardev=m0',
];
/** 5.2 has no --pidfile: its last option's socket tells that startup is over */
const withPidfile = (v: Version, argv: string[]) => (v === '5.2' ? argv : [...argv, '--pidfile', 'qsd.pid']);
const readyFile = (v: Version) => (v === '5.2' ? 'qmp.sock' : 'qsd.pid');

// ------------------------------------------------------------------ startup variants

const MON = ['--chardev', 'socket,path=qmp.sock,server=on,wait=off,id=m0', '--monitor', 'chardev=m0'];
const FILE = ['--blockdev', 'driver=file,node-name=f,filename=disk.raw'];
const NBD_UNIX = ['--nbd-server', 'addr.type=unix,addr.path=nbd.sock'];

/** command lines that start: compared on stderr, status and what is left after SIGTERM */
const GOOD: Record<string, string[]> = {
  'null-co key=value and json': [
    '--blockdev',
    'driver=null-co,node-name=n0,size=1048576',
    '--blockdev',
    '{"driver": "null-co", "node-name": "n1", "read-zeroes": true}',
  ],
  'file + raw + qcow2 over nbd': [
    ...FILE,
    '--blockdev',
    'raw,node-name=r,file=f',
    '--blockdev',
    '{"driver": "qcow2", "node-name": "q", "file": {"driver": "file", "filename": "top.qcow2"}}',
    ...NBD_UNIX,
    '--export',
    'nbd,id=e0,node-name=r,name=r0,writable=on,description=a b',
    '--export',
    'type=nbd,id=e1,node-name=q',
  ],
  objects: [
    '--object',
    'iothread,id=io0',
    '--object',
    'throttle-group,id=tg0,x-bps-total=1048576',
    '--blockdev',
    'driver=null-co,node-name=n0',
    '--blockdev',
    'driver=throttle,node-name=t0,throttle-group=tg0,file=n0',
  ],
};

/** command lines that do not start (or print and exit); the first ones on every version */
const BAD: Record<string, string[]> = {
  'unknown option': ['--bogus'],
  'bad json': ['--blockdev', '{"driver": "raw"'],
  'export without server': [...FILE, '--export', 'type=nbd,id=e,node-name=f'],
  'nbd-server bad port': ['--nbd-server', 'addr.type=inet,addr.host=127.0.0.1,addr.port=notaport'],
  '--help then a bad option': ['--help', '--bogus'],
  '--daemonize (5.2: unknown)': ['--daemonize', '--bogus'],
};
/** more, on 7.2 and 5.2 (each start of the simulator costs about a second of CPU) */
const BAD_MORE: Record<string, string[]> = {
  'missing argument': ['--blockdev'],
  'unknown driver': ['--blockdev', 'driver=nope,node-name=x'],
  'missing image': ['--blockdev', 'driver=file,node-name=f,filename=missing.raw'],
  'duplicate node': [...FILE, ...FILE],
  'export of a missing node': [...NBD_UNIX, '--export', 'type=nbd,id=e,node-name=missing'],
  'export of a missing bitmap': [
    ...FILE,
    ...NBD_UNIX,
    '--export',
    'type=nbd,id=e,node-name=f,bitmaps.0=nope',
  ],
  'nbd-server without path': ['--nbd-server', 'addr.type=unix'],
  'unknown object type': ['--object', 'nope,id=x'],
  'chardev without path': ['--chardev', 'socket,id=c'],
  '--version': ['--version'],
};

// ------------------------------------------------------------------ QMP, raw

const QMP_ARGV = [
  '--blockdev',
  'driver=file,node-name=src-file,filename=disk.raw',
  '--blockdev',
  'driver=raw,node-name=src,file=src-file',
  ...NBD_UNIX,
  ...MON,
];

/** the fleecing recipe of the version (copy-before-write + snapshot-access, or 5.2's backup sync=none) */
function qmpProbe(v: Version): Probe {
  return async (s) => {
    const t: Transcript = {};
    const d = s.dir;
    const c = await RawQmp.connect(path.join(d, 'qmp.sock'));
    t.greeting = c.greeting;
    let n = 0;
    const q = async (cmd: string | Record<string, unknown>) => {
      const reply = await c.send(cmd);
      t[`qmp ${String(++n).padStart(2, '0')} ${typeof cmd === 'string' ? cmd.trim() : JSON.stringify(cmd)}`] =
        reply;
    };
    const sh = async (name: string, cmd: string, args: string[]) => {
      t[`sh ${String(++n).padStart(2, '0')} ${name}`] = await execOut(cmd, args, d);
    };
    await q({ execute: 'query-version' });
    await q({ execute: 'qmp_capabilities', arguments: { enable: ['oob'] } });
    await q({ 'exec-oob': 'query-version', id: 'o1' });
    await q({ execute: 'query-version', id: 1 });
    await q({ execute: 'block-dirty-bitmap-add', arguments: { node: 'src', name: 'b0' }, id: 2 });
    let guest = 'live';
    if (v === '5.2') {
      await q({
        execute: 'block-export-add',
        arguments: { type: 'nbd', id: 'live', 'node-name': 'src', name: 'live', writable: true },
        id: 2,
      });
      await sh('guest write', 'qemu-io', ['-f', 'raw', uri(s, 'live'), '-c', 'write -P 0x22 1M 64k']);
      await q({
        execute: 'blockdev-add',
        arguments: {
          driver: 'qcow2',
          'node-name': 'temp',
          file: { driver: 'file', filename: 'temp.qcow2' },
          backing: 'src',
        },
        id: 3,
      });
      await q({
        execute: 'blockdev-backup',
        arguments: { 'job-id': 'fl', device: 'src', target: 'temp', sync: 'none' },
        id: 4,
      });
      await q({
        execute: 'block-export-add',
        arguments: { type: 'nbd', id: 'fleece', 'node-name': 'temp', name: 'fleece' },
        id: 5,
      });
      await sh('guest write 2', 'qemu-io', ['-f', 'raw', uri(s, 'live'), '-c', 'write -P 0x99 0 64k']);
    } else {
      await q({
        execute: 'blockdev-add',
        arguments: { driver: 'qcow2', 'node-name': 'temp', file: { driver: 'file', filename: 'temp.qcow2' } },
        id: 3,
      });
      await q({
        execute: 'blockdev-add',
        arguments: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'src', target: 'temp' },
        id: 4,
      });
      await q({
        execute: 'blockdev-add',
        arguments: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' },
        id: 5,
      });
      await q({
        execute: 'block-export-add',
        arguments: { type: 'nbd', id: 'guest', 'node-name': 'cbw', name: 'guest', writable: true },
        id: 6,
      });
      await q({
        execute: 'block-export-add',
        arguments: { type: 'nbd', id: 'fleece', 'node-name': 'acc', name: 'fleece' },
        id: 7,
      });
      guest = 'guest';
      await sh('guest write', 'qemu-io', ['-f', 'raw', uri(s, 'guest'), '-c', 'write -P 0x22 1M 64k']);
      await sh('guest write 2', 'qemu-io', ['-f', 'raw', uri(s, 'guest'), '-c', 'write -P 0x99 0 64k']);
      await sh('write to snapshot', 'qemu-io', ['-f', 'raw', uri(s, 'fleece'), '-c', 'write 0 4k']);
    }
    await q({
      execute: 'block-export-add',
      arguments: { type: 'nbd', id: 'bm', 'node-name': 'src', name: 'bm', bitmaps: ['b0'] },
      id: 8,
    });
    await q({ execute: 'block-dirty-bitmap-disable', arguments: { node: 'src', name: 'b0' }, id: 8 });
    await q({
      execute: 'block-export-add',
      arguments: {
        type: 'nbd',
        id: 'bm',
        'node-name': v === '5.2' ? 'src' : 'cbw',
        name: 'bm',
        bitmaps: ['b0'],
      },
      id: 8,
    });
    await sh('read guest', 'qemu-io', [
      '-r',
      '-f',
      'raw',
      uri(s, guest),
      '-c',
      'read -P 0x99 0 64k',
      '-c',
      'read -v 1M 32',
    ]);
    await sh('read snapshot', 'qemu-io', [
      '-r',
      '-f',
      'raw',
      uri(s, 'fleece'),
      '-c',
      'read -P 0x11 0 64k',
      '-c',
      'read -P 0x22 1M 64k',
      '-c',
      'map',
    ]);
    await sh('map snapshot', 'nbdinfo', ['--map', uri(s, 'fleece')]);
    await sh('map bitmap', 'nbdinfo', ['--map=qemu:dirty-bitmap:b0', uri(s, 'bm')]);
    await sh('list', 'nbdinfo', ['--list', uri(s, '')]);
    await sh('copy snapshot', 'nbdcopy', [uri(s, 'fleece'), path.join(d, 'snap.raw')]);
    await q({ execute: 'query-block-exports', id: 9 });
    await q({ execute: 'block-export-del', arguments: { id: 'bm' }, id: 10 });
    await c.event('BLOCK_EXPORT_DELETED', '"bm"');
    await q({ execute: 'block-export-del', arguments: { id: 'fleece' }, id: 10 });
    await c.event('BLOCK_EXPORT_DELETED', '"fleece"');
    if (v === '5.2') {
      await q({ execute: 'block-job-cancel', arguments: { device: 'fl' }, id: 11 });
      await c.event('"null"', '"fl"');
    } else {
      await q({ execute: 'blockdev-del', arguments: { 'node-name': 'acc' }, id: 11 });
      await q({ execute: 'block-export-del', arguments: { id: 'guest' }, id: 12 });
      await c.event('BLOCK_EXPORT_DELETED', '"guest"');
      await q({ execute: 'blockdev-del', arguments: { 'node-name': 'cbw' }, id: 13 });
    }
    await q({ execute: 'blockdev-del', arguments: { 'node-name': 'temp' }, id: 14 });
    await q({ execute: 'query-block-exports', id: 15 });
    await q('{"execute": "nope", "id": 16}\n');
    await q('{"execute": "query-name", "id": [1, {"a": null}]}\n');
    await q({
      execute: 'block-export-add',
      arguments: { type: 'nbd', id: 'last', 'node-name': 'src', name: 'last' },
      id: 17,
    });
    // two exports left at quit: 7.2 closes them oldest first, 10.0+ newest first
    await q({
      execute: 'block-export-add',
      arguments: { type: 'nbd', id: 'last2', 'node-name': 'src', name: 'last2' },
      id: 18,
    });
    const mark = c.all.length;
    await q({ execute: 'quit', id: 'bye' });
    await s.exited;
    // what quit sends, in order: the exports' BLOCK_EXPORT_DELETED (6.0+) come before quit's reply
    t['after quit'] = c.all.slice(mark).join('');
    t.events = dropDrainPairLines(c.events).join('');
    c.close();
    t['snapshot copy'] = await execOut('cmp', ['-l', 'snap.raw', 'disk.orig'], d);
    return t;
  };
}

// ------------------------------------------------------------------ the tests

describe('the comparison', () => {
  it('flags one changed byte and ignores only noise', () => {
    const a = { stdout: 'abc', stderr: 'x' };
    expect(firstDifference(a, { ...a })).toBeUndefined();
    expect(firstDifference(a, { stdout: 'abd', stderr: 'x' })).toMatch(/stdout: differs at byte 2/);
    expect(firstDifference(a, { stdout: 'abc' })).toMatch(/stderr/);
    expect(normalizeText('/tmp/x/y.sock pid 42 "seconds": 1, "microseconds": 2', '/tmp/x', [42])).toBe(
      '$DIR/y.sock pid $PID "seconds": S, "microseconds": U',
    );
    expect(normalizeText('0x11', '/tmp/x')).not.toBe(normalizeText('0x12', '/tmp/x'));
  });
});

const VERSIONS: Version[] = ['7.2', '11.1', '10.0', '5.2'];
for (const v of VERSIONS) {
  const q = findQemu(v);
  describe.skipIf(!q || !haveTools)(
    `serve --profile ${v} vs qemu-storage-daemon ${v}${q ? '' : ' (not installed)'}`,
    () => {
      it('answers nbdinfo, qemu-img, qemu-io and nbdcopy like qsd', { timeout: 60_000 }, async () => {
        const r = await both(v, q!, withPidfile(v, NBD_ARGV), { ready: readyFile(v), probe: nbdProbe });
        if (process.env.FL_RC_DUMP) console.log(JSON.stringify(r.real, null, 1));
        expect(r.real['nbdinfo --json']).toContain('"export-size": 4194304');
        expectSame(r);
      });

      it('answers QMP and the fleecing recipe like qsd, with real NBD clients on the exports', {
        timeout: 60_000,
      }, async () => {
        const r = await both(v, q!, withPidfile(v, QMP_ARGV), { ready: readyFile(v), probe: qmpProbe(v) });
        if (process.env.FL_RC_DUMP) console.log(JSON.stringify(r.real, null, 1));
        expect(r.real.events).toContain('BLOCK_EXPORT_DELETED');
        expectSame(r);
      });

      it('starts, or refuses to, like qsd: stdout, stderr, exit status', { timeout: 60_000 }, async () => {
        const cases: [string, string[], boolean][] = [
          ...Object.entries(GOOD).map(([k, a]): [string, string[], boolean] => [k, [...a, ...MON], true]),
          ...Object.entries({ ...BAD, ...(v === '7.2' || v === '5.2' ? BAD_MORE : {}) }).map(
            ([k, a]): [string, string[], boolean] => [k, a, false],
          ),
        ];
        const results = await pool(
          cases.map(([name, argv, good]) => async () => ({
            name,
            r: await both(v, q!, argv, good ? { ready: 'qmp.sock' } : {}),
          })),
          4,
        );
        // NBD over TCP: one port, so one after the other
        const port = await freePort();
        const tcp = ['--nbd-server', `addr.type=inet,addr.host=127.0.0.1,addr.port=${port}`];
        results.push({
          name: 'nbd over tcp',
          r: await both(v, q!, [...FILE, ...tcp, '--export', 'type=nbd,id=e,node-name=f,name=x', ...MON], {
            ready: 'qmp.sock',
            sequential: true,
            probe: async (s) => ({
              list: await execOut('nbdinfo', ['--list', `nbd://127.0.0.1:${port}`], s.dir),
              read: await execOut(
                'qemu-io',
                ['-r', '-f', 'raw', `nbd://127.0.0.1:${port}/x`, '-c', 'read -v 0 16'],
                s.dir,
              ),
            }),
          }),
        });
        expect(results.at(-1)?.r.real.list).toContain('export="x"');
        if (v !== '5.2') {
          // --daemonize (7.0+): the parent exits 0 once startup is complete, the daemon serves on
          const argv = [
            ...FILE,
            ...NBD_UNIX,
            '--export',
            'type=nbd,id=e,node-name=f,name=x',
            '--daemonize',
            '--pidfile',
            'qsd.pid',
          ];
          const probe: Probe = async (s) => ({
            list: await execOut('nbdinfo', ['--list', uri(s, '')], s.dir),
          });
          results.push({ name: '--daemonize', r: await both(v, q!, argv, { daemon: true, probe }) });
          results.push({
            name: '--daemonize, bad option',
            r: await both(v, q!, [...FILE, '--daemonize', '--export', 'type=nbd,id=e,node-name=f'], {
              daemon: true,
            }),
          });
          expect(results.at(-2)?.r.real.list).toContain('export="x"');
        }
        const diffs = results.flatMap(({ name, r }) => {
          const d = firstDifference(r.real, r.sim);
          return d ? [`${name}: ${d}`] : [];
        });
        expect(diffs.join('\n\n'), diffs.join('\n\n')).toBe('');
      });
    },
  );
}
