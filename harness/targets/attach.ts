import type { QmpClient } from '../clients/qmp-client.ts';

/**
 * Attach mode (`--target qmp:SOCKET`): the suite on a QEMU someone else runs. It must never change a node,
 * job or export it did not create, so every runbook is screened before it runs and every step is screened
 * again: a step that names something that existed before the run, or a command that acts on the whole
 * endpoint (quit, nbd-server-stop, qom-set), skips the check with the reason. An endpoint with guest
 * devices is refused unless --allow-live-vm.
 */
export class AttachRefused extends Error {}

/** Members whose string values name nodes, devices, jobs, exports or bitmaps. */
const NAME_KEYS = new Set([
  'node-name',
  'device',
  'target',
  'file',
  'backing',
  'image',
  'node',
  'id',
  'job-id',
  'replaces',
  'name',
]);
const ENDPOINT_WIDE = new Set(['quit', 'nbd-server-stop', 'qom-set', 'nbd-server-remove']);

export interface Existing {
  nodes: Set<string>;
  jobs: Set<string>;
  exports: Set<string>;
}

export async function snapshotEndpoint(q: QmpClient): Promise<Existing> {
  const nodes = (await q.execute('query-named-block-nodes', { flat: true })) as { 'node-name': string }[];
  const jobs = (await q.execute('query-jobs')) as { id: string }[];
  const exps = (await q.execute('query-block-exports')) as { id: string; 'node-name': string }[];
  return {
    nodes: new Set(nodes.map((n) => n['node-name'])),
    jobs: new Set(jobs.map((j) => j.id)),
    exports: new Set(exps.flatMap((e) => [e.id])),
  };
}

/** Refuse an endpoint with guest devices (a live VM) unless allowed. */
export async function checkNoGuests(q: QmpClient, allowLiveVm: boolean): Promise<void> {
  let blocks: { qdev?: string; device?: string }[] = [];
  try {
    blocks = (await q.execute('query-block')) as { qdev?: string; device?: string }[];
  } catch {
    blocks = [];
  }
  const guests = blocks.filter((b) => b.qdev || b.device).map((b) => b.qdev || b.device);
  if (guests.length > 0 && !allowLiveVm)
    throw new AttachRefused(
      `the endpoint has guest devices (${guests.join(', ')}): refusing to run checks on a live VM without --allow-live-vm`,
    );
}

function names(v: unknown, out: string[] = [], key = ''): string[] {
  if (typeof v === 'string') {
    if (NAME_KEYS.has(key)) out.push(v);
  } else if (Array.isArray(v)) {
    for (const x of v) names(x, out, key === 'bitmaps' ? 'name' : key);
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) names(x, out, k);
  }
  return out;
}

/** Why a step may not run on this endpoint, or undefined when it only touches what the run created. */
export function unsafeStep(
  command: string,
  args: Record<string, unknown> | undefined,
  before: Existing,
): string | undefined {
  if (ENDPOINT_WIDE.has(command)) return `'${command}' acts on the whole endpoint`;
  if (command === 'human-monitor-command') {
    const m = /qemu-io\s+(?:-d\s+)?(\S+)/.exec(String(args?.['command-line'] ?? ''));
    if (!m) return 'only HMP qemu-io is run in attach mode';
    if (before.nodes.has(m[1])) return `qemu-io on node '${m[1]}', which existed before the run`;
    return undefined;
  }
  for (const n of names(args)) {
    if (before.nodes.has(n)) return `'${command}' names node '${n}', which existed before the run`;
    if (before.jobs.has(n)) return `'${command}' names job '${n}', which existed before the run`;
    if (before.exports.has(n)) return `'${command}' names export '${n}', which existed before the run`;
  }
  return undefined;
}

/** Remove what a run left behind — only what did not exist before it. */
export async function cleanUp(q: QmpClient, before: Existing): Promise<void> {
  const after = await snapshotEndpoint(q);
  for (const id of after.exports)
    if (!before.exports.has(id)) await q.executeRaw('block-export-del', { id, mode: 'hard' });
  for (const id of after.jobs) {
    if (before.jobs.has(id)) continue;
    await q.executeRaw('job-cancel', { id });
    await q.executeRaw('job-dismiss', { id });
  }
  // newest first, as query-named-block-nodes lists them: users go before what they use
  const nodes = (await q.execute('query-named-block-nodes', { flat: true })) as { 'node-name': string }[];
  for (let round = 0; round < 3; round++) {
    for (const n of nodes)
      if (!before.nodes.has(n['node-name']))
        await q.executeRaw('blockdev-del', { 'node-name': n['node-name'] });
  }
}
