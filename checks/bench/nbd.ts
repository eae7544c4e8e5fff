/**
 * NBD throughput benchmarks (for the benchmark runner).
 *
 * (a) `nbdcopyNullBench`: nbdcopy of one export to `null:` from the simulator's NBD server and from a
 *     real qemu-storage-daemon serving the same image file.
 * (b) `clientVsNbdcopyBench`: our NBD client reading a real qemu-storage-daemon export end to end
 *     (4 connections when multi-conn is offered, as nbdcopy does), against nbdcopy reading it.
 *
 * The image is a raw file full of non-zero data, so neither server can answer with holes (the
 * simulator's raw files always report data; QEMU's would report holes of a sparse file). Run by hand:
 * `fleece-lab bench-nbd [size-in-MiB]`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { NbdClient } from '../../harness/clients/nbd-client.ts';
import { startQsd } from '../../harness/targets/qemu-process.ts';
import { attachNbdServer } from '../../sim/serve/nbd/server.ts';
import { createSim } from '../../sim/sim.ts';

const pexec = promisify(execFile);
const MiB = 1024 * 1024;

export interface BenchOptions {
  /** export size (default 1 GiB) */
  bytes?: number;
  /** rounds, each timing both sides one after the other; the results are medians (default 1) */
  runs?: number;
  /** argv prefix of a qemu-storage-daemon other than the host's */
  qsdArgv?: string[];
  qsdEnv?: NodeJS.ProcessEnv;
}

export interface NbdcopyNullResult {
  bytes: number;
  /** every round's seconds, sim and qsd */
  rounds: { sim: number[]; qsd: number[] };
  simSeconds: number;
  qsdSeconds: number;
  /** simSeconds / qsdSeconds: how many times slower the simulator serves */
  ratio: number;
  simMiBps: number;
  qsdMiBps: number;
}

export interface ClientVsNbdcopyResult {
  bytes: number;
  /** every round's seconds, our client and nbdcopy */
  rounds: { client: number[]; nbdcopy: number[] };
  clientSeconds: number;
  nbdcopySeconds: number;
  /** clientSeconds / nbdcopySeconds */
  ratio: number;
  clientMiBps: number;
  nbdcopyMiBps: number;
  requestSize: number;
  inFlight: number;
  connections: number;
}

async function withImage<T>(bytes: number, fn: (dir: string, file: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'fleece-bench-nbd-'));
  try {
    const file = path.join(dir, 'disk.img');
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 0xff || 1;
    const fd = fs.openSync(file, 'w');
    try {
      for (let off = 0; off < bytes; off += chunk.length)
        fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
    } finally {
      fs.closeSync(fd);
    }
    return await fn(dir, file);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** Seconds one call of `fn` took. */
async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** `runs` rounds of `a` then `b`, so load from elsewhere lands on both sides alike. */
async function interleaved(
  runs: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < runs; i++) {
    out.a.push(await seconds(a));
    out.b.push(await seconds(b));
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function nbdcopyToNull(socket: string, name: string): Promise<void> {
  await pexec('nbdcopy', [`nbd+unix:///${name}?socket=${socket}`, 'null:'], { maxBuffer: 1 << 20 });
}

/** A real qemu-storage-daemon exporting `file` read-only as 'disk' on `socket`. */
async function withQsdExport<T>(
  file: string,
  socket: string,
  o: BenchOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const q = await startQsd(o.qsdArgv ? { argvPrefix: o.qsdArgv, env: o.qsdEnv } : {});
  try {
    await q.qmp.execute('blockdev-add', {
      driver: 'file',
      'node-name': 'f',
      filename: file,
      'read-only': true,
    });
    await q.qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: socket } } });
    await q.qmp.execute('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'f', name: 'disk' });
    return await fn();
  } finally {
    await q.stop();
  }
}

/** (a) nbdcopy to null: from the simulator's server and from qemu-storage-daemon, round by round. */
export async function nbdcopyNullBench(o: BenchOptions = {}): Promise<NbdcopyNullResult> {
  const bytes = o.bytes ?? 1024 * MiB;
  const runs = o.runs ?? 1;
  return withImage(bytes, async (dir, file) => {
    const simSock = path.join(dir, 'sim.sock');
    const sim = createSim({ profile: '7.2', flavour: 'qsd', fs: 'real', cwd: dir });
    const server = attachNbdServer(sim.core);
    try {
      sim.run('blockdev-add', { driver: 'file', 'node-name': 'f', filename: file, 'read-only': true });
      sim.run('nbd-server-start', { addr: { type: 'unix', data: { path: simSock } } });
      sim.run('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'f', name: 'disk' });
      const qsdSock = path.join(dir, 'qsd.sock');
      const t = await withQsdExport(file, qsdSock, o, () =>
        interleaved(
          runs,
          () => nbdcopyToNull(simSock, 'disk'),
          () => nbdcopyToNull(qsdSock, 'disk'),
        ),
      );
      const simSeconds = median(t.a);
      const qsdSeconds = median(t.b);
      return {
        bytes,
        rounds: { sim: t.a, qsd: t.b },
        simSeconds,
        qsdSeconds,
        ratio: simSeconds / qsdSeconds,
        simMiBps: bytes / MiB / simSeconds,
        qsdMiBps: bytes / MiB / qsdSeconds,
      };
    } finally {
      await server.close();
      for (const n of [...sim.core.graph.nodes.values()]) n.driver.close(n);
    }
  });
}

/**
 * Read a whole export with our client: `connections` connections (as nbdcopy opens 4 when the server
 * allows multi-conn), each keeping `inFlight` requests of `requestSize` bytes on the wire.
 */
export async function readAll(
  socket: string,
  name: string,
  requestSize: number,
  inFlight: number,
  connections = 1,
): Promise<number> {
  const first = await NbdClient.connect(socket, {
    exportName: name,
    maxInFlight: inFlight,
    timeoutMs: 60_000,
  });
  const clients = [first];
  try {
    const multi = (first.flags & 0x100) !== 0;
    for (let i = 1; i < (multi ? connections : 1); i++)
      clients.push(
        await NbdClient.connect(socket, { exportName: name, maxInFlight: inFlight, timeoutMs: 60_000 }),
      );
    const size = first.size;
    let next = 0;
    let total = 0;
    const worker = async (c: NbdClient) => {
      const buf = Buffer.allocUnsafe(requestSize);
      while (next < size) {
        const off = next;
        next += requestSize;
        const b = await c.read(off, Math.min(requestSize, size - off), { into: buf });
        total += b.length;
      }
    };
    await Promise.all(clients.flatMap((c) => Array.from({ length: inFlight }, () => worker(c))));
    return total;
  } finally {
    await Promise.all(clients.map((c) => c.disconnect()));
  }
}

/** (b) our client vs nbdcopy, both reading a real qemu-storage-daemon export. */
export async function clientVsNbdcopyBench(
  o: BenchOptions & { requestSize?: number; inFlight?: number; connections?: number } = {},
): Promise<ClientVsNbdcopyResult> {
  const bytes = o.bytes ?? 1024 * MiB;
  const runs = o.runs ?? 1;
  const requestSize = o.requestSize ?? 2 * MiB;
  const inFlight = o.inFlight ?? 8;
  const connections = o.connections ?? 4;
  return withImage(bytes, async (dir, file) => {
    const sock = path.join(dir, 'qsd.sock');
    return withQsdExport(file, sock, o, async () => {
      const t = await interleaved(
        runs,
        async () => {
          const n = await readAll(sock, 'disk', requestSize, inFlight, connections);
          if (n !== bytes) throw new Error(`read ${n} of ${bytes} bytes`);
        },
        () => nbdcopyToNull(sock, 'disk'),
      );
      const clientSeconds = median(t.a);
      const nbdcopySeconds = median(t.b);
      return {
        bytes,
        rounds: { client: t.a, nbdcopy: t.b },
        clientSeconds,
        nbdcopySeconds,
        ratio: clientSeconds / nbdcopySeconds,
        clientMiBps: bytes / MiB / clientSeconds,
        nbdcopyMiBps: bytes / MiB / nbdcopySeconds,
        requestSize,
        inFlight,
        connections,
      };
    });
  });
}
