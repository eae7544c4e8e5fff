/**
 * How many NBD connections a server started with a plain `nbd-server-start` (no max-connections) takes at
 * once: open `n` sockets together and count the ones that get the server's greeting within `waitMs`.
 * QEMU stops accepting at the cap and leaves the rest in the listen backlog, so they get no greeting.
 *
 * `fleece-lab soak-max-connections [TARGET...]` with targets as `fleece-lab conform --target` takes them
 * (qsd, qsd:5.2, serve:7.2, ...).
 */
import path from 'node:path';
import { holdConnections, releaseConnections } from '../../harness/clients/nbd-hold.ts';
import { startQsd } from '../../harness/targets/qemu-process.ts';
import { resolveTarget } from '../../harness/targets/target-spec.ts';

export interface CapProbe {
  target: string;
  version: string;
  opened: number;
  greeted: number;
}

async function greetedWithin(sock: string, n: number, waitMs: number): Promise<number> {
  const held = await holdConnections(sock, n, waitMs, { together: true });
  releaseConnections(held);
  return held.filter((c) => c.greeted).length;
}

/** one fresh server of `target`, a null-co export, `n` connections at once */
export async function probeCap(target: string, n = 120, waitMs = 1_500): Promise<CapProbe> {
  const t = resolveTarget(target);
  const spec = t.spec('qsd') as { argvPrefix?: string[]; env?: NodeJS.ProcessEnv };
  const q = await startQsd({ argvPrefix: spec.argvPrefix, env: spec.env });
  try {
    const sock = path.join(q.scratch, 'nbd.sock');
    await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1 << 20 });
    await q.qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: sock } } });
    await q.qmp.execute('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'n0', name: 'e' });
    const v = (await q.qmp.execute('query-version')) as {
      qemu: { major: number; minor: number; micro: number };
    };
    const greeted = await greetedWithin(sock, n, waitMs);
    return { target, version: `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}`, opened: n, greeted };
  } finally {
    await q.stop();
  }
}
