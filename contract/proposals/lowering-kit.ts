import type { Feature } from '../versions.ts';
import type { LowerCtx } from './define.ts';

/** Building blocks the bundled proposals lower to: the same QMP a management layer sends. */

/** A disk of the domain, or libvirt's refusal for one it does not have. */
export function diskOf(ctx: LowerCtx, disk: string): LowerCtx['disks'][string] {
  const d = ctx.disks[disk];
  if (!d) throw new Error(`invalid argument: disk '${disk}' not found in domain`);
  return d;
}

/** The node a disk was started on (a fleecing job starts from there). */
export function diskNode(ctx: LowerCtx, disk: string): string {
  return diskOf(ctx, disk).node;
}

/** A QEMU feature, detected from what it says of itself (query-qmp-schema), as libvirt probes it. */
export function hasFeature(ctx: LowerCtx, f: Feature): boolean {
  return ctx.port.features.has(f);
}

/** A scratch qcow2 overlay whose backing is the live disk (the legacy fleecing target). */
export async function addOverlay(ctx: LowerCtx, disk: string, node: string): Promise<string> {
  const d = diskOf(ctx, disk);
  const path = await ctx.port.createImage(node, 'qcow2', d.size);
  await ctx.port.qmp('blockdev-add', {
    driver: 'qcow2',
    'node-name': node,
    file: { driver: 'file', filename: path },
    backing: d.node,
  });
  return path;
}

/**
 * The legacy recipe for several disks at one point in time: an overlay per disk and one transaction of
 * backup jobs sync=none into them (jobs and overlays named `${prefix}-${disk}`). A refused transaction takes
 * the overlays back before it says why. Returns each overlay's image.
 *
 * `since`: an incremental pull backup as libvirt 9.0 sends it: in the same transaction, before each job, a
 * disabled temporary bitmap `${prefix}-${disk}` on the overlay, merged from the disk's checkpoint bitmaps
 * (export it with exportNode's `bitmap`).
 */
export async function addBackupOverlays(
  ctx: LowerCtx,
  disks: string[],
  prefix: string,
  since?: (disk: string) => string[],
): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const d of disks) files[d] = await addOverlay(ctx, d, `${prefix}-${d}`);
  const actions = disks.flatMap((d) => {
    const node = `${prefix}-${d}`;
    const bitmap = since
      ? [
          {
            type: 'block-dirty-bitmap-add',
            data: { node, name: node, persistent: false, disabled: true, granularity: 65536 },
          },
          {
            type: 'block-dirty-bitmap-merge',
            data: {
              node,
              target: node,
              bitmaps: since(d).map((name) => ({ node: diskNode(ctx, d), name })),
            },
          },
        ]
      : [];
    return [
      ...bitmap,
      {
        type: 'blockdev-backup',
        data: { 'job-id': node, device: diskNode(ctx, d), target: node, sync: 'none' },
      },
    ];
  });
  try {
    await ctx.port.qmp('transaction', { actions });
  } catch (e) {
    for (const d of disks) await removeNode(ctx, `${prefix}-${d}`, files[d]);
    throw e;
  }
  return files;
}

/**
 * Export a node read-only over NBD, with block-export-add where the QEMU has it (5.2+); `bitmap`: also its
 * dirty bitmap of that name, as the `qemu:dirty-bitmap:NAME` context (libvirt's incremental pull backup).
 */
export async function exportNode(
  ctx: LowerCtx,
  id: string,
  node: string,
  name: string,
  bitmap?: string,
): Promise<void> {
  if (bitmap !== undefined) {
    await ctx.port.qmp('block-export-add', {
      type: 'nbd',
      id,
      'node-name': node,
      name,
      writable: false,
      bitmaps: [bitmap],
    });
  } else if (ctx.port.features.has('block-export')) {
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
  await waitJobGone(ctx, id);
}

export async function waitJobGone(ctx: LowerCtx, id: string): Promise<void> {
  await ctx.port.waitEvent(
    (e) => e.event === 'JOB_STATUS_CHANGE' && e.data?.id === id && e.data?.status === 'null',
    `job ${id} to end`,
  );
}

export async function removeNode(ctx: LowerCtx, node: string, path?: string): Promise<void> {
  await ctx.port.qmp('blockdev-del', { 'node-name': node });
  if (path) await ctx.port.removeImage(path);
}

/**
 * Points in time of a VM's disk as copy-before-write filters in the guest's write path, newest on top. Each
 * filter sits on a `raw` joint, whose `file` link blockdev-reopen can move (a copy-before-write node cannot be
 * reopened): so any point in time can leave the chain, the middle one too, while the others live on. Seen on
 * real qemu-system 7.2, 10.0 and 11.1 (checks/conformance/runbooks/vm.ts).
 */
interface Layer {
  name: string;
  joint: string;
  cbw: string;
  tmp: string;
  access: string;
  file: string;
}

function chainOf(ctx: LowerCtx, disk: string): Layer[] {
  ctx.state.cbwChains ??= {};
  const chains = ctx.state.cbwChains as Record<string, Layer[]>;
  chains[disk] ??= [];
  return chains[disk];
}

/** The node the guest's device writes to now. */
export function topNode(ctx: LowerCtx, disk: string): string {
  const chain = chainOf(ctx, disk);
  return chain.length > 0 ? chain[chain.length - 1].cbw : diskNode(ctx, disk);
}

function device(ctx: LowerCtx, disk: string): string {
  const dev = diskOf(ctx, disk).device;
  if (!dev) throw new Error(`disk '${disk}' has no guest device: copy-before-write needs one to move`);
  return `/machine/peripheral/${dev}`;
}

/**
 * Prepare a point in time of each disk (scratch image, joint, filter) and move every device onto its filter;
 * with several disks the guest's CPUs are stopped meanwhile, so that all disks share one point in time.
 * Returns the snapshot-access node of each disk (export it).
 */
export async function addPointsInTime(
  ctx: LowerCtx,
  disks: string[],
  name: string,
): Promise<Record<string, string>> {
  const layers: Record<string, Layer> = {};
  for (const disk of disks) {
    const d = diskOf(ctx, disk);
    device(ctx, disk);
    const base = `${name}-${disk}`;
    const l: Layer = {
      name,
      joint: `${base}-joint`,
      cbw: `${base}-cbw`,
      tmp: `${base}-tmp`,
      access: `${base}-access`,
      file: await ctx.port.createImage(`${base}-tmp`, 'qcow2', d.size),
    };
    await ctx.port.qmp('blockdev-add', {
      driver: 'qcow2',
      'node-name': l.tmp,
      file: { driver: 'file', filename: l.file },
    });
    await ctx.port.qmp('blockdev-add', { driver: 'raw', 'node-name': l.joint, file: topNode(ctx, disk) });
    await ctx.port.qmp('blockdev-add', {
      driver: 'copy-before-write',
      'node-name': l.cbw,
      file: l.joint,
      target: l.tmp,
    });
    layers[disk] = l;
  }
  const atomic = disks.length > 1;
  if (atomic) await ctx.port.qmp('stop');
  try {
    for (const disk of disks) {
      await ctx.port.qmp('qom-set', { path: device(ctx, disk), property: 'drive', value: layers[disk].cbw });
      chainOf(ctx, disk).push(layers[disk]);
    }
  } finally {
    if (atomic) await ctx.port.qmp('cont');
  }
  // snapshot-access only once the device writes through the filter (before, the filter's target would need
  // write permission the device does not share)
  for (const disk of disks)
    await ctx.port.qmp('blockdev-add', {
      driver: 'snapshot-access',
      'node-name': layers[disk].access,
      file: layers[disk].cbw,
    });
  return Object.fromEntries(disks.map((d) => [d, layers[d].access]));
}

/** Take one point in time out of a disk's chain, wherever it is, and delete its nodes and scratch image. */
export async function removePointInTime(ctx: LowerCtx, disk: string, name: string): Promise<void> {
  const chain = chainOf(ctx, disk);
  const i = chain.findIndex((l) => l.name === name);
  if (i < 0) throw new Error(`no point in time '${name}' on disk '${disk}'`);
  const l = chain[i];
  const below = i === 0 ? diskNode(ctx, disk) : chain[i - 1].cbw;
  await ctx.port.qmp('blockdev-del', { 'node-name': l.access });
  if (i === chain.length - 1) {
    await ctx.port.qmp('qom-set', { path: device(ctx, disk), property: 'drive', value: below });
  } else {
    // the joint of the point in time above now sits on the one below
    await ctx.port.qmp('blockdev-reopen', {
      options: [{ driver: 'raw', 'node-name': chain[i + 1].joint, file: below }],
    });
  }
  chain.splice(i, 1);
  await ctx.port.qmp('blockdev-del', { 'node-name': l.cbw });
  await ctx.port.qmp('blockdev-del', { 'node-name': l.joint });
  await removeNode(ctx, l.tmp, l.file);
}
