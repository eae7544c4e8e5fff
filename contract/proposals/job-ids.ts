import { setup } from 'xstate';
import { z } from 'zod';
import { defineProposal } from './define.ts';
import {
  addBackupOverlays,
  addPointsInTime,
  cancelJob,
  diskOf,
  exportNode,
  hasFeature,
  removeNode,
  removePointInTime,
  unexport,
} from './lowering-kit.ts';

/**
 * The design the 2013 thread asked for: begin with a list of disks returns a job id; stats and end by id;
 * several jobs (points in time) at once on the same disks, ended in any order. On a VM with copy-before-write
 * (7.2+) each job is a filter per disk in the guest's write path, on a raw joint so that any job can leave
 * the chain (lowering-kit addPointsInTime); where there is no device to move (a qsd domain) or no filter
 * (5.2), each job is a qcow2 overlay and a backup job sync=none, as in job-ids-overlay.
 */
interface Job {
  disks: string[];
  /** 'cbw': filters in the guest's write path; 'overlay': backup jobs into overlays */
  how: 'cbw' | 'overlay';
  nodes: Record<string, string>;
  files: Record<string, string>;
}

function jobTable(state: Record<string, unknown>): Record<string, Job> {
  state.jobs ??= {};
  return state.jobs as Record<string, Job>;
}

function jobOf(state: Record<string, unknown>, id: string): Job {
  const job = jobTable(state)[id];
  if (!job) throw new Error(`no fleecing job '${id}'`);
  return job;
}

export default defineProposal({
  name: 'job-ids',
  title: 'Fleecing jobs with ids (multi-disk, concurrent, ended in any order)',
  summary:
    'begin(disks) -> id; stats(id); end(id); several jobs at once: a copy-before-write filter per disk and job on a raw joint (VM), an overlay + backup job otherwise',
  capabilities: { disksPerCall: 'many', jobIds: true, concurrentJobs: true },
  calls: {
    begin: {
      doc: 'start a fleecing job over a list of disks; returns its id',
      params: z.object({ disks: z.array(z.string()).min(1) }),
      result: z.string(),
    },
    end: { doc: 'end one job by id', params: z.object({ id: z.string() }), result: z.void() },
    stats: {
      doc: "one job's progress",
      params: z.object({ id: z.string() }),
      result: z.object({ id: z.string(), disks: z.array(z.string()), copied: z.number() }),
    },
  },
  claims: [
    'point-in-time',
    'common-point-in-time',
    'isolation',
    'job-identity',
    'concurrent-points-in-time',
    'teardown-accepted',
    'clean-teardown',
    'guest-writes-never-fail',
    'safe-teardown',
    'misuse-refused',
    'end-releases',
  ],
  limits: {
    'concurrent-points-in-time':
      'without copy-before-write, one point in time per disk: a second backup from a disk a device writes to is refused',
  },
  requires: { 'concurrent-points-in-time': ['copy-before-write', 'snapshot-access'] },
  machine: setup({}).createMachine({
    id: 'job-ids',
    initial: 'none',
    states: {
      none: { on: { begin: 'running' } },
      running: { tags: ['pit', 'readable'], on: { stats: 'running', end: 'ended' } },
      ended: { type: 'final' },
    },
  }),
  session: {
    start: (disks) => [{ call: 'begin', params: { disks } }],
    handle: (results) => results[0] as string,
    exportName: (id, disk) => `${id}-${disk}`,
    stop: (id) => [{ call: 'end', params: { id } }],
    request: {
      stats: (id) => ({ call: 'stats', params: { id } }),
      end: (id) => ({ call: 'end', params: { id } }),
    },
  },
  lower: {
    async begin(ctx, p) {
      const disks = p.disks as string[];
      for (const d of disks) diskOf(ctx, d);
      const n = ((ctx.state.counter as number | undefined) ?? 0) + 1;
      ctx.state.counter = n;
      const id = `job${n}`;
      const cbw =
        ctx.domain === 'vm' && hasFeature(ctx, 'copy-before-write') && hasFeature(ctx, 'snapshot-access');
      const job: Job = { disks, how: cbw ? 'cbw' : 'overlay', nodes: {}, files: {} };
      if (cbw) {
        job.nodes = await addPointsInTime(ctx, disks, id);
      } else {
        job.files = await addBackupOverlays(ctx, disks, id);
        for (const d of disks) job.nodes[d] = `${id}-${d}`;
      }
      for (const d of disks) await exportNode(ctx, `${id}-${d}`, job.nodes[d], `${id}-${d}`);
      jobTable(ctx.state)[id] = job;
      return id;
    },
    async end(ctx, p) {
      const id = p.id as string;
      const job = jobOf(ctx.state, id);
      // Safe order: no reader may see the disk change under its point in time.
      for (const d of job.disks) await unexport(ctx, `${id}-${d}`);
      if (job.how === 'cbw') {
        for (const d of job.disks) await removePointInTime(ctx, d, id);
      } else {
        for (const d of job.disks) await cancelJob(ctx, `${id}-${d}`);
        for (const d of job.disks) await removeNode(ctx, `${id}-${d}`, job.files[d]);
      }
      delete jobTable(ctx.state)[id];
      return undefined;
    },
    async stats(ctx, p) {
      const id = p.id as string;
      const job = jobOf(ctx.state, id);
      // a filter has no progress to report: it copies what the guest overwrites, as long as it lives
      if (job.how === 'cbw') return { id, disks: job.disks, copied: 0 };
      const all = (await ctx.port.qmp('query-jobs')) as { id: string; 'current-progress': number }[];
      const copied = all
        .filter((j) => job.disks.some((d) => j.id === `${id}-${d}`))
        .reduce((n, j) => n + j['current-progress'], 0);
      return { id, disks: job.disks, copied };
    },
  },
});
