/**
 * Our NBD client against a real qemu-storage-daemon and against the simulator's NBD server, running
 * the same scenario (nbd-scenario.ts): every option reply, error code and message, byte and extent
 * must be the same. 7.2 is the host's QEMU; 10.0 (extended headers) runs when it has been provisioned.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveQemu } from '../../harness/qemu/install.ts';
import {
  addExports,
  haveTool,
  makeImages,
  type Outcome,
  probe,
  startQsdTarget,
  startSimTarget,
  withScratch,
} from './nbd-scenario.ts';

function provisioned(version: string): boolean {
  try {
    resolveQemu(version);
    return true;
  } catch {
    return false;
  }
}

async function both(
  version: '7.2' | '10.0',
  replies: 'simple' | 'structured' | 'extended' | 'auto',
): Promise<Record<string, Outcome>[]> {
  const out: Record<string, Outcome>[] = [];
  for (const kind of ['qsd', 'sim'] as const) {
    await withScratch(async (dir) => {
      const img = makeImages(dir);
      const sock = path.join(dir, 'nbd.sock');
      const t =
        kind === 'qsd'
          ? await startQsdTarget(sock, version === '7.2' ? undefined : version)
          : await startSimTarget(sock, dir, version);
      try {
        await addExports(t, img);
        out.push(await probe(sock, { replies }));
      } finally {
        await t.stop();
      }
    });
  }
  return out;
}

const tools = haveTool('qemu-storage-daemon') && haveTool('qemu-img') && haveTool('qemu-io');

describe.skipIf(!tools)('NbdClient: qemu-storage-daemon and the simulator answer alike', () => {
  it('7.2 with structured replies', async () => {
    const [real, sim] = await both('7.2', 'structured');
    expect(real!.mode).toEqual({ ok: 'structured' });
    expect(real!.readTooBig).toMatchObject({ error: { code: 'EINVAL' } });
    expect(real!.rosWrite).toEqual({
      error: { type: 'request', code: 'EINVAL', message: 'Export is read-only' },
    });
    expect(sim).toEqual(real);
  });

  it('7.2 asked for extended headers falls back to structured replies', async () => {
    const [real, sim] = await both('7.2', 'auto');
    expect(real!.mode).toEqual({ ok: 'structured' });
    expect(sim).toEqual(real);
  });

  it.skipIf(!provisioned('10.0'))('10.0 with extended headers', async () => {
    const [real, sim] = await both('10.0', 'extended');
    expect(real!.mode).toEqual({ ok: 'extended' });
    expect(real!.statusSubset).toMatchObject({ ok: { 'qemu:dirty-bitmap:b0': expect.any(Array) } });
    expect(sim).toEqual(real);
  });

  it.skipIf(!provisioned('10.0'))('10.0 with structured replies', async () => {
    const [real, sim] = await both('10.0', 'structured');
    expect(sim).toEqual(real);
  });
});
