/**
 * Fleecing cycles in a row on one endpoint (one process for all cycles), alternating the two recipes:
 *
 * - even cycles, backup sync=none (FACTS §4a): a qcow2 overlay backed by the disk, `blockdev-backup
 *   sync=none`, the overlay exported; the guest writes through an export of the disk made before the job
 *   (the job's filter takes that export's place above the disk); teardown: unexport, cancel, delete.
 * - odd cycles, copy-before-write + snapshot-access (FACTS §4b): the guest writes through a writable export
 *   of the cbw filter; teardown: unexport, delete snapshot-access, cbw, temp.
 *
 * Each cycle: set up, the guest writes after the point in time while a reader reads the whole point-in-time
 * export in random pieces (every byte compared with the copy of the disk we kept at the point in time),
 * the guest's own view compared with what it wrote, teardown; then nodes, exports and jobs must be exactly
 * what they were before the first cycle. Every `sampleEvery` cycles: our open fds, our heap after gc, the
 * endpoint's fds and RSS. "Flat" = least-squares slope over the second half of the samples below a bound.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Profile } from '../../contract/versions.ts';
import { NbdClient } from '../../harness/clients/nbd-client.ts';
import { type Endpoint, type EndpointKind, type QmpFailure, qmpRetry, startEndpoint } from './endpoint.ts';
import {
  fdCount,
  firstDifference,
  haveGc,
  heapUsedKiB,
  pattern,
  randomPieces,
  rng,
  rssKiB,
  type SeriesSummary,
  summarize,
} from './probe.ts';

const MiB = 1 << 20;

/** The bounds "flat" is judged against (per cycle, slope over the second half of the samples). */
export const BOUNDS = {
  /** open files: no growth at all (a leak of one fd per 100 cycles would show as 0.01) */
  fdsPerCycle: 0.01,
  /** our heap after a full gc */
  heapKiBPerCycle: 4,
  /** resident memory of the endpoint's process, judged by the growth of its floor (see probe.ts summarize) */
  rssKiBPerCycle: 16,
};

export interface CycleOptions {
  target: EndpointKind;
  profile?: Profile;
  cycles: number;
  /** disk size (multiple of 64 KiB) */
  size?: number;
  sampleEvery?: number;
  /** guest writes per cycle, after the point in time */
  writes?: number;
  seed?: number;
  log?: (line: string) => void;
  /** called with the endpoint before it is closed (diagnosis) */
  inspect?: (ep: Endpoint) => void;
}

export interface Sample {
  cycle: number;
  ourFds: number;
  ourHeapKiB: number;
  targetFds: number;
  targetRssKiB: number;
}

export interface CycleResult {
  target: string;
  label: string;
  cycles: number;
  completed: number;
  size: number;
  bytesRead: number;
  guestWrites: number;
  wrongBytes: number;
  errors: string[];
  seconds: number;
  /** safe block-export-del refused for a moment while a client was still leaving */
  exportDelRetries: number;
  samples: Sample[];
  series: {
    ourFds: SeriesSummary;
    ourHeapKiB: SeriesSummary;
    targetFds: SeriesSummary;
    targetRssKiB: SeriesSummary;
  };
  /** nodes/exports/jobs compared with the start after every cycle: how many cycles left something behind */
  cyclesWithLeftovers: number;
  /** fds of the endpoint before the first cycle and after the last */
  targetFdsBefore: number;
  targetFdsAfter: number;
  haveGc: boolean;
  ok: boolean;
}

interface GraphState {
  nodes: string[];
  exports: string[];
  jobs: string[];
}

async function graphState(ep: Endpoint): Promise<GraphState> {
  const nodes = (await ep.qmp('query-named-block-nodes', { flat: true })) as { 'node-name': string }[];
  const exps = (await ep.qmp('query-block-exports')) as { id: string }[];
  const jobs = (await ep.qmp('query-jobs')) as { id: string }[];
  return {
    nodes: nodes.map((n) => n['node-name']).sort(),
    exports: exps.map((e) => e.id).sort(),
    jobs: jobs.map((j) => j.id).sort(),
  };
}

function sameState(a: GraphState, b: GraphState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function runCycles(o: CycleOptions): Promise<CycleResult> {
  const size = o.size ?? 2 * MiB;
  const sampleEvery = o.sampleEvery ?? 10;
  const writes = o.writes ?? 8;
  const seed = o.seed ?? 1;
  const log = o.log ?? (() => {});
  const errors: string[] = [];
  const samples: Sample[] = [];
  let wrongBytes = 0;
  let bytesRead = 0;
  let guestWrites = 0;
  let exportDelRetries = 0;
  let completed = 0;
  let cyclesWithLeftovers = 0;
  const rand = rng(seed * 31337 + 7);

  const ep = await startEndpoint(o.target, o.profile ?? '7.2');
  const t0 = performance.now();
  const disk = path.join(ep.dir, 'disk.raw');
  const template = path.join(ep.dir, 'template.qcow2');
  // the disk as the guest last wrote it (kept here, never read back from the server)
  const live = pattern(0, size, seed);
  fs.writeFileSync(disk, live);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', template, String(size)]);
  let targetFdsBefore = 0;
  let targetFdsAfter = 0;
  const stillInUse = (e: QmpFailure) => /still in use/.test(e.desc);
  const unexport = async (id: string) => {
    exportDelRetries += await qmpRetry(ep, 'block-export-del', { id }, stillInUse);
    await ep.waitEvent((e) => e.event === 'BLOCK_EXPORT_DELETED' && e.data?.id === id, `deletion of ${id}`);
  };
  const sample = (cycle: number) => {
    samples.push({
      cycle,
      ourFds: fdCount('self'),
      ourHeapKiB: heapUsedKiB(),
      targetFds: fdCount(ep.pid),
      targetRssKiB: rssKiB(ep.pid),
    });
  };

  try {
    await ep.qmp('blockdev-add', {
      driver: 'raw',
      'node-name': 'disk',
      file: { driver: 'file', filename: disk },
    });
    await ep.qmp('nbd-server-start', { addr: { type: 'unix', data: { path: ep.nbdSocket } } });
    const start = await graphState(ep);
    targetFdsBefore = fdCount(ep.pid);
    sample(0);

    for (let cycle = 1; cycle <= o.cycles; cycle++) {
      const cbw = cycle % 2 === 1;
      const temp = path.join(ep.dir, `temp-${cycle}.qcow2`);
      fs.copyFileSync(template, temp);
      const pit = Buffer.from(live);
      try {
        // --- set up
        if (cbw) {
          await ep.qmp('blockdev-add', {
            driver: 'qcow2',
            'node-name': 'temp',
            file: { driver: 'file', filename: temp },
          });
          await ep.qmp('blockdev-add', {
            driver: 'copy-before-write',
            'node-name': 'cbw',
            file: 'disk',
            target: 'temp',
          });
          await ep.qmp('blockdev-add', { driver: 'snapshot-access', 'node-name': 'acc', file: 'cbw' });
          await ep.qmp('block-export-add', {
            type: 'nbd',
            id: 'guest',
            'node-name': 'cbw',
            name: 'guest',
            writable: true,
          });
          await ep.qmp('block-export-add', { type: 'nbd', id: 'fleece', 'node-name': 'acc', name: 'fleece' });
        } else {
          await ep.qmp('block-export-add', {
            type: 'nbd',
            id: 'guest',
            'node-name': 'disk',
            name: 'guest',
            writable: true,
          });
          await ep.qmp('blockdev-add', {
            driver: 'qcow2',
            'node-name': 'temp',
            file: { driver: 'file', filename: temp },
            backing: 'disk',
          });
          await ep.qmp('blockdev-backup', {
            'job-id': 'fleece',
            device: 'disk',
            target: 'temp',
            sync: 'none',
          });
          await ep.qmp('block-export-add', {
            type: 'nbd',
            id: 'fleece',
            'node-name': 'temp',
            name: 'fleece',
          });
        }

        // --- the guest writes while the reader reads the point in time
        const guest = await NbdClient.connect(ep.nbdSocket, { exportName: 'guest', timeoutMs: 30_000 });
        const reader = await NbdClient.connect(ep.nbdSocket, {
          exportName: 'fleece',
          timeoutMs: 30_000,
          maxInFlight: 4,
        });
        try {
          const pieces = randomPieces(size, [4096, 65536, 512 * 1024][cycle % 3], rand);
          let next = 0;
          const readWorker = async () => {
            while (next < pieces.length) {
              const [off, len] = pieces[next++];
              const got = await reader.read(off, len);
              bytesRead += got.length;
              const want = pit.subarray(off, off + len);
              if (!got.equals(want)) {
                let n = 0;
                for (let b = 0; b < len; b++) if (got[b] !== want[b]) n++;
                wrongBytes += n;
                errors.push(
                  `cycle ${cycle}: ${n} wrong bytes at ${off}+${len}, first ${off + firstDifference(got, want)}`,
                );
              }
            }
          };
          const guestWorker = async () => {
            for (let i = 0; i < writes; i++) {
              const len = 4096 * (1 + Math.floor(rand() * 16));
              const off = Math.floor(rand() * ((size - len) / 4096)) * 4096;
              const data = pattern(off, len, seed + cycle * 100 + i);
              await guest.write(off, data);
              data.copy(live, off);
              guestWrites++;
            }
          };
          await Promise.all([readWorker(), readWorker(), guestWorker()]);
          if (cycle % sampleEvery === 0) {
            const now = await guest.read(0, size);
            if (!now.equals(live))
              errors.push(
                `cycle ${cycle}: guest view byte ${firstDifference(now, live)} is not what it wrote`,
              );
          }
        } finally {
          await reader.disconnect().catch(() => {});
          await guest.disconnect().catch(() => {});
        }

        // --- teardown (safe order: no reader may be left on the overlay when its job goes)
        await unexport('fleece');
        if (cbw) {
          await ep.qmp('blockdev-del', { 'node-name': 'acc' });
          await unexport('guest');
          await ep.qmp('blockdev-del', { 'node-name': 'cbw' });
          await ep.qmp('blockdev-del', { 'node-name': 'temp' });
        } else {
          await ep.qmp('block-job-cancel', { device: 'fleece' });
          await ep.waitEvent(
            (e) => e.event === 'JOB_STATUS_CHANGE' && e.data?.id === 'fleece' && e.data?.status === 'null',
            'the end of job fleece',
          );
          await unexport('guest');
          await ep.qmp('blockdev-del', { 'node-name': 'temp' });
        }
        ep.forgetEvents();
        completed++;
      } catch (e) {
        errors.push(
          `cycle ${cycle} (${cbw ? 'cbw' : 'backup'}): ${e instanceof Error ? e.message : String(e)}`,
        );
        // leave the endpoint as clean as possible, then stop: the rest would only repeat this
        for (const id of ['fleece', 'guest'])
          await ep.qmp('block-export-del', { id, mode: 'hard' }).catch(() => {});
        await ep.qmp('block-job-cancel', { device: 'fleece', force: true }).catch(() => {});
        for (const n of ['acc', 'cbw', 'temp'])
          await ep.qmp('blockdev-del', { 'node-name': n }).catch(() => {});
        break;
      } finally {
        fs.rmSync(temp, { force: true });
      }
      const now = await graphState(ep);
      if (!sameState(now, start)) {
        cyclesWithLeftovers++;
        if (cyclesWithLeftovers <= 3)
          errors.push(`cycle ${cycle}: left ${JSON.stringify(now)}, start ${JSON.stringify(start)}`);
      }
      if (cycle % sampleEvery === 0) {
        sample(cycle);
        const s = samples[samples.length - 1];
        log(
          `${ep.label}: cycle ${cycle}: our fds ${s.ourFds} heap ${s.ourHeapKiB} KiB; target fds ${s.targetFds} RSS ${s.targetRssKiB} KiB`,
        );
      }
    }
    await ep.qmp('nbd-server-stop');
    await ep.qmp('blockdev-del', { 'node-name': 'disk' });
    targetFdsAfter = fdCount(ep.pid);
  } catch (e) {
    errors.push(`run: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    o.inspect?.(ep);
    await ep.close();
  }

  const xs = samples.map((s) => s.cycle);
  const series = {
    ourFds: summarize(
      xs,
      samples.map((s) => s.ourFds),
      'fds',
      BOUNDS.fdsPerCycle,
    ),
    ourHeapKiB: summarize(
      xs,
      samples.map((s) => s.ourHeapKiB),
      'KiB',
      BOUNDS.heapKiBPerCycle,
    ),
    targetFds: summarize(
      xs,
      samples.map((s) => s.targetFds),
      'fds',
      BOUNDS.fdsPerCycle,
    ),
    targetRssKiB: summarize(
      xs,
      samples.map((s) => s.targetRssKiB),
      'KiB',
      BOUNDS.rssKiBPerCycle,
      'floor',
    ),
  };
  const fdsBack = samples.length > 0 && samples[samples.length - 1].targetFds === samples[0].targetFds;
  if (samples.length > 1 && !fdsBack)
    errors.push(
      `endpoint fds: ${samples[0].targetFds} before the first cycle, ${samples[samples.length - 1].targetFds} after the last sampled one`,
    );
  // judged: open files on both sides; memory of the process that runs the simulator or QEMU (in process, that
  // is our heap and RSS; for serve and qsd, their RSS: our heap there is the harness, reported only)
  const judged =
    o.target === 'sim'
      ? [series.ourFds, series.ourHeapKiB, series.targetRssKiB]
      : [series.ourFds, series.targetFds, series.targetRssKiB];
  const flat = judged.every((s) => s.flat);
  return {
    target: o.target,
    label: ep.label,
    cycles: o.cycles,
    completed,
    size,
    bytesRead,
    guestWrites,
    wrongBytes,
    errors,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    exportDelRetries,
    samples,
    series,
    cyclesWithLeftovers,
    targetFdsBefore,
    targetFdsAfter,
    haveGc,
    ok:
      errors.length === 0 && wrongBytes === 0 && completed === o.cycles && cyclesWithLeftovers === 0 && flat,
  };
}
