import type { Port } from '../../contract/port.ts';

/**
 * What a client can see of a QEMU's fleecing state through QMP: nodes, jobs, exports, which node each guest
 * device writes to, and the scratch images. A misuse must leave all of it as it was; a teardown must bring
 * it back to the domain's own.
 */
export interface QemuState {
  nodes: string[];
  jobs: string[];
  exports: string[];
  /** device -> the node its BlockBackend sits on (VM domains) */
  devices: Record<string, string>;
  files: string[];
  bitmaps: string[];
}

export async function readQemuState(port: Port): Promise<QemuState> {
  const from = port.trace.length;
  try {
    return await read(port);
  } finally {
    for (const t of port.trace.slice(from)) if (t.kind === 'qmp') t.by = 'checker';
  }
}

async function read(port: Port): Promise<QemuState> {
  const nodes = (await port.qmp('query-named-block-nodes', { flat: true })) as {
    'node-name': string;
    'dirty-bitmaps'?: { name: string }[];
  }[];
  const jobs = (await port.qmp('query-jobs')) as { id: string; status: string }[];
  const exports = port.features.has('block-export')
    ? ((await port.qmp('query-block-exports')) as { id: string }[]).map((e) => e.id)
    : [];
  const devices: Record<string, string> = {};
  if (port.domain.kind === 'vm') {
    const blk = (await port.qmp('query-block')) as { qdev?: string; inserted?: { 'node-name'?: string } }[];
    for (const b of blk) {
      const id = /\/machine\/peripheral\/([^/]+)/.exec(b.qdev ?? '')?.[1];
      if (id) devices[id] = b.inserted?.['node-name'] ?? '';
    }
  }
  return {
    nodes: nodes.map((n) => n['node-name']).sort(),
    jobs: jobs.map((j) => `${j.id}:${j.status}`).sort(),
    exports: exports.sort(),
    devices,
    files: (await port.scratchFiles()).sort(),
    bitmaps: nodes
      .flatMap((n) => (n['dirty-bitmaps'] ?? []).map((b) => `${n['node-name']}/${b.name}`))
      .sort(),
  };
}

/** "node c2 added; job j1 running -> concluded" — empty when nothing changed */
export function stateChanges(a: QemuState, b: QemuState): string[] {
  const out: string[] = [];
  const list = (what: string, x: string[], y: string[]) => {
    const added = y.filter((v) => !x.includes(v));
    const gone = x.filter((v) => !y.includes(v));
    if (added.length > 0) out.push(`${what} ${added.join(', ')} added`);
    if (gone.length > 0) out.push(`${what} ${gone.join(', ')} gone`);
  };
  list('node', a.nodes, b.nodes);
  list('job', a.jobs, b.jobs);
  list('export', a.exports, b.exports);
  list('scratch file', a.files, b.files);
  list('bitmap', a.bitmaps, b.bitmaps);
  for (const d of new Set([...Object.keys(a.devices), ...Object.keys(b.devices)]))
    if (a.devices[d] !== b.devices[d]) out.push(`device ${d} moved from ${a.devices[d]} to ${b.devices[d]}`);
  return out;
}
