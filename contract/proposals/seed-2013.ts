import { setup } from 'xstate';
import { z } from 'zod';
import { defineProposal } from './define.ts';
import { addOverlay, diskNode, removeNode } from './lowering-kit.ts';

/**
 * The recipe of the 2013 design thread, as written: a qcow2 overlay backed by the live disk, a backup
 * job sync=none into it, nbd-server-add; teardown with block-job-complete and deleting the overlay.
 */
export default defineProposal({
  name: 'seed-2013',
  title: 'The 2013 image-fleecing recipe (per disk)',
  summary:
    'overlay + drive-backup sync=none + nbd-server-add; teardown: block-job-complete, delete the overlay',
  capabilities: { disksPerCall: 'one', jobIds: false, concurrentJobs: false },
  calls: {
    fleeceStart: {
      doc: 'start fleecing one disk; returns the NBD export name',
      params: z.object({ disk: z.string() }),
      result: z.string(),
    },
    fleeceStop: { doc: 'stop fleecing one disk', params: z.object({ disk: z.string() }), result: z.void() },
  },
  claims: [
    'point-in-time',
    'teardown-accepted',
    'clean-teardown',
    'guest-writes-never-fail',
    'misuse-refused',
    'end-releases',
  ],
  limits: {
    'common-point-in-time': 'one disk per call: a list of disks is several calls, each its own point in time',
    'concurrent-points-in-time': 'one fleecing per disk: the node names and export are fixed',
    'job-identity': 'no job ids',
  },
  machine: setup({}).createMachine({
    id: 'seed-2013',
    initial: 'none',
    states: {
      none: { on: { fleeceStart: 'fleecing' } },
      fleecing: { tags: ['pit', 'readable'], on: { fleeceStop: 'stopped' } },
      stopped: { type: 'final' },
    },
  }),
  // one disk per call: a session is one disk
  session: {
    start: (disks) => [{ call: 'fleeceStart', params: { disk: disks[0] } }],
    handle: (_r, disks) => disks[0],
    exportName: (_h, disk) => `fleece-${disk}`,
    stop: (disk) => [{ call: 'fleeceStop', params: { disk } }],
    request: { stop: (disk) => ({ call: 'fleeceStop', params: { disk } }) },
  },
  lower: {
    async fleeceStart(ctx, p) {
      const disk = p.disk as string;
      const node = `fleece-${disk}`;
      ctx.state[disk] = await addOverlay(ctx, disk, node);
      await ctx.port.qmp('blockdev-backup', {
        'job-id': node,
        device: diskNode(ctx, disk),
        target: node,
        sync: 'none',
      });
      await ctx.port.qmp('nbd-server-add', { device: node, name: node });
      return node;
    },
    async fleeceStop(ctx, p) {
      const disk = p.disk as string;
      const node = `fleece-${disk}`;
      // As proposed: complete the job, then delete the overlay and its file.
      await ctx.port.qmp('block-job-complete', { device: node });
      await ctx.port.qmp('nbd-server-remove', { name: node });
      await removeNode(ctx, node, ctx.state[disk] as string);
      return undefined;
    },
  },
});
