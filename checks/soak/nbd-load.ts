/**
 * NBD load: many clients read one point-in-time export at once while the guest keeps writing.
 *
 * The disk is a raw file filled with a position-dependent pattern (soak/probe.ts). The endpoint fleeces it
 * with copy-before-write + snapshot-access (QEMU 7.0+): `fleece` is the point in time (read-only), `guest`
 * is the guest's view (the cbw filter, writable). The guest writes new data before and during the load, so
 * "correct" means the OLD bytes: every byte every client reads is compared with a buffer computed from the
 * pattern formula, never read back from the server. `clients` NbdClients connect at once (all connections
 * held together), then each reads the whole export in its own random order with random sizes and 1-8
 * requests in flight; a few real nbdcopy/nbdinfo processes read alongside. Afterwards the server's open
 * files must be back to where they were before the clients came, a safe block-export-del (refused while
 * a client is connected) must succeed, and after teardown no node, export or extra fd may be left.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Profile } from '../../contract/versions.ts';
import { NbdClient } from '../../harness/clients/nbd-client.ts';
import { type Endpoint, type EndpointKind, qmpRetry, startEndpoint } from './endpoint.ts';
import { fdCount, firstDifference, pattern, randomPieces, rng, socketCount } from './probe.ts';

const pexec = promisify(execFile);
const MiB = 1 << 20;

export interface LoadOptions {
  target: EndpointKind;
  profile?: Profile;
  clients?: number;
  /** export size in bytes (multiple of 64 KiB) */
  size?: number;
  /** guest writes after the point in time, half before the load and half during it */
  guestWrites?: number;
  /** real nbdcopy (to a file) and nbdinfo processes alongside our clients, when installed */
  tools?: boolean;
  seed?: number;
  /** max-connections for nbd-server-start (default: not given, the server's default) */
  maxConnections?: number;
  /** negative control: the disk file gets this byte flipped, so every reader must report wrong bytes */
  flipByteAt?: number;
  log?: (line: string) => void;
}

export interface LoadResult {
  target: string;
  label: string;
  clients: number;
  connected: number;
  toolProcesses: number;
  size: number;
  bytesRead: number;
  requests: number;
  /** wrong bytes seen (must be 0) */
  wrongBytes: number;
  /** every failure: connect, read, verify, tool, teardown (must be empty) */
  errors: string[];
  guestWrites: number;
  seconds: number;
  /** open fds of the server: before setup, after setup, with every client connected, after they left, after teardown */
  fds: { start: number; baseline: number; peak: number; afterClients: number; end: number };
  /** sockets of the server with every client connected, and after they left */
  sockets: { baseline: number; peak: number; afterClients: number };
  /** the simulator's own connection count after the clients left (in process only) */
  connectionsAfter: number | null;
  exportDelRetries: number;
  ok: boolean;
}

function haveTool(t: string): boolean {
  try {
    execFileSync(t, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => boolean, boundMs: number): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await sleep(10);
  }
  return true;
}

export async function runNbdLoad(o: LoadOptions): Promise<LoadResult> {
  const clients = o.clients ?? 64;
  const size = o.size ?? 8 * MiB;
  const guestWrites = o.guestWrites ?? 64;
  const seed = o.seed ?? 1;
  const log = o.log ?? (() => {});
  if (size % 65536 !== 0) throw new RangeError('size: a multiple of 64 KiB');
  const errors: string[] = [];
  let wrongBytes = 0;
  let bytesRead = 0;
  let requests = 0;
  let exportDelRetries = 0;

  // The expected images, from the formula alone.
  const old = pattern(0, size, seed);
  // (with flipByteAt the live disk carries the flipped byte too; only `old`, the formula, is the truth)
  const live = Buffer.from(old);
  if (o.flipByteAt !== undefined) live[o.flipByteAt] ^= 0xff;
  const rand = rng(seed * 7919 + 1);
  const guestWrite = async (guest: NbdClient, i: number) => {
    const len = 4096 * (1 + Math.floor(rand() * 32));
    const off = Math.floor(rand() * ((size - len) / 4096)) * 4096;
    const data = pattern(off, len, seed + 1000 + i);
    await guest.write(off, data);
    data.copy(live, off);
  };

  const ep: Endpoint = await startEndpoint(o.target, o.profile ?? '7.2');
  const t0 = performance.now();
  const fds = { start: fdCount(ep.pid), baseline: 0, peak: 0, afterClients: 0, end: 0 };
  const sockets = { baseline: 0, peak: 0, afterClients: 0 };
  let connectionsAfter: number | null = null;
  let connected = 0;
  let toolProcesses = 0;
  try {
    const disk = path.join(ep.dir, 'disk.raw');
    const temp = path.join(ep.dir, 'temp.qcow2');
    const onDisk = Buffer.from(old);
    if (o.flipByteAt !== undefined) onDisk[o.flipByteAt] ^= 0xff;
    fs.writeFileSync(disk, onDisk);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', temp, String(size)]);
    await ep.qmp('blockdev-add', {
      driver: 'raw',
      'node-name': 'src',
      file: { driver: 'file', filename: disk },
    });
    await ep.qmp('blockdev-add', {
      driver: 'qcow2',
      'node-name': 'temp',
      file: { driver: 'file', filename: temp },
    });
    await ep.qmp('blockdev-add', {
      driver: 'copy-before-write',
      'node-name': 'cbw',
      file: 'src',
      target: 'temp',
    });
    await ep.qmp('blockdev-add', { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' });
    await ep.qmp('nbd-server-start', {
      addr: { type: 'unix', data: { path: ep.nbdSocket } },
      ...(o.maxConnections !== undefined ? { 'max-connections': o.maxConnections } : {}),
    });
    await ep.qmp('block-export-add', {
      type: 'nbd',
      id: 'guest',
      'node-name': 'cbw',
      name: 'guest',
      writable: true,
    });
    await ep.qmp('block-export-add', { type: 'nbd', id: 'fleece', 'node-name': 'acc', name: 'fleece' });
    fds.baseline = fdCount(ep.pid);
    sockets.baseline = socketCount(ep.pid);

    const guest = await NbdClient.connect(ep.nbdSocket, { exportName: 'guest', timeoutMs: 30_000 });
    let w = 0;
    for (; w < guestWrites / 2; w++) await guestWrite(guest, w);

    // Every client connects before any reads: the server holds them all at once.
    const settled = await Promise.allSettled(
      Array.from({ length: clients }, () =>
        NbdClient.connect(ep.nbdSocket, { exportName: 'fleece', timeoutMs: 30_000, maxInFlight: 8 }),
      ),
    );
    const readers: NbdClient[] = [];
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') readers.push(s.value);
      else
        errors.push(
          `client ${i}: connect: ${s.reason instanceof Error ? s.reason.message : String(s.reason)}`,
        );
    });
    connected = readers.length;
    fds.peak = fdCount(ep.pid);
    sockets.peak = socketCount(ep.pid);
    log(`${ep.label}: ${connected}/${clients} clients connected; server fds ${fds.baseline} -> ${fds.peak}`);
    for (const r of readers)
      if (r.size !== size) errors.push(`client: export size ${r.size}, expected ${size}`);

    const uri = `nbd+unix:///fleece?socket=${ep.nbdSocket}`;
    const tools: Promise<void>[] = [];
    if (o.tools !== false && haveTool('nbdcopy') && haveTool('nbdinfo')) {
      for (let i = 0; i < 4; i++) {
        const out = path.join(ep.dir, `copy-${i}.raw`);
        tools.push(
          pexec('nbdcopy', [uri, out]).then(() => {
            const got = fs.readFileSync(out);
            const at = firstDifference(got, old);
            if (at >= 0) {
              errors.push(`nbdcopy ${i}: byte ${at} differs from the point in time`);
              for (let b = 0; b < Math.min(got.length, old.length); b++) if (got[b] !== old[b]) wrongBytes++;
            }
            bytesRead += got.length;
            fs.rmSync(out, { force: true });
          }),
        );
      }
      for (let i = 0; i < 2; i++)
        tools.push(
          pexec('nbdinfo', ['--json', uri]).then(({ stdout }) => {
            const info = JSON.parse(stdout) as { exports: { 'export-size': number }[] };
            if (info.exports[0]?.['export-size'] !== size)
              errors.push(`nbdinfo ${i}: export-size ${info.exports[0]?.['export-size']}, expected ${size}`);
          }),
        );
      toolProcesses = tools.length;
    }
    const toolsDone = tools.map((p, i) =>
      p.catch((e: unknown) => {
        errors.push(`tool ${i}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }),
    );

    const readAll = async (c: NbdClient, k: number) => {
      const r = rng(seed * 104729 + k);
      const maxPiece = [4096, 65536, 256 * 1024, MiB][k % 4];
      const pieces = randomPieces(size, maxPiece, r);
      const inFlight = 1 + Math.floor(r() * 8);
      let next = 0;
      const worker = async () => {
        while (next < pieces.length) {
          const [off, len] = pieces[next++];
          const got = await c.read(off, len);
          requests++;
          bytesRead += got.length;
          const want = old.subarray(off, off + len);
          if (!got.equals(want)) {
            let n = 0;
            for (let b = 0; b < len; b++) if (got[b] !== want[b]) n++;
            wrongBytes += n;
            errors.push(
              `client ${k}: ${n} wrong bytes in ${off}+${len}, first at ${off + firstDifference(got, want)}`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    };
    const guestDuring = (async () => {
      for (; w < guestWrites; w++) {
        await guestWrite(guest, w);
        await sleep(1);
      }
    })();
    await Promise.all([
      ...readers.map((c, k) =>
        readAll(c, k).catch((e: unknown) => {
          errors.push(`client ${k}: ${e instanceof Error ? e.message : String(e)}`);
        }),
      ),
      guestDuring.catch((e: unknown) => {
        errors.push(`guest: ${e instanceof Error ? e.message : String(e)}`);
      }),
      ...toolsDone,
    ]);
    await Promise.all(readers.map((c) => c.disconnect().catch(() => {})));

    // The guest's own view: the point in time kept nothing from it.
    const now = await guest.read(0, size);
    if (!now.equals(live))
      errors.push(`guest view: byte ${firstDifference(now, live)} is not what the guest wrote`);
    await guest.disconnect();

    // The server lets every connection go.
    await waitUntil(() => fdCount(ep.pid) <= fds.baseline, 5_000);
    fds.afterClients = fdCount(ep.pid);
    sockets.afterClients = socketCount(ep.pid);
    if (fds.afterClients !== fds.baseline)
      errors.push(`server fds after the clients left: ${fds.afterClients}, before them ${fds.baseline}`);
    const n = ep.nbdConnections();
    if (n !== undefined) {
      await waitUntil(() => ep.nbdConnections() === 0, 5_000);
      connectionsAfter = ep.nbdConnections() ?? null;
      if (connectionsAfter !== 0) errors.push(`NBD connections after the clients left: ${connectionsAfter}`);
    }

    // Teardown; a safe block-export-del is refused while any client is still connected.
    const stillInUse = (e: { desc: string }) => /still in use/.test(e.desc);
    for (const id of ['fleece', 'guest']) {
      exportDelRetries += await qmpRetry(ep, 'block-export-del', { id }, stillInUse);
      await ep.waitEvent((e) => e.event === 'BLOCK_EXPORT_DELETED' && e.data?.id === id, `deletion of ${id}`);
    }
    for (const node of ['acc', 'cbw', 'temp', 'src']) await ep.qmp('blockdev-del', { 'node-name': node });
    await ep.qmp('nbd-server-stop');
    const nodes = (await ep.qmp('query-named-block-nodes', { flat: true })) as unknown[];
    const exps = (await ep.qmp('query-block-exports')) as unknown[];
    if (nodes.length !== 0 || exps.length !== 0)
      errors.push(`left after teardown: ${nodes.length} nodes, ${exps.length} exports`);
    fs.rmSync(temp, { force: true });
    fs.rmSync(disk, { force: true });
    await waitUntil(() => fdCount(ep.pid) <= fds.start, 2_000);
    fds.end = fdCount(ep.pid);
    if (fds.end !== fds.start) errors.push(`server fds after teardown: ${fds.end}, at start ${fds.start}`);
  } catch (e) {
    errors.push(`run: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await ep.close();
  }
  return {
    target: o.target,
    label: ep.label,
    clients,
    connected,
    toolProcesses,
    size,
    bytesRead,
    requests,
    wrongBytes,
    errors,
    guestWrites,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    fds,
    sockets,
    connectionsAfter,
    exportDelRetries,
    ok: errors.length === 0 && wrongBytes === 0 && connected === clients,
  };
}
