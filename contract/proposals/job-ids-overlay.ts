import { setup } from 'xstate';
import { z } from 'zod';
import { defineProposal } from './define.ts';
import { addBackupOverlays, cancelJob, diskOf, exportNode, removeNode, unexport } from './lowering-kit.ts';

/**
 * job-ids as first lowered, the 2013 recipe per job: one transaction per job (the common point in time), a
 * qcow2 overlay backed by the live disk and a backup job sync=none per disk and job, a safe teardown
 * (unexport before cancel). Every claim holds on a qemu-storage-daemon, whose "guest" is an NBD client; on a
 * VM the second job of a disk is refused: the first backup job's filter shares no write with the device.
 */
interface Job {
  disks: string[];
  files: Record<string, string>;
}

/** The implementation's job table, kept in its domain state. */
function jobTable(state: Record<string, unknown>): Record<string, Job> {
  if (!state.jobs) state.jobs = {};
  return state.jobs as Record<string, Job>;
}

export default defineProposal({
  name: 'job-ids-overlay',
  title: 'Fleecing jobs with ids, lowered to overlays and backup jobs',
  summary:
    'begin(disks) -> id; stats(id); end(id); list(); a qcow2 overlay + blockdev-backup sync=none per disk and job',
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
    list: { doc: 'ids of the jobs alive', params: z.object({}), result: z.array(z.string()) },
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
  machine: setup({}).createMachine({
    id: 'job-ids-overlay',
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
      const files = await addBackupOverlays(ctx, disks, id);
      for (const d of disks) await exportNode(ctx, `${id}-${d}`, `${id}-${d}`, `${id}-${d}`);
      const jobs = jobTable(ctx.state);
      jobs[id] = { disks, files };
      return id;
    },
    async end(ctx, p) {
      const jobs = jobTable(ctx.state);
      const id = p.id as string;
      const job = jobs[id];
      if (!job) throw new Error(`no fleecing job '${id}'`);
      // Safe order: no reader may see the live disk through the overlay's backing link.
      for (const d of job.disks) await unexport(ctx, `${id}-${d}`);
      for (const d of job.disks) await cancelJob(ctx, `${id}-${d}`);
      for (const d of job.disks) await removeNode(ctx, `${id}-${d}`, job.files[d]);
      delete jobs[id];
      return undefined;
    },
    async stats(ctx, p) {
      const jobs = jobTable(ctx.state);
      const id = p.id as string;
      const job = jobs[id];
      if (!job) throw new Error(`no fleecing job '${id}'`);
      const all = (await ctx.port.qmp('query-jobs')) as { id: string; 'current-progress': number }[];
      const copied = all
        .filter((j) => job.disks.some((d) => j.id === `${id}-${d}`))
        .reduce((n, j) => n + j['current-progress'], 0);
      return { id, disks: job.disks, copied };
    },
    async list(ctx) {
      return Object.keys(jobTable(ctx.state));
    },
  },
});
