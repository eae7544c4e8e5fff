import { setup } from 'xstate';
import { z } from 'zod';
import { defineProposal } from './define.ts';
import { addBackupOverlays, cancelJob, diskOf, exportNode, removeNode, unexport } from './lowering-kit.ts';

/**
 * What libvirt shipped in 6.0: virDomainBackupBegin with a list of disks started in one transaction (pull
 * mode: each disk's point in time exported over NBD), one backup job per domain, ended by virDomainAbortJob.
 * The teardown order is libvirt's own as seen on the wire (9.0): cancel every disk's job, then stop exporting.
 */
const DOMAIN_LOCK_TIMEOUT =
  'Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainBackupBegin)';

export default defineProposal({
  name: 'backup-begin-6.0',
  title: 'virDomainBackupBegin (libvirt 6.0, pull mode)',
  summary: 'a list of disks in one transaction; one job per domain; no job id; ended by virDomainAbortJob',
  capabilities: { disksPerCall: 'many', jobIds: false, concurrentJobs: false },
  calls: {
    virDomainBackupBegin: {
      doc: 'start a pull-mode backup of the listed disks; returns 0',
      params: z.object({ disks: z.array(z.string()).min(1) }),
      result: z.literal(0),
    },
    virDomainAbortJob: {
      doc: "end the domain's (one) backup job",
      params: z.object({}),
      result: z.literal(0),
    },
    virDomainGetJobStats: {
      doc: "the domain job's progress",
      params: z.object({}),
      result: z.object({ type: z.string(), dataTotal: z.number(), dataProcessed: z.number() }),
    },
  },
  claims: [
    'point-in-time',
    'common-point-in-time',
    'teardown-accepted',
    'clean-teardown',
    'guest-writes-never-fail',
    'safe-teardown',
    'misuse-refused',
    'end-releases',
  ],
  limits: {
    'concurrent-points-in-time':
      'one backup job per domain: a second virDomainBackupBegin waits for the domain job lock and times out',
    'job-identity': 'no job ids: virDomainAbortJob and virDomainGetJobStats act on "the" domain job',
  },
  // virDomainGetJobStats is a call on the domain, not on a backup: it answers with or without one
  machine: setup({}).createMachine({
    id: 'backup-begin-6.0',
    initial: 'none',
    states: {
      none: { on: { virDomainBackupBegin: 'running' } },
      running: { tags: ['pit', 'readable'], on: { virDomainAbortJob: 'ended' } },
      ended: { type: 'final' },
    },
  }),
  session: {
    start: (disks) => [{ call: 'virDomainBackupBegin', params: { disks } }],
    handle: () => 'domain-job',
    exportName: (_h, disk) => `backup-${disk}`,
    stop: () => [{ call: 'virDomainAbortJob', params: {} }],
    request: { abort: () => ({ call: 'virDomainAbortJob', params: {} }) },
  },
  lower: {
    async virDomainBackupBegin(ctx, p) {
      if (ctx.state.job) throw new Error(DOMAIN_LOCK_TIMEOUT);
      const disks = p.disks as string[];
      for (const d of disks) diskOf(ctx, d);
      const files = await addBackupOverlays(ctx, disks, 'backup');
      for (const d of disks) await exportNode(ctx, `backup-${d}`, `backup-${d}`, `backup-${d}`);
      ctx.state.job = { disks, files };
      return 0;
    },
    async virDomainAbortJob(ctx) {
      const job = ctx.state.job as { disks: string[]; files: Record<string, string> } | undefined;
      if (!job) throw new Error('Requested operation is not valid: no job is active on the domain');
      // libvirt cancels the block jobs first, then tears the NBD exports down
      for (const d of job.disks) await cancelJob(ctx, `backup-${d}`);
      for (const d of job.disks) await unexport(ctx, `backup-${d}`);
      for (const d of job.disks) await removeNode(ctx, `backup-${d}`, job.files[d]);
      ctx.state.job = undefined;
      return 0;
    },
    async virDomainGetJobStats(ctx) {
      const job = ctx.state.job as { disks: string[] } | undefined;
      if (!job) return { type: 'none', dataTotal: 0, dataProcessed: 0 };
      const jobs = (await ctx.port.qmp('query-jobs')) as {
        id: string;
        'current-progress': number;
        'total-progress': number;
      }[];
      const mine = jobs.filter((j) => job.disks.some((d) => j.id === `backup-${d}`));
      return {
        type: 'backup',
        dataTotal: mine.reduce((n, j) => n + j['total-progress'], 0),
        dataProcessed: mine.reduce((n, j) => n + j['current-progress'], 0),
      };
    },
  },
});
