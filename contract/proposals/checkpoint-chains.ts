import { setup } from 'xstate';
import { z } from 'zod';
import { defineProposal, type LowerCtx } from './define.ts';
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
 * The team's checkpoint API: backup chains by id (one per destination), and an incremental that answers
 * "full backup needed" instead of failing. Per chain and disk only the newest checkpoint's bitmap records;
 * each older one holds the writes up to the next, so N checkpoints cost one recording bitmap per chain, not N.
 * An incremental from checkpoint K exports the merge of K..newest; deleting a checkpoint merges its bitmap
 * into the one before it in its chain (and hands recording back if it was the newest). A broken bitmap
 * (QEMU was killed) makes every incremental from that checkpoint or older a full backup, said in the result.
 */
interface Cp {
  id: string;
  chain: string;
  disks: string[];
}

interface Job {
  id: string;
  disks: string[];
  files: Record<string, string>;
  mode: 'full' | 'incremental';
}

function table(state: Record<string, unknown>): Cp[] {
  state.cps ??= [];
  return state.cps as Cp[];
}

function chainOf(state: Record<string, unknown>, chain: string): Cp[] {
  return table(state).filter((c) => c.chain === chain);
}

type NodeInfo = { 'node-name': string; 'dirty-bitmaps'?: { name: string; inconsistent?: boolean }[] };

/** bitmaps QEMU cannot use (inconsistent after a crash, or gone) on the domain's disks: "node/name" */
async function broken(ctx: LowerCtx, cps: Cp[]): Promise<Set<string>> {
  const nodes = (await ctx.port.qmp('query-named-block-nodes', { flat: true })) as NodeInfo[];
  const out = new Set<string>();
  for (const c of cps)
    for (const d of c.disks) {
      const b = nodes
        .find((n) => n['node-name'] === diskNode(ctx, d))
        ?.['dirty-bitmaps']?.find((x) => x.name === c.id);
      if (!b || b.inconsistent) out.add(`${d}/${c.id}`);
    }
  return out;
}

export default defineProposal({
  name: 'checkpoint-chains',
  title:
    'Backup chains by id: one recording bitmap per chain, merge on delete, "full backup needed" after a crash',
  summary:
    'checkpoint(chain) -> id; begin(since) -> {id, mode}; end(id); deleteCheckpoint(id) merges into the one before it',
  capabilities: { disksPerCall: 'many', jobIds: true, concurrentJobs: false },
  calls: {
    checkpoint: {
      doc: 'a checkpoint of the listed disks in a chain; returns its id',
      params: z.object({ chain: z.string(), disks: z.array(z.string()).min(1) }),
      result: z.string(),
    },
    deleteCheckpoint: {
      doc: 'delete a checkpoint; its changes go to the one before it in its chain',
      params: z.object({ id: z.string() }),
      result: z.void(),
    },
    begin: {
      doc: 'a pull backup of the listed disks: incremental from `since` when its chain can give one, else full (said in `mode`)',
      params: z.object({ disks: z.array(z.string()).min(1), since: z.string().optional() }),
      result: z.object({
        id: z.string(),
        mode: z.enum(['full', 'incremental']),
        reason: z.string().optional(),
      }),
    },
    end: { doc: 'end a backup by id', params: z.object({ id: z.string() }), result: z.void() },
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
    'independent-chains',
  ],
  limits: { 'concurrent-points-in-time': 'one backup at a time (as libvirt)' },
  machine: setup({}).createMachine({
    id: 'checkpoint-chains',
    initial: 'none',
    states: {
      none: { on: { begin: 'running' } },
      running: { tags: ['pit', 'readable'], on: { end: 'ended' } },
      ended: { type: 'final' },
    },
  }),
  session: {
    start: (disks) => [{ call: 'begin', params: { disks } }],
    handle: (results) => (results[0] as { id: string }).id,
    exportName: (id, disk) => `${id}-${disk}`,
    stop: (id) => [{ call: 'end', params: { id } }],
    request: { end: (id) => ({ call: 'end', params: { id } }) },
  },
  checkpoints: {
    chains: 'ids',
    create: (chain, disks) => ({ call: 'checkpoint', params: { chain: `dest${chain}`, disks } }),
    handle: (result) => result as string,
    remove: (id) => ({ call: 'deleteCheckpoint', params: { id } }),
    begin: (since, _chain, disks) => ({ call: 'begin', params: { disks, since } }),
    backup: (result) => (result as { id: string }).id,
    exported: (id, disk) => ({ name: `${id}-${disk}`, context: `qemu:dirty-bitmap:${id}-${disk}` }),
    end: (id) => ({ call: 'end', params: { id } }),
    fullNeeded: ({ result }) => ({
      full: (result as { mode?: string } | undefined)?.mode === 'full',
      started: true,
    }),
  },
  lower: {
    async checkpoint(ctx, p) {
      const chain = p.chain as string;
      const disks = p.disks as string[];
      for (const d of disks) diskOf(ctx, d);
      const n = ((ctx.state.counter as number | undefined) ?? 0) + 1;
      ctx.state.counter = n;
      const id = `${chain}.${n}`;
      const newest = chainOf(ctx.state, chain).at(-1);
      const bad = newest ? await broken(ctx, [newest]) : new Set<string>();
      await ctx.port.qmp('transaction', {
        actions: disks.flatMap((d) => [
          // the newest one so far stops recording: from here on its changes are the new one's
          ...(newest?.disks.includes(d) && !bad.has(`${d}/${newest.id}`)
            ? [{ type: 'block-dirty-bitmap-disable', data: { node: diskNode(ctx, d), name: newest.id } }]
            : []),
          {
            type: 'block-dirty-bitmap-add',
            data: { node: diskNode(ctx, d), name: id, persistent: true, disabled: false },
          },
        ]),
      });
      table(ctx.state).push({ id, chain, disks });
      return id;
    },
    async deleteCheckpoint(ctx, p) {
      const id = p.id as string;
      const all = table(ctx.state);
      const cp = all.find((c) => c.id === id);
      if (!cp) throw new Error(`no checkpoint '${id}'`);
      const chain = chainOf(ctx.state, cp.chain);
      const i = chain.indexOf(cp);
      const before = i > 0 ? chain[i - 1] : undefined;
      const newest = i === chain.length - 1;
      const bad = await broken(ctx, [cp, ...(before ? [before] : [])]);
      const actions: { type: string; data: Record<string, unknown> }[] = [];
      for (const d of cp.disks) {
        const node = diskNode(ctx, d);
        if (before?.disks.includes(d) && !bad.has(`${d}/${before.id}`)) {
          if (bad.has(`${d}/${cp.id}`)) {
            // its changes are lost: the one before it cannot give an incremental any more
            actions.push({ type: 'block-dirty-bitmap-remove', data: { node, name: before.id } });
          } else {
            actions.push({
              type: 'block-dirty-bitmap-merge',
              data: { node, target: before.id, bitmaps: [cp.id] },
            });
            if (newest) actions.push({ type: 'block-dirty-bitmap-enable', data: { node, name: before.id } });
          }
        }
        actions.push({ type: 'block-dirty-bitmap-remove', data: { node, name: cp.id } });
      }
      await ctx.port.qmp('transaction', { actions });
      all.splice(all.indexOf(cp), 1);
      return undefined;
    },
    async begin(ctx, p) {
      if (ctx.state.job) throw new Error('a backup is running: end it first');
      const disks = p.disks as string[];
      for (const d of disks) diskOf(ctx, d);
      const since = p.since as string | undefined;
      let from: Cp[] = [];
      let reason: string | undefined;
      if (since !== undefined) {
        const cp = table(ctx.state).find((c) => c.id === since);
        if (!cp) throw new Error(`no checkpoint '${since}'`);
        const chain = chainOf(ctx.state, cp.chain);
        from = chain.slice(chain.indexOf(cp));
        const bad = await broken(ctx, from);
        const missing = disks.flatMap((d) =>
          from.filter((c) => !c.disks.includes(d) || bad.has(`${d}/${c.id}`)).map((c) => `${d}/${c.id}`),
        );
        if (missing.length > 0) {
          reason = `checkpoint bitmaps ${missing.join(', ')} are broken or missing (QEMU did not stop cleanly): a full backup is needed`;
          from = [];
        }
      }
      const n = ((ctx.state.jobs as number | undefined) ?? 0) + 1;
      ctx.state.jobs = n;
      const id = `backup${n}`;
      // an incremental exports the merge of the checkpoint's bitmap and every newer one of its chain
      const ids = from.map((c) => c.id);
      const files = await addBackupOverlays(ctx, disks, id, ids.length > 0 ? () => ids : undefined);
      for (const d of disks)
        await exportNode(
          ctx,
          `${id}-${d}`,
          `${id}-${d}`,
          `${id}-${d}`,
          ids.length > 0 ? `${id}-${d}` : undefined,
        );
      const mode = from.length > 0 ? 'incremental' : 'full';
      ctx.state.job = { id, disks, files, mode } satisfies Job;
      return { id, mode, ...(reason ? { reason } : {}) };
    },
    async end(ctx, p) {
      const job = ctx.state.job as Job | undefined;
      if (!job || job.id !== p.id) throw new Error(`no backup '${String(p.id)}'`);
      // safe order: no reader may see the disk change under its point in time
      for (const d of job.disks) await unexport(ctx, `${job.id}-${d}`);
      for (const d of job.disks) await cancelJob(ctx, `${job.id}-${d}`);
      for (const d of job.disks) await removeNode(ctx, `${job.id}-${d}`, job.files[d]);
      ctx.state.job = undefined;
      return undefined;
    },
  },
});
