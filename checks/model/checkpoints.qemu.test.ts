import { describe, expect, it } from 'vitest';
import type { PropertyId } from '../../contract/properties.ts';
import { defineProposal, type LowerCtx, type Proposal } from '../../contract/proposals/define.ts';
import { bundled } from '../../contract/proposals/index.ts';
import type { OpSpec } from '../../contract/proposals/ops.ts';
import { startPort } from '../../harness/start-port.ts';
import { type ResolvedTarget, resolveTarget } from '../../harness/targets/target-spec.ts';
import { checkProposal } from './check.ts';
import { replayOps } from './replay.ts';
import { World } from './world.ts';

/**
 * Checkpoint counterexamples on real qemu-system. The bundled lowerings keep every checkpoint promise (their
 * runs are scenarios: checks/model/scenarios/*.delete-restart-crash.json); two deliberately broken ones — a
 * delete that does not merge into the chain's previous bitmap, an incremental that remakes the bitmaps a
 * crash lost — are caught by the checker with shrunk counterexamples that fail the same way on real QEMU.
 */
const chains = bundled('checkpoint-chains')!;

/** checkpoint-chains whose delete only removes the bitmap: the changes it held are lost for older ones */
const noMerge = defineProposal({
  ...chains,
  name: 'checkpoint-chains-no-merge',
  lower: {
    ...chains.lower,
    async deleteCheckpoint(ctx: LowerCtx, p: Record<string, unknown>) {
      const all = ctx.state.cps as { id: string; disks: string[] }[];
      const cp = all.find((c) => c.id === p.id)!;
      await ctx.port.qmp('transaction', {
        actions: cp.disks.map((d) => ({
          type: 'block-dirty-bitmap-remove',
          data: { node: ctx.disks[d].node, name: cp.id },
        })),
      });
      all.splice(all.indexOf(cp), 1);
      return undefined;
    },
  },
} as unknown as Proposal);

/**
 * checkpoint-chains that "repairs" after a crash: a checkpoint bitmap QEMU lost (never stored: it was made
 * after the last clean start) or marked inconsistent is made again, empty, and the incremental goes on
 */
const repairing = defineProposal({
  ...chains,
  name: 'checkpoint-chains-repairing',
  lower: {
    ...chains.lower,
    async begin(ctx: LowerCtx, p: Record<string, unknown>) {
      type Node = { 'node-name': string; 'dirty-bitmaps'?: { name: string; inconsistent?: boolean }[] };
      const nodes = (await ctx.port.qmp('query-named-block-nodes', { flat: true })) as Node[];
      for (const c of (ctx.state.cps ?? []) as { id: string; disks: string[] }[])
        for (const d of c.disks) {
          const node = ctx.disks[d].node;
          const b = nodes
            .find((n) => n['node-name'] === node)
            ?.['dirty-bitmaps']?.find((x) => x.name === c.id);
          if (b && !b.inconsistent) continue;
          if (b) await ctx.port.qmp('block-dirty-bitmap-remove', { node, name: c.id });
          await ctx.port.qmp('block-dirty-bitmap-add', { node, name: c.id, persistent: true });
        }
      return chains.lower.begin(ctx, p);
    },
  },
} as Proposal);

function realTarget(v: string): ResolvedTarget | string {
  try {
    const t = resolveTarget(`system:${v}`);
    return t.profile === v ? t : `QEMU ${v} is not installed here (found ${t.qemu.version})`;
  } catch (e) {
    return `QEMU ${v} is not installed here: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

interface Case {
  name: string;
  proposal: Proposal;
  ops: OpSpec[];
  expect: PropertyId | undefined;
  detail?: RegExp;
  reaches: PropertyId[];
}

const found: Record<string, OpSpec[]> = {};

describe('checkpoints on the simulator: the checker finds what a broken lowering loses', () => {
  it('a delete without merge fails checkpoint-delete-merges (shrunk)', async () => {
    const r = await checkProposal(noMerge, { runs: 400, seed: 3, profile: '7.2' });
    const v = r.verdicts.find((x) => x.property === 'checkpoint-delete-merges')!;
    expect(v.status).toBe('fails');
    expect(v.counterexample!.detail).toMatch(/a newer checkpoint deleted.*without cluster/);
    found.noMerge = v.counterexample!.ops;
  }, 120_000);

  it('an incremental that remakes lost bitmaps after kill -9 fails crash-detected (shrunk)', async () => {
    const r = await checkProposal(repairing, { runs: 400, seed: 3, profile: '7.2' });
    const v = r.verdicts.find((x) => x.property === 'crash-detected')!;
    expect(v.status).toBe('fails');
    expect(v.counterexample!.detail).toMatch(/a crash.*without cluster/);
    found.repairing = v.counterexample!.ops;
  }, 120_000);
});

describe('checkpoints replayed on the simulator and on real qemu-system', () => {
  const cases = (): Case[] => [
    {
      name: "a delete without merge: the checker's counterexample",
      proposal: noMerge,
      ops: found.noMerge ?? [],
      expect: 'checkpoint-delete-merges',
      reaches: ['checkpoint-delete-merges'],
    },
    {
      name: "remaking lost bitmaps after kill -9: the checker's counterexample",
      proposal: repairing,
      ops: found.repairing ?? [],
      expect: 'crash-detected',
      detail: /a crash.*without cluster/,
      reaches: ['crash-detected'],
    },
  ];
  for (const i of [0, 1]) {
    for (const v of ['7.2', '10.0', '11.1']) {
      const t = realTarget(v);
      for (const where of ['sim', 'real'] as const) {
        const skip = where === 'real' && typeof t === 'string';
        it.skipIf(skip)(
          `${['no-merge mutant', 'repairing mutant'][i]} on ${where}:${v}${skip ? ` (skipped: ${t})` : ''}`,
          async () => {
            const c = cases()[i];
            expect(c.ops.length, 'the checker found no counterexample to replay').toBeGreaterThan(0);
            const target = where === 'sim' ? resolveTarget(`sim:${v}`) : (t as ResolvedTarget);
            const domain = World.domainFor(c.proposal, 'vm', 2, 256 * 1024);
            const r = await replayOps(c.proposal, () => startPort(target, domain), c.ops);
            expect(r.unknown).toBeUndefined();
            expect(r.violated, r.detail).toBe(c.expect);
            if (c.detail) expect(r.detail).toMatch(c.detail);
            expect(r.exercised).toEqual(expect.arrayContaining(c.reaches));
          },
          180_000,
        );
      }
    }
  }
});
