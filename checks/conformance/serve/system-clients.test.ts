/**
 * Differential, through real clients: `fleece-lab serve --flavour system --profile V` and the real
 * qemu-system-x86_64 V started with the SAME argument vector (each in its own scratch folder holding
 * identical images), then driven over QMP as a management layer would: the greeting, queries, HMP
 * `qemu-io -d vd0/virtio-backend` writes and reads as the guest, a fleecing recipe exported over NBD and
 * read by nbdinfo and nbdcopy, quit or SIGTERM. Every reply, event, byte of stdout (qemu-io's output) and
 * stderr, the exit status and the files left are compared after normalising only noise (the scratch
 * folder, pids, timestamps, qemu-io's rates, the CPU's host thread id). A second command line is the one
 * libvirt 9.0 gives a q35 domain, its monitor a listening socket passed in as fd=3.
 * A version whose qemu-system-x86_64 is not installed is skipped, as is everything without the tools.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDrainPairLines, normalizeText } from '../../../contract/noise.ts';
import { domainArgv } from '../../../harness/qemu/capture-system.ts';
import { type ResolvedQemu, resolveQemu } from '../../../harness/qemu/install.ts';
import { execOut, firstDifference, have, RawQmp, sleep } from './clients-kit.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TSX_LOADER = path.join(ROOT, 'node_modules/tsx/dist/loader.mjs');
const SERVE = path.join(ROOT, 'bin/serve.ts');
const haveTools = ['qemu-img', 'qemu-io', 'nbdinfo', 'nbdcopy'].every(have);

type Kind = 'real' | 'sim';
type Version = '5.2' | '7.2' | '10.0' | '11.1';
type Transcript = Record<string, string>;

const scratchDirs: string[] = [];
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs)
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
    }
  for (const d of scratchDirs) fs.rmSync(d, { recursive: true, force: true });
});

function findQemu(v: Version): ResolvedQemu | undefined {
  try {
    return resolveQemu(v);
  } catch {
    return undefined;
  }
}

/** identical images for both sides, made by the host's qemu-img and qemu-io */
function makeScratch(kind: Kind): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fl-sc-${kind}-`));
  scratchDirs.push(dir);
  const run = (cmd: string, ...a: string[]) => execFileSync(cmd, a, { cwd: dir, stdio: 'ignore' });
  run('qemu-img', 'create', '-q', '-f', 'raw', 'disk0.raw', '4M');
  run('qemu-io', '-f', 'raw', 'disk0.raw', '-c', 'write -P 0x11 0 1M', '-c', 'write -P 0x12 2M 64k');
  run('qemu-img', 'create', '-q', '-f', 'qcow2', 'disk1.qcow2', '4M');
  run('qemu-io', '-f', 'qcow2', 'disk1.qcow2', '-c', 'write -P 0x21 0 128k');
  run('qemu-img', 'create', '-q', '-f', 'qcow2', 'temp.qcow2', '4M');
  fs.copyFileSync(path.join(dir, 'disk0.raw'), path.join(dir, 'disk0.orig'));
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

/** the same argv to the real binary or to serve --flavour system; `fd3`: a socket passed as fd 3 */
function start(kind: Kind, v: Version, q: ResolvedQemu, argv: string[], dir: string, fd3?: number): Started {
  const cmd =
    kind === 'real'
      ? [...q.system, ...argv]
      : [process.execPath, '--import', TSX_LOADER, SERVE, '--flavour', 'system', '--profile', v, ...argv];
  const proc = spawn(cmd[0], cmd.slice(1), {
    cwd: dir,
    env: { ...process.env, ...(kind === 'real' ? q.env : {}) },
    argv0: kind === 'real' && q.system.length === 1 ? 'qemu-system-x86_64' : undefined,
    stdio: ['ignore', 'pipe', 'pipe', ...(fd3 !== undefined ? [fd3] : [])],
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

/** what differs between two runs without either being wrong */
function noise(text: string, dir: string, pids: number[]): string {
  return normalizeText(text, dir, pids)
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/g, 'TIMESTAMP')
    .replace(/\{"thread-id": \d+, /g, '{"thread-id": T, ');
}

async function until(file: string, s: Started, ms = 30_000): Promise<boolean> {
  let done = false;
  void s.exited.then(() => {
    done = true;
  });
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) {
    if (fs.existsSync(path.join(s.dir, file))) return true;
    if (done) return false;
  }
  throw new Error(`${s.kind}: no ${file} within ${ms} ms; stderr: ${s.err()}`);
}

type Probe = (c: RawQmp, s: Started, t: Transcript) => Promise<void>;

/** a QMP conversation recorded step by step into the transcript (replies as sent) */
function recorder(c: RawQmp, t: Transcript) {
  let n = 0;
  return {
    q: async (cmd: Record<string, unknown>) => {
      t[`qmp ${String(++n).padStart(2, '0')} ${JSON.stringify(cmd).slice(0, 120)}`] = await c.send(cmd);
    },
    sh: async (name: string, cmd: string, args: string[], dir: string) => {
      t[`sh ${String(++n).padStart(2, '0')} ${name}`] = await execOut(cmd, args, dir);
    },
    hmp: async (line: string) => {
      t[`hmp ${String(++n).padStart(2, '0')} ${line}`] = await c.send({
        execute: 'human-monitor-command',
        arguments: { 'command-line': line },
      });
    },
  };
}

/**
 * Start real and sim in identical folders; once `ready` is there, talk QMP on `socket` (or on fd 3's
 * socket), then end as `end` says. The transcript: the conversation, events, stdout, stderr, status, files.
 */
async function both(
  v: Version,
  q: ResolvedQemu,
  argv: (dir: string) => string[],
  o: { ready: string; socket: string; passFd?: boolean; probe: Probe; end: 'quit' | 'SIGTERM' },
): Promise<{ real: Transcript; sim: Transcript }> {
  const one = async (kind: Kind): Promise<Transcript> => {
    const dir = makeScratch(kind);
    // libvirt's way: a socket it listens on, handed over as fd 3. Node unlinks a unix socket when it
    // closes its own handle, so the socket is bound under another name and linked where it is wanted.
    let fd: number | undefined;
    let server: net.Server | undefined;
    if (o.passFd) {
      server = net.createServer();
      const bound = path.join(dir, `.${o.socket}`);
      await new Promise<void>((r) => server!.listen(bound, r));
      fs.linkSync(bound, path.join(dir, o.socket));
      fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    }
    const s = start(kind, v, q, argv(dir), dir, fd);
    // this process must not accept the monitor's clients itself
    server?.close();
    const t: Transcript = {};
    const pids = [s.proc.pid ?? -1, process.pid];
    if (await until(o.ready, s)) {
      const c = await RawQmp.connect(path.join(dir, o.socket));
      t.greeting = c.greeting;
      await o.probe(c, s, t);
      const mark = c.all.length;
      if (o.end === 'quit') await c.send({ execute: 'quit', id: 'bye' });
      else s.proc.kill('SIGTERM');
      await Promise.race([s.exited, sleep(10_000)]);
      await sleep(50);
      t['at the end'] = c.all.slice(mark).join('');
      t.events = dropDrainPairLines(c.events).join('');
      c.close();
    }
    t.status = await Promise.race([s.exited, sleep(10_000).then(() => 'timeout')]);
    t.stdout = s.out();
    t.stderr = s.err();
    t.leftover = fs.readdirSync(dir).sort().join(' ');
    for (const k of Object.keys(t)) t[k] = noise(t[k], dir, pids);
    return t;
  };
  const [real, sim] = await Promise.all([one('real'), one('sim')]);
  return { real, sim };
}

function expectSame(r: { real: Transcript; sim: Transcript }): void {
  let d = firstDifference(r.real, r.sim);
  if (d) d += `\n  real stderr: ${r.real.stderr}\n  sim stderr: ${r.sim.stderr}`;
  if (d && process.env.FL_RC_DUMP)
    for (const k of Object.keys({ ...r.real, ...r.sim }))
      if (r.real[k] !== r.sim[k]) console.log(`=== ${k}\n--- real\n${r.real[k]}\n--- sim\n${r.sim[k]}`);
  expect(d, d).toBeUndefined();
}

/** two guest disks (raw on a file node, qcow2), -S, the monitor on -qmp */
function vmArgv(v: Version): (dir: string) => string[] {
  const disk1 =
    v === '5.2'
      ? ['-device', 'virtio-blk-pci,drive=q1,id=vd1']
      : ['-device', '{"driver": "virtio-blk-pci", "drive": "q1", "id": "vd1", "bootindex": 1}'];
  return (dir) => [
    '-M',
    'q35',
    '-accel',
    'tcg',
    '-display',
    'none',
    '-nodefaults',
    '-S',
    '-qmp',
    `unix:${path.join(dir, 'qmp.sock')},server=on,wait=off`,
    '-pidfile',
    'qemu.pid',
    '-blockdev',
    `{"driver": "file", "filename": "${path.join(dir, 'disk0.raw')}", "node-name": "f0"}`,
    '-blockdev',
    'driver=raw,node-name=src,file=f0',
    '-device',
    'virtio-blk-pci,drive=src,id=vd0',
    '-blockdev',
    'driver=qcow2,node-name=q1,file.driver=file,file.filename=disk1.qcow2',
    ...disk1,
  ];
}

const uri = (s: Started, name: string) => `nbd+unix:///${name}?socket=${path.join(s.dir, 'nbd.sock')}`;

/** queries, the guest writing through its device, a point in time exported and read, run state */
function vmProbe(v: Version): Probe {
  return async (c, s, t) => {
    const { q, sh, hmp } = recorder(c, t);
    await q({ execute: 'qmp_capabilities' });
    for (const cmd of ['query-version', 'query-status', 'query-block', 'query-name', 'query-kvm'])
      await q({ execute: cmd });
    await q({ execute: 'query-named-block-nodes', arguments: { flat: true } });
    await q({ execute: 'qom-list', arguments: { path: '/machine/peripheral' } });
    await q({ execute: 'query-chardev' });
    await hmp('qemu-io -d vd0/virtio-backend "write -P 0x22 1M 64k"');
    await hmp('qemu-io -d vd0/virtio-backend "read -v 1M 32"');
    await hmp('qemu-io -d vd0 "read 0 4k"');
    await q({
      execute: 'nbd-server-start',
      arguments: { addr: { type: 'unix', data: { path: 'nbd.sock' } } },
    });
    if (v === '5.2') {
      await q({
        execute: 'blockdev-add',
        arguments: {
          driver: 'qcow2',
          'node-name': 'temp',
          file: { driver: 'file', filename: 'temp.qcow2' },
          backing: 'src',
        },
      });
      await q({
        execute: 'blockdev-backup',
        arguments: { 'job-id': 'fl', device: 'src', target: 'temp', sync: 'none' },
      });
      await q({
        execute: 'block-export-add',
        arguments: { type: 'nbd', id: 'e', 'node-name': 'temp', name: 'fleece' },
      });
    } else {
      await q({
        execute: 'blockdev-add',
        arguments: { driver: 'qcow2', 'node-name': 'temp', file: { driver: 'file', filename: 'temp.qcow2' } },
      });
      await q({
        execute: 'blockdev-add',
        arguments: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'src', target: 'temp' },
      });
      await q({
        execute: 'qom-set',
        arguments: { path: '/machine/peripheral/vd0', property: 'drive', value: 'cbw' },
      });
      await q({
        execute: 'blockdev-add',
        arguments: { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' },
      });
      await q({
        execute: 'block-export-add',
        arguments: { type: 'nbd', id: 'e', 'node-name': 'acc', name: 'fleece' },
      });
    }
    await hmp('qemu-io -d vd0/virtio-backend "write -P 0x99 0 64k"');
    await sh('map', 'nbdinfo', ['--map', uri(s, 'fleece')], s.dir);
    await sh('copy', 'nbdcopy', [uri(s, 'fleece'), path.join(s.dir, 'snap.raw')], s.dir);
    await sh(
      'point in time',
      'qemu-io',
      ['-f', 'raw', '-r', 'snap.raw', '-c', 'read -P 0x11 0 64k', '-c', 'read -P 0x22 1M 64k'],
      s.dir,
    );
    fs.rmSync(path.join(s.dir, 'snap.raw'), { force: true });
    await q({ execute: 'query-block-exports' });
    await q({ execute: 'block-export-del', arguments: { id: 'e' } });
    await c.event('BLOCK_EXPORT_DELETED');
    // a transaction drains every block job first: a ready mirror goes to standby and back (libvirt's
    // blockcopy adds its bitmap so), which this comparison keeps (it drops only paused/running pairs)
    await q({ execute: 'blockdev-add', arguments: { driver: 'null-co', 'node-name': 'mt', size: 4194304 } });
    await q({
      execute: 'blockdev-mirror',
      arguments: { 'job-id': 'mj', device: 'q1', target: 'mt', sync: 'full' },
    });
    await c.event('BLOCK_JOB_READY');
    await q({
      execute: 'transaction',
      arguments: { actions: [{ type: 'block-dirty-bitmap-add', data: { node: 'mt', name: 'b0' } }] },
    });
    await q({ execute: 'block-job-cancel', arguments: { device: 'mj' } });
    await c.event('BLOCK_JOB_COMPLETED');
    await q({ execute: 'cont' });
    await q({ execute: 'query-status' });
    // the firmware sets up the disks it may boot from: their write cache goes off (all here: no strict)
    await firmwareDone(c, 2);
    await q({ execute: 'query-block' });
    await q({ execute: 'stop' });
    await q({ execute: 'query-status' });
  };
}

/**
 * Until the guest's firmware has set up `disks` disks (write caches gone off in query-block), bounded: real
 * SeaBIOS takes longer on a loaded machine than any fixed pause. The polls are not in the transcript; the
 * query-block that follows is, and still shows a firmware that never came.
 */
async function firmwareDone(c: RawQmp, disks: number, boundMs = 10_000): Promise<void> {
  for (const end = Date.now() + boundMs; Date.now() < end; await sleep(100)) {
    const r = await c.send({ execute: 'query-block', id: 'poll' });
    if (r.split('"writeback": false').length - 1 >= disks) return;
  }
}

/** the start of libvirt's own conversation with a domain it started */
const libvirtProbe: Probe = async (c, s, t) => {
  const { q, hmp } = recorder(c, t);
  await q({ execute: 'qmp_capabilities', id: 'libvirt-1' });
  await q({ execute: 'query-migrate-capabilities', id: 'libvirt-2' });
  await q({
    execute: 'migrate-set-capabilities',
    arguments: { capabilities: [{ capability: 'events', state: true }] },
    id: 'libvirt-3',
  });
  for (const cmd of ['query-chardev', 'query-hotpluggable-cpus', 'query-cpus-fast'])
    await q({ execute: cmd, id: 'libvirt' });
  await q({ execute: 'qom-list', arguments: { path: '/machine/unattached/device[0]' }, id: 'libvirt' });
  for (const property of ['realized', 'hotplugged', 'popcnt', 'vmx-invept-single-context'])
    await q({
      execute: 'qom-get',
      arguments: { path: '/machine/unattached/device[0]', property },
      id: 'libvirt',
    });
  await q({ execute: 'query-iothreads', id: 'libvirt' });
  await q({ execute: 'query-named-block-nodes', arguments: { flat: true }, id: 'libvirt' });
  await q({ execute: 'qom-list', arguments: { path: '/machine/peripheral' }, id: 'libvirt' });
  await q({ execute: 'query-block', id: 'libvirt' });
  await q({ execute: 'cont', id: 'libvirt' });
  await hmp('qemu-io -d virtio-disk0/virtio-backend "write -P 0x44 0 64k"');
  // -boot strict=on: the firmware sets up only the disk with a bootindex, whose write cache goes off
  await firmwareDone(c, 1);
  await q({ execute: 'query-block', id: 'libvirt' });
  void s;
};

const VERSIONS: Version[] = ['7.2', '11.1', '10.0', '5.2'];
for (const v of VERSIONS) {
  const q = findQemu(v);
  describe.skipIf(!q || !haveTools)(
    `serve --flavour system --profile ${v} vs qemu-system-x86_64 ${v}`,
    () => {
      it('runs a q35 VM with two virtio disks like QEMU: QMP, HMP qemu-io, NBD, quit', {
        timeout: 90_000,
      }, async () => {
        const r = await both(v, q!, vmArgv(v), {
          ready: 'qmp.sock',
          socket: 'qmp.sock',
          probe: vmProbe(v),
          end: 'quit',
        });
        expect(r.real['at the end']).toContain('SHUTDOWN');
        expectSame(r);
      });

      it.skipIf(v === '5.2')(
        "runs libvirt's command line (monitor passed as fd=3) like QEMU, to SIGTERM",
        { timeout: 90_000 },
        async () => {
          const argv = (dir: string) =>
            domainArgv(q!, dir, 'unused').map((a) =>
              a.startsWith('socket,id=charmonitor') ? 'socket,id=charmonitor,fd=3,server=on,wait=off' : a,
            );
          const r = await both(v, q!, argv, {
            ready: 'monitor.sock',
            socket: 'monitor.sock',
            passFd: true,
            probe: libvirtProbe,
            end: 'SIGTERM',
          });
          expect(r.real.events).toContain('host-signal');
          expectSame(r);
        },
      );
    },
  );
}
