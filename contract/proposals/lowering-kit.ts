import type { LowerCtx } from './define.ts';

/** Building blocks the bundled proposals lower to: the same QMP a management layer sends. */

export function diskNode(ctx: LowerCtx, disk: string): string {
  const d = ctx.disks[disk];
  if (!d) throw new Error(`no disk '${disk}' in this domain`);
  return d.node;
}

/** A scratch qcow2 overlay whose backing is the live disk (the legacy fleecing target). */
export async function addOverlay(ctx: LowerCtx, disk: string, node: string): Promise<string> {
  const path = await ctx.port.createImage(node, 'qcow2', ctx.disks[disk].size);
  await ctx.port.qmp('blockdev-add', {
    driver: 'qcow2',
    'node-name': node,
    file: { driver: 'file', filename: path },
    backing: diskNode(ctx, disk),
  });
  return path;
}

/** Export a node read-only over NBD, with block-export-add where the QEMU has it (5.2+). */
export async function exportNode(ctx: LowerCtx, id: string, node: string, name: string): Promise<void> {
  if (ctx.port.features.has('block-export')) {
    await ctx.port.qmp('block-export-add', { type: 'nbd', id, 'node-name': node, name });
  } else {
    await ctx.port.qmp('nbd-server-add', { device: node, name });
  }
}

export async function unexport(ctx: LowerCtx, id: string): Promise<void> {
  await ctx.port.qmp('block-export-del', { id });
  await ctx.port.waitEvent(
    (e) => e.event === 'BLOCK_EXPORT_DELETED' && e.data?.id === id,
    `BLOCK_EXPORT_DELETED of ${id}`,
  );
}

/** Cancel a block job and wait until QEMU has forgotten it. */
export async function cancelJob(ctx: LowerCtx, id: string): Promise<void> {
  await ctx.port.qmp('block-job-cancel', { device: id });
  await ctx.port.waitEvent(
    (e) => e.event === 'JOB_STATUS_CHANGE' && e.data?.id === id && e.data?.status === 'null',
    `job ${id} to end`,
  );
}

export async function removeNode(ctx: LowerCtx, node: string, path?: string): Promise<void> {
  await ctx.port.qmp('blockdev-del', { 'node-name': node });
  if (path) await ctx.port.removeImage(path);
}
