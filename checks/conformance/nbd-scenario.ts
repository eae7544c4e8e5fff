/**
 * One NBD scenario, run the same way against a real qemu-storage-daemon and against the simulator's
 * NBD server, so that tests can compare what a client sees on each (nbd-client.qemu.test.ts).
 *
 * The images are made with the real qemu-img / qemu-io (the tests skip without them); both targets open
 * the same files, in separate scratch folders.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CMD, CMD_FLAG, INFO } from '../../contract/nbd.ts';
import type { Profile } from '../../contract/versions.ts';
import { NbdClient, NbdError, NbdOptionError, NbdRequestError } from '../../harness/clients/nbd-client.js';
import { NbdHandshake } from '../../harness/clients/nbd-handshake.ts';
import type { Extent } from '../../harness/clients/nbd-replies.ts';
import type { NbdOptions } from '../../harness/clients/nbd-socket.ts';
import { resolveQemu } from '../../harness/qemu/install.js';
import { startQsd } from '../../harness/targets/qemu-process.js';
import { attachNbdServer, type NbdServerHandle } from '../../sim/serve/nbd/server.ts';
import { createSim } from '../../sim/sim.ts';

export const MiB = 1024 * 1024;

export function haveTool(bin: string, arg = '--version'): boolean {
  try {
    execFileSync(bin, [arg], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** a byte pattern that differs at every 512-byte sector */
export function pattern(offset: number, length: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const x = offset + i;
    b[i] = (x * 31 + Math.floor(x / 512) * 7 + seed) & 0xff;
  }
  return b;
}

export interface Images {
  dir: string;
  raw: string;
  base: string;
  top: string;
}

/** raw.img (4 MiB pattern), base.qcow2 (0x11 in the first MiB, a zero cluster at 2 MiB), top.qcow2 over it */
export function makeImages(dir: string, img = 'qemu-img', io = 'qemu-io'): Images {
  const raw = path.join(dir, 'raw.img');
  fs.writeFileSync(raw, pattern(0, 4 * MiB));
  const base = path.join(dir, 'base.qcow2');
  const top = path.join(dir, 'top.qcow2');
  const q = { stdio: 'ignore' } as const;
  execFileSync(img, ['create', '-q', '-f', 'qcow2', base, '4M'], q);
  execFileSync(io, ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', '-c', 'write -z 2M 64k', base], q);
  execFileSync(img, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top], q);
  execFileSync(io, ['-f', 'qcow2', '-c', 'write -P 0x22 512k 1M', top], q);
  return { dir, raw, base, top };
}

export interface Target {
  kind: 'qsd' | 'sim';
  socket: string;
  exec(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  stop(): Promise<void>;
}

/** A real qemu-storage-daemon (the host's, or a provisioned version) with an NBD server on `socket`. */
export async function startQsdTarget(socket: string, version?: string): Promise<Target> {
  const r = version ? resolveQemu(version) : undefined;
  const q = await startQsd(r ? { argvPrefix: r.qsd, env: { ...process.env, ...r.env } } : {});
  const exec = (cmd: string, args?: Record<string, unknown>) => q.qmp.execute(cmd, args);
  try {
    await exec('nbd-server-start', { addr: { type: 'unix', data: { path: socket } } });
  } catch (e) {
    await q.stop();
    throw e;
  }
  return { kind: 'qsd', socket, exec, stop: () => q.stop() };
}

/** The simulator (as qemu-storage-daemon, real files in `cwd`) with its NBD server on `socket`. */
export async function startSimTarget(socket: string, cwd: string, profile: Profile = '7.2'): Promise<Target> {
  const sim = createSim({ profile, flavour: 'qsd', fs: 'real', cwd });
  const server: NbdServerHandle = attachNbdServer(sim.core);
  const exec = async (cmd: string, args?: Record<string, unknown>) => sim.run(cmd, args);
  await exec('nbd-server-start', { addr: { type: 'unix', data: { path: socket } } });
  await server.ready();
  return {
    kind: 'sim',
    socket,
    exec,
    stop: async () => {
      await server.close();
      for (const n of [...sim.core.graph.nodes.values()]) n.driver.close(n);
    },
  };
}

/** The scenario's exports: 'raw' (read-only, described), 'top' (writable, allocation depth, bitmap b0). */
export async function addExports(t: Target, img: Images): Promise<void> {
  await t.exec('blockdev-add', { driver: 'file', 'node-name': 'fraw', filename: img.raw, 'read-only': true });
  await t.exec('blockdev-add', {
    driver: 'qcow2',
    'node-name': 'top',
    file: { driver: 'file', filename: img.top },
  });
  await t.exec('block-dirty-bitmap-add', { node: 'top', name: 'b0', granularity: 65536 });
  await t.exec('block-export-add', {
    type: 'nbd',
    id: 'e-raw',
    'node-name': 'fraw',
    name: 'raw',
    description: 'raw disk',
  });
  await t.exec('block-export-add', {
    type: 'nbd',
    id: 'e-top',
    'node-name': 'top',
    name: 'top',
    writable: true,
    'allocation-depth': true,
    bitmaps: ['b0'],
  });
}

export type Outcome =
  | { ok: unknown }
  | { error: { type: string; code?: string; reply?: string; message: string } };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await p };
  } catch (e) {
    if (e instanceof NbdRequestError)
      return { error: { type: 'request', code: e.codeName, message: e.serverMessage ?? '' } };
    if (e instanceof NbdOptionError)
      return { error: { type: 'option', reply: e.replyName, message: e.serverMessage } };
    if (e instanceof NbdError) return { error: { type: e.constructor.name, message: e.message } };
    throw e;
  }
}

function extents(m: Map<string, Extent[]>): Record<string, [number, number, number][]> {
  const out: Record<string, [number, number, number][]> = {};
  for (const [k, v] of [...m].sort((a, b) => a[0].localeCompare(b[0])))
    out[k] = v.map((e) => [e.offset, e.length, e.flags]);
  return out;
}

function digest(b: Buffer): string {
  return `${b.length}:${createHash('sha256').update(b).digest('hex').slice(0, 16)}`;
}

/**
 * Everything a client can observe, step by step. Writes go to 'top' (dirtying b0), so the run changes
 * top.qcow2: use fresh images per target.
 */
export async function probe(socket: string, opts: NbdOptions = {}): Promise<Record<string, Outcome>> {
  const r: Record<string, Outcome> = {};
  const o = { timeoutMs: 10_000, ...opts };

  // option phase
  const hs = await NbdHandshake.open(socket, o);
  r.serverFlags = { ok: hs.serverFlags };
  r.list = await outcome(hs.list());
  r.infoRaw = await outcome(hs.info('raw'));
  r.infoRawNoRequests = await outcome(hs.info('raw', []));
  r.infoTop = await outcome(hs.info('top', [INFO.BLOCK_SIZE]));
  r.infoUnknown = await outcome(hs.info('nope'));
  r.setMetaBeforeStructured = await outcome(hs.setMetaContexts('top', ['base:allocation']));
  r.listMetaAll = await outcome(hs.listMetaContexts('top'));
  r.listMetaQemu = await outcome(hs.listMetaContexts('top', ['qemu:']));
  r.listMetaBitmaps = await outcome(hs.listMetaContexts('top', ['qemu:dirty-bitmap:']));
  r.listMetaUnknownExport = await outcome(hs.listMetaContexts('nope', ['base:']));
  r.unknownOption = await outcome(hs.option(42, Buffer.from('xyz')));
  r.starttls = await outcome(hs.option(5));
  r.listWithPayload = await outcome(hs.option(3, Buffer.from([1, 2])));
  r.infoTruncated = await outcome(hs.option(6, Buffer.from([0, 0, 0, 9, 0x61])));
  r.infoNul = await outcome(hs.option(6, Buffer.from([0, 0, 0, 2, 0x61, 0, 0, 0])));
  r.mode = { ok: await hs.negotiateReplies(o.replies ?? 'structured') };
  r.structuredTwice = await outcome(hs.structuredReply());
  r.setMeta = await outcome(
    hs.setMetaContexts('top', [
      'base:allocation',
      'qemu:allocation-depth',
      'qemu:dirty-bitmap:b0',
      'qemu:nope',
      'x:y',
    ]),
  );
  r.goUnknown = await outcome(hs.go('nope'));
  const c = await hs.go('top');
  r.goInfo = { ok: c.info };

  // transmission on 'top'
  r.read0 = await outcome(c.read(0, 2 * MiB).then(digest));
  r.readDf = await outcome(c.read(512 * 1024, 64 * 1024, { df: true }).then(digest));
  r.readPastEof = await outcome(c.read(4 * MiB - 512, 1024));
  r.readTooBig = await outcome(c.read(0, 32 * MiB + 512));
  r.badFlags = await outcome(c.request(CMD.FLUSH, CMD_FLAG.REQ_ONE, 0, 0));
  r.unknownCommand = await outcome(c.request(42, 0, 0, 0));
  r.status0 = await outcome(c.blockStatus(0, 4 * MiB).then(extents));
  if (c.mode === 'extended') {
    r.statusSubset = await outcome(
      c.blockStatus(0, 4 * MiB, { contexts: ['qemu:dirty-bitmap:b0'] }).then(extents),
    );
    const bad = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0x40, 0, 0]), Buffer.from([0, 0, 0, 7])]);
    r.statusBadPayload = await outcome(c.request(CMD.BLOCK_STATUS, CMD_FLAG.PAYLOAD_LEN, 0, bad.length, bad));
    r.writeNoPayloadFlag = await outcome(c.request(CMD.WRITE, 0, 3 * MiB, 512, pattern(0, 512, 3)));
    r.flushWithPayload = await outcome(c.request(CMD.FLUSH, CMD_FLAG.PAYLOAD_LEN, 0, 4, Buffer.alloc(4)));
  }
  r.statusReqOne = await outcome(c.blockStatus(0, 4 * MiB, { reqOne: true }).then(extents));
  r.statusZeroLength = await outcome(c.blockStatus(0, 0));
  r.statusPastEof = await outcome(c.blockStatus(4 * MiB - 512, 1024));
  r.write = await outcome(c.write(3 * MiB, pattern(3 * MiB, 4096, 5)));
  r.writeSmall = await outcome(c.write(100 * 1024, pattern(0, 10, 9)));
  r.writeZeroes = await outcome(c.writeZeroes(3 * MiB + 65536, 65536));
  r.writePastEof = await outcome(c.write(4 * MiB - 512, pattern(0, 1024)));
  r.trim = await outcome(c.trim(1536 * 1024, 4096));
  r.flush = await outcome(c.flush());
  r.cache = await outcome(c.cache(0, 65536));
  r.status1 = await outcome(c.blockStatus(0, 4 * MiB).then(extents));
  r.readBack = await outcome(c.read(3 * MiB, 80 * 1024).then(digest));
  // many in flight, answered by cookie
  const many = await Promise.all(Array.from({ length: 40 }, (_, i) => c.read(i * 65536, 65536).then(digest)));
  r.many = { ok: many };
  await c.disconnect();

  // a read-only export, and a client without structured replies
  const ro = await NbdClient.connect(socket, { ...o, exportName: 'raw', replies: 'simple' });
  r.roInfo = { ok: { mode: ro.mode, info: ro.info } };
  r.roRead = await outcome(ro.read(4096, 8192).then(digest));
  r.roWrite = await outcome(ro.write(0, Buffer.alloc(512)));
  r.roTrim = await outcome(ro.trim(0, 512));
  r.roWriteZeroes = await outcome(ro.writeZeroes(0, 512));
  r.roReadPastEof = await outcome(ro.read(4 * MiB, 512));
  r.roStatus = await outcome(ro.blockStatus(0, 512));
  r.roDfSimple = await outcome(ro.read(0, 512, { df: true }));
  await ro.disconnect();
  const ros = await NbdClient.connect(socket, { ...o, exportName: 'raw', replies: 'structured' });
  r.rosWrite = await outcome(ros.write(0, Buffer.alloc(512)));
  r.rosTrim = await outcome(ros.trim(0, 512, { fua: true }));
  r.rosStatus = await outcome(ros.blockStatus(0, 512));
  r.rosReadHole = await outcome(ros.read(0, 65536).then(digest));
  await ros.disconnect();
  return r;
}

export async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-nbd-'));
  try {
    return await fn(dir);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
