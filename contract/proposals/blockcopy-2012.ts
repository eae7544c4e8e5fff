import { type AnyEventObject, setup } from 'xstate';
import { z } from 'zod';
import { defineProposal, type LowerCtx } from './define.ts';
import { diskOf, exportNode, removeNode, topNode, unexport, waitJobGone } from './lowering-kit.ts';

/**
 * virDomainBlockCopy (libvirt 1.2.8, designed 2012): one disk at a time, a mirror job into a destination.
 * Once the copy is in sync (READY), virDomainBlockJobAbort with PIVOT switches the guest to the copy —
 * what the call exists for — and without it abandons the copy, which then holds the disk as of that moment:
 * that is how it serves for fleecing, disk by disk (copy, wait until ready, abandon, read the copy).
 */
const PIVOT = 2;

interface Copy {
  node: string;
  path: string;
  /** abandoned while in sync: a point in time a reader may read */
  abandoned: boolean;
  exported: boolean;
}

function copies(ctx: LowerCtx): Record<string, Copy> {
  ctx.state.copies ??= {};
  return ctx.state.copies as Record<string, Copy>;
}

/** A copy's NBD export is named after its disk; its node and job after the disk and the copy's number. */
function exportName(disk: string): string {
  return `copy-${disk}`;
}

async function mirrorJob(ctx: LowerCtx, disk: string) {
  const copy = copies(ctx)[disk];
  if (!copy) return undefined;
  const jobs = (await ctx.port.qmp('query-block-jobs')) as {
    device: string;
    ready: boolean;
    offset: number;
    len: number;
  }[];
  return jobs.find((j) => j.device === copy.node);
}

const pivot = ({ event }: { event: AnyEventObject }) =>
  (((event.params as { flags?: number } | undefined)?.flags ?? 0) & PIVOT) !== 0;

export default defineProposal({
  name: 'blockcopy-2012',
  title: 'virDomainBlockCopy + virDomainBlockJobAbort, disk by disk',
  summary:
    'per disk: blockdev-mirror, READY, then job-complete (PIVOT) or block-job-cancel (abandon: a copy as of then)',
  capabilities: { disksPerCall: 'one', jobIds: false, concurrentJobs: false },
  calls: {
    virDomainBlockCopy: {
      doc: 'copy one disk to a destination image (a mirror job), at most `bandwidth` bytes/s (0: no limit), `bufSize` bytes in flight',
      params: z.object({
        disk: z.string(),
        flags: z.number().int().default(0),
        bandwidth: z.number().int().min(0).default(0),
        bufSize: z.number().int().min(0).default(0),
      }),
      result: z.literal(0),
    },
    virDomainGetBlockJobInfo: {
      doc: "the copy's progress, and whether it is in sync (ready to pivot)",
      params: z.object({ disk: z.string() }),
      result: z.object({ cur: z.number(), end: z.number(), ready: z.boolean() }),
    },
    virDomainBlockJobAbort: {
      doc: 'end the copy of one disk: PIVOT (2) switches the guest to the copy, 0 abandons it',
      params: z.object({ disk: z.string(), flags: z.number().int().default(0) }),
      result: z.literal(0),
    },
    waitReady: {
      doc: "(user) lift the copy's bandwidth limit (virDomainBlockJobSetSpeed 0) and wait for libvirt's block job event READY",
      params: z.object({ disk: z.string() }),
      result: z.void(),
    },
    exportCopy: {
      doc: '(harness) let a reader see an abandoned copy over NBD; BlockCopy has no export of its own',
      params: z.object({ disk: z.string() }),
      result: z.string(),
    },
    removeCopy: {
      doc: '(harness) stop exporting an abandoned copy and delete it',
      params: z.object({ disk: z.string() }),
      result: z.void(),
    },
  },
  claims: [
    'point-in-time',
    'teardown-accepted',
    'clean-teardown',
    'guest-writes-never-fail',
    'pivot-identical',
    'misuse-refused',
    'end-releases',
  ],
  limits: {
    'common-point-in-time': 'one disk per call: each disk gets the point in time of its own abandon',
    'concurrent-points-in-time': 'one block job per disk',
    'job-identity': 'jobs are named by disk',
  },
  // The checker waits for READY rather than polling virDomainGetBlockJobInfo: whether a poll finds the copy
  // in sync depends on timing, which a replay on real QEMU could not repeat.
  machine: setup({ guards: { pivot, abandon: (a) => !pivot(a) } }).createMachine({
    id: 'blockcopy-2012',
    initial: 'none',
    states: {
      none: { on: { virDomainBlockCopy: 'copying' } },
      copying: {
        on: {
          BLOCK_JOB_READY: 'ready',
          waitReady: 'ready',
          virDomainBlockJobAbort: { guard: 'abandon', target: 'cancelled' },
        },
      },
      ready: {
        on: {
          waitReady: 'ready',
          virDomainBlockJobAbort: [
            { guard: 'pivot', target: 'pivoted' },
            { guard: 'abandon', target: 'abandoned' },
          ],
        },
      },
      abandoned: { tags: ['pit'], on: { exportCopy: 'exported', removeCopy: 'removed' } },
      exported: { tags: ['pit', 'readable'], on: { removeCopy: 'removed' } },
      pivoted: { type: 'final', tags: ['pivoted'] },
      cancelled: { type: 'final' },
      removed: { type: 'final' },
    },
  }),
  // one disk per call: a session is one disk, its handle the disk's name
  session: {
    // throttled, so that the copy is still copying until its user lifts the limit: 'copying' is a state a
    // run can be in on the simulator and on a real QEMU alike (64 KiB at a time at 1 KiB/s: a 256 KiB disk
    // takes minutes)
    start: (disks) => [
      { call: 'virDomainBlockCopy', params: { disk: disks[0], flags: 0, bandwidth: 1024, bufSize: 65536 } },
    ],
    handle: (_r, disks) => disks[0],
    exportName: (disk) => exportName(disk),
    // libvirt learns that a copy is in sync from QEMU's event, whether its user waits for it or not
    qemuEvents: {
      BLOCK_JOB_READY: (e, disk) =>
        e.event === 'BLOCK_JOB_READY' && String(e.data?.device).startsWith(`copy-${disk}-`),
    },
    stop: (disk, _disks, state) =>
      state === 'copying'
        ? [{ call: 'virDomainBlockJobAbort', params: { disk, flags: 0 } }]
        : state === 'ready'
          ? [
              { call: 'virDomainBlockJobAbort', params: { disk, flags: 0 } },
              { call: 'removeCopy', params: { disk } },
            ]
          : [{ call: 'removeCopy', params: { disk } }],
    request: {
      waitReady: (disk) => ({ call: 'waitReady', params: { disk } }),
      pivot: (disk) => ({ call: 'virDomainBlockJobAbort', params: { disk, flags: PIVOT } }),
      abandon: (disk) => ({ call: 'virDomainBlockJobAbort', params: { disk, flags: 0 } }),
      exportCopy: (disk) => ({ call: 'exportCopy', params: { disk } }),
      removeCopy: (disk) => ({ call: 'removeCopy', params: { disk } }),
    },
  },
  lower: {
    async virDomainBlockCopy(ctx, p) {
      const disk = p.disk as string;
      const d = diskOf(ctx, disk);
      if (copies(ctx)[disk])
        throw new Error(`block copy still active: disk '${disk}' already in active block job`);
      const n = ((ctx.state.copiesMade as number | undefined) ?? 0) + 1;
      ctx.state.copiesMade = n;
      const node = `copy-${disk}-${n}`;
      const path = await ctx.port.createImage(node, 'qcow2', d.size);
      await ctx.port.qmp('blockdev-add', {
        driver: 'qcow2',
        'node-name': node,
        file: { driver: 'file', filename: path },
      });
      try {
        await ctx.port.qmp('blockdev-mirror', {
          'job-id': node,
          device: topNode(ctx, disk),
          target: node,
          sync: 'full',
          ...((p.bandwidth as number) > 0 ? { speed: p.bandwidth } : {}),
          ...((p.bufSize as number) > 0 ? { 'buf-size': p.bufSize } : {}),
        });
      } catch (e) {
        await removeNode(ctx, node, path);
        throw e;
      }
      copies(ctx)[disk] = { node, path, abandoned: false, exported: false };
      return 0;
    },
    async virDomainGetBlockJobInfo(ctx, p) {
      const job = await mirrorJob(ctx, p.disk as string);
      return job ? { cur: job.offset, end: job.len, ready: job.ready } : { cur: 0, end: 0, ready: false };
    },
    async waitReady(ctx, p) {
      const disk = p.disk as string;
      if (!copies(ctx)[disk])
        throw new Error(`invalid argument: disk ${disk} does not have an active block job`);
      const node = copies(ctx)[disk].node;
      if ((await mirrorJob(ctx, disk))?.ready) return undefined;
      await ctx.port.qmp('block-job-set-speed', { device: node, speed: 0 });
      await ctx.port.waitEvent(
        (e) => e.event === 'BLOCK_JOB_READY' && e.data?.device === node,
        `${node} to be ready`,
      );
      return undefined;
    },
    async virDomainBlockJobAbort(ctx, p) {
      const disk = p.disk as string;
      diskOf(ctx, disk);
      const copy = copies(ctx)[disk];
      const job = await mirrorJob(ctx, disk);
      if (!copy || !job) throw new Error(`invalid argument: disk ${disk} does not have an active block job`);
      if (((p.flags as number) & PIVOT) !== 0) {
        if (!job.ready) throw new Error(`block copy still active: disk '${disk}' not ready for pivot yet`);
        await ctx.port.qmp('job-complete', { id: copy.node });
        await waitJobGone(ctx, copy.node);
        // the guest is on the copy now: the old disk's node goes, as libvirt removes it after a pivot
        await ctx.port.qmp('blockdev-del', { 'node-name': ctx.disks[disk].node });
        ctx.disks[disk] = { ...ctx.disks[disk], node: copy.node };
        delete copies(ctx)[disk];
        return 0;
      }
      await ctx.port.qmp('block-job-cancel', { device: copy.node });
      await waitJobGone(ctx, copy.node);
      // a copy abandoned before it was in sync holds nothing of use: libvirt lets go of it
      if (!job.ready) {
        await removeNode(ctx, copy.node, copy.path);
        delete copies(ctx)[disk];
      } else copy.abandoned = true;
      return 0;
    },
    async exportCopy(ctx, p) {
      const copy = copies(ctx)[p.disk as string];
      if (!copy?.abandoned) throw new Error(`(harness) no abandoned copy of disk '${p.disk as string}'`);
      if (copy.exported)
        throw new Error(`(harness) the copy of disk '${p.disk as string}' is exported already`);
      const name = exportName(p.disk as string);
      await exportNode(ctx, name, copy.node, name);
      copy.exported = true;
      return name;
    },
    async removeCopy(ctx, p) {
      const disk = p.disk as string;
      const copy = copies(ctx)[disk];
      if (!copy?.abandoned) throw new Error(`(harness) no abandoned copy of disk '${disk}'`);
      if (copy.exported) await unexport(ctx, exportName(disk));
      await removeNode(ctx, copy.node, copy.path);
      delete copies(ctx)[disk];
      return undefined;
    },
  },
});
