import { setup } from 'xstate';
import { z } from 'zod';
import { defineProposal } from './define.ts';
import {
  addBackupOverlays,
  cancelJob,
  diskNode,
  diskOf,
  exportNode,
  removeNode,
  unexport,
} from './lowering-kit.ts';

/**
 * libvirt's checkpoints (6.0 API) as libvirt 9.0 lowers them, read off the wire (harness/libvirt/fixtures,
 * checkpoints-*.json, the same on QEMU 7.2, 10.0 and 11.1):
 * - virDomainCheckpointCreateXML: one transaction of `block-dirty-bitmap-add {persistent, enabled}` per disk;
 *   older checkpoints' bitmaps keep recording, so each one holds every write since it was made;
 * - virDomainBackupBegin incremental (pull): `query-named-block-nodes`; a checkpoint whose bitmap is missing
 *   or inconsistent is refused ("checkpoint inconsistent: missing or broken bitmap …"); else per disk a
 *   temporary disabled bitmap on the scratch overlay, merged from the checkpoint's one bitmap, and
 *   blockdev-backup sync=none, all in one transaction; the export carries the bitmap
 *   (`qemu:dirty-bitmap:backup-<disk>`);
 * - virDomainCheckpointDelete: `query-named-block-nodes`, then one transaction of block-dirty-bitmap-remove
 *   per disk, with no merge (none is needed: the older bitmaps recorded all of it too).
 * libvirt keeps its checkpoint list in its own metadata, across QEMU restarts and crashes.
 */
interface Cp {
  name: string;
  disks: string[];
}

interface Job {
  disks: string[];
  files: Record<string, string>;
}

function cps(state: Record<string, unknown>): Cp[] {
  state.checkpoints ??= [];
  return state.checkpoints as Cp[];
}

type NodeInfo = { 'node-name': string; 'dirty-bitmaps'?: { name: string; inconsistent?: boolean }[] };

export default defineProposal({
  name: 'checkpoints-6.0',
  title:
    'virDomainCheckpointCreateXML + incremental virDomainBackupBegin (libvirt 6.0 API, as 9.0 lowers it)',
  summary:
    'checkpoints as persistent bitmaps that all keep recording; an incremental pull backup exports a copy of one; delete removes without merge',
  capabilities: { disksPerCall: 'many', jobIds: false, concurrentJobs: false },
  calls: {
    virDomainCheckpointCreateXML: {
      doc: 'a checkpoint of the listed disks, by name',
      params: z.object({ name: z.string(), disks: z.array(z.string()).min(1) }),
      result: z.string(),
    },
    virDomainCheckpointDelete: {
      doc: 'delete a checkpoint (its children are reparented)',
      params: z.object({ name: z.string() }),
      result: z.literal(0),
    },
    virDomainBackupBegin: {
      doc: 'a pull-mode backup of the listed disks; incremental: the changes since that checkpoint',
      params: z.object({ disks: z.array(z.string()).min(1), incremental: z.string().optional() }),
      result: z.literal(0),
    },
    virDomainAbortJob: {
      doc: "end the domain's (one) backup job",
      params: z.object({}),
      result: z.literal(0),
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
    'incremental-complete',
    'incremental-tight',
    'checkpoint-survives-restart',
    'crash-detected',
    'checkpoint-delete-merges',
  ],
  limits: {
    'concurrent-points-in-time': 'one backup job per domain',
    'job-identity': 'no job ids: virDomainAbortJob acts on "the" domain job',
    'independent-chains':
      'no chains: one checkpoint tree per domain, each new checkpoint the child of the current one; two destinations tell theirs apart by name only',
  },
  machine: setup({}).createMachine({
    id: 'checkpoints-6.0',
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
  checkpoints: {
    chains: 'names',
    // two destinations share the one tree: each names its checkpoints with its own prefix
    create: (chain, disks, { no }) => ({
      call: 'virDomainCheckpointCreateXML',
      params: { name: `d${chain}-cp${no}`, disks },
    }),
    handle: (result) => result as string,
    remove: (name) => ({ call: 'virDomainCheckpointDelete', params: { name } }),
    begin: (since, _chain, disks) => ({
      call: 'virDomainBackupBegin',
      params: { disks, incremental: since },
    }),
    backup: () => 'domain-job',
    exported: (_b, disk) => ({ name: `backup-${disk}`, context: `qemu:dirty-bitmap:backup-${disk}` }),
    end: () => ({ call: 'virDomainAbortJob', params: {} }),
    fullNeeded: ({ error }) => ({ full: /checkpoint inconsistent/.test(error ?? ''), started: false }),
  },
  lower: {
    async virDomainCheckpointCreateXML(ctx, p) {
      const name = p.name as string;
      const disks = p.disks as string[];
      for (const d of disks) diskOf(ctx, d);
      if (cps(ctx.state).some((c) => c.name === name))
        throw new Error(`invalid argument: domain moment ${name} already exists`);
      await ctx.port.qmp('transaction', {
        actions: disks.map((d) => ({
          type: 'block-dirty-bitmap-add',
          data: { node: diskNode(ctx, d), name, persistent: true, disabled: false },
        })),
      });
      cps(ctx.state).push({ name, disks });
      return name;
    },
    async virDomainCheckpointDelete(ctx, p) {
      const name = p.name as string;
      const list = cps(ctx.state);
      const cp = list.find((c) => c.name === name);
      if (!cp)
        throw new Error(`Domain checkpoint not found: no domain checkpoint with matching name '${name}'`);
      await ctx.port.qmp('query-named-block-nodes', { flat: true });
      await ctx.port.qmp('transaction', {
        actions: cp.disks.map((d) => ({
          type: 'block-dirty-bitmap-remove',
          data: { node: diskNode(ctx, d), name },
        })),
      });
      list.splice(list.indexOf(cp), 1);
      return 0;
    },
    async virDomainBackupBegin(ctx, p) {
      if (ctx.state.job)
        throw new Error(
          'Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainBackupBegin)',
        );
      const disks = p.disks as string[];
      const since = p.incremental as string | undefined;
      for (const d of disks) diskOf(ctx, d);
      if (since !== undefined) {
        const cp = cps(ctx.state).find((c) => c.name === since);
        if (!cp)
          throw new Error(`Domain checkpoint not found: no domain checkpoint with matching name '${since}'`);
        const nodes = (await ctx.port.qmp('query-named-block-nodes', { flat: true })) as NodeInfo[];
        for (const d of disks) {
          const b = nodes
            .find((n) => n['node-name'] === diskNode(ctx, d))
            ?.['dirty-bitmaps']?.find((x) => x.name === since);
          if (!b || b.inconsistent)
            throw new Error(`checkpoint inconsistent: missing or broken bitmap '${since}' for disk '${d}'`);
        }
      }
      // the temporary bitmap is merged from the checkpoint's own: it recorded everything since
      const files = await addBackupOverlays(
        ctx,
        disks,
        'backup',
        since === undefined ? undefined : () => [since],
      );
      for (const d of disks)
        await exportNode(
          ctx,
          `backup-${d}`,
          `backup-${d}`,
          `backup-${d}`,
          since === undefined ? undefined : `backup-${d}`,
        );
      ctx.state.job = { disks, files } satisfies Job;
      return 0;
    },
    async virDomainAbortJob(ctx) {
      const job = ctx.state.job as Job | undefined;
      if (!job) throw new Error('Requested operation is not valid: no job is active on the domain');
      for (const d of job.disks) await cancelJob(ctx, `backup-${d}`);
      for (const d of job.disks) await unexport(ctx, `backup-${d}`);
      for (const d of job.disks) await removeNode(ctx, `backup-${d}`, job.files[d]);
      ctx.state.job = undefined;
      return 0;
    },
  },
});
