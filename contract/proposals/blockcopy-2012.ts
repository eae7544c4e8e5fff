import { z } from 'zod';
import { defineProposal } from './define.ts';
import { diskNode, exportNode, removeNode, unexport } from './lowering-kit.ts';

/**
 * virDomainBlockCopy (libvirt 1.2.8, designed 2012): one disk at a time, a mirror job into a destination;
 * virDomainBlockJobAbort without PIVOT abandons the copy (which then holds the disk as of that moment),
 * with PIVOT switches the disk to it. Used for fleecing disk by disk: copy, wait until ready, abandon,
 * read the copy.
 */
const PIVOT = 2;

export default defineProposal({
  name: 'blockcopy-2012',
  title: 'virDomainBlockCopy + virDomainBlockJobAbort, disk by disk',
  summary: 'per disk: blockdev-mirror, wait READY, block-job-cancel (abandon) or job-complete (PIVOT)',
  capabilities: { disksPerCall: 'one', jobIds: false, concurrentJobs: false },
  calls: {
    virDomainBlockCopy: {
      doc: 'copy one disk to a destination image (mirror job)',
      params: z.object({ disk: z.string(), flags: z.number().int().default(0) }),
      result: z.literal(0),
    },
    virDomainBlockJobAbort: {
      doc: 'end the copy of one disk: PIVOT (2) switches to the copy, 0 abandons it',
      params: z.object({ disk: z.string(), flags: z.number().int().default(0) }),
      result: z.literal(0),
    },
    exportCopy: {
      doc: '(harness) let a reader see an abandoned copy over NBD; BlockCopy has no export of its own',
      params: z.object({ disk: z.string() }),
      result: z.string(),
    },
    removeCopy: {
      doc: '(harness) stop exporting a copy and delete it',
      params: z.object({ disk: z.string() }),
      result: z.void(),
    },
  },
  claims: ['point-in-time', 'teardown-accepted', 'clean-teardown', 'guest-writes-never-fail'],
  limits: {
    'common-point-in-time': 'one disk per call: each disk gets the point in time of its own abandon',
    'concurrent-points-in-time': 'one block job per disk',
    'job-identity': 'jobs are named by disk',
  },
  session: {
    start: (disks) =>
      disks.flatMap((disk) => [
        { call: 'virDomainBlockCopy', params: { disk, flags: 0 } },
        { call: 'virDomainBlockJobAbort', params: { disk, flags: 0 } },
        { call: 'exportCopy', params: { disk } },
      ]),
    pitCall: (disks) => Object.fromEntries(disks.map((d, i) => [d, i * 3 + 1])),
    handle: (_r, disks) => disks.join('+'),
    exportName: (_h, disk) => `copy-${disk}`,
    stop: (_h, disks) => disks.map((disk) => ({ call: 'removeCopy', params: { disk } })),
  },
  lower: {
    async virDomainBlockCopy(ctx, p) {
      const disk = p.disk as string;
      const node = `copy-${disk}`;
      const path = await ctx.port.createImage(node, 'qcow2', ctx.disks[disk].size);
      ctx.state[disk] = path;
      await ctx.port.qmp('blockdev-add', {
        driver: 'qcow2',
        'node-name': node,
        file: { driver: 'file', filename: path },
      });
      await ctx.port.qmp('blockdev-mirror', {
        'job-id': node,
        device: diskNode(ctx, disk),
        target: node,
        sync: 'full',
      });
      return 0;
    },
    async virDomainBlockJobAbort(ctx, p) {
      const disk = p.disk as string;
      const job = `copy-${disk}`;
      // libvirt waits for READY before an abort means "abandon a synchronised copy"
      await ctx.port.waitEvent(
        (e) => e.event === 'BLOCK_JOB_READY' && e.data?.device === job,
        `${job} to be ready`,
      );
      if (((p.flags as number) & PIVOT) !== 0) await ctx.port.qmp('job-complete', { id: job });
      else await ctx.port.qmp('block-job-cancel', { device: job });
      await ctx.port.waitEvent(
        (e) => e.event === 'JOB_STATUS_CHANGE' && e.data?.id === job && e.data?.status === 'null',
        `${job} to end`,
      );
      return 0;
    },
    async exportCopy(ctx, p) {
      const node = `copy-${p.disk as string}`;
      await exportNode(ctx, node, node, node);
      return node;
    },
    async removeCopy(ctx, p) {
      const disk = p.disk as string;
      const node = `copy-${disk}`;
      await unexport(ctx, node);
      await removeNode(ctx, node, ctx.state[disk] as string);
      return undefined;
    },
  },
});
