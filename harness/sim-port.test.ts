import { describe, expect, it } from 'vitest';
import { SimPort } from './sim-port.ts';

/**
 * A VM domain of the simulator restarted on its own images: a clean quit stores the qcow2 disk's persistent
 * bitmaps (the next start loads them recording, with their dirty clusters), kill -9 leaves them IN_USE (the
 * next start loads them inconsistent), and a bitmap made after the last clean start is lost with the crash —
 * what checks/conformance/runbooks/checkpoints.ts records on real QEMU.
 */
const VM = {
  kind: 'vm' as const,
  disks: [{ name: 'vda', node: 'disk-vda', size: 256 * 1024, device: 'vda', format: 'qcow2' as const }],
};

type Node = { 'node-name': string; 'dirty-bitmaps'?: Record<string, unknown>[] };
const bitmapsOf = async (p: SimPort) =>
  ((await p.qmp('query-named-block-nodes', { flat: true })) as Node[]).find(
    (n) => n['node-name'] === 'disk-vda',
  )?.['dirty-bitmaps'] ?? [];

describe('SimPort.restart on qcow2 disks', () => {
  it('a clean quit stores the bitmaps; kill -9 leaves them in use and loses the unstored ones', async () => {
    const p = new SimPort('7.2', 1, VM);
    await p.qmp('cont');
    await p.qmp('block-dirty-bitmap-add', { node: 'disk-vda', name: 'cp1', persistent: true });
    await p.guestWrite('vda', 70_000, 512, 0x33);
    expect(await p.imageBitmaps('vda')).toEqual([]);
    await p.restart({ crash: false });
    expect(await p.imageBitmaps('vda')).toEqual([
      { name: 'cp1', granularity: 65536, flags: ['in-use', 'auto'] },
    ]);
    expect(await bitmapsOf(p)).toMatchObject([{ name: 'cp1', count: 65536, recording: true }]);
    await p.qmp('cont');
    await p.qmp('block-dirty-bitmap-add', { node: 'disk-vda', name: 'cp2', persistent: true });
    await p.restart({ crash: true });
    expect(await p.imageBitmaps('vda')).toEqual([
      { name: 'cp1', granularity: 65536, flags: ['in-use', 'auto'] },
    ]);
    expect(await bitmapsOf(p)).toMatchObject([
      { name: 'cp1', count: 0, recording: false, inconsistent: true },
    ]);
    // the guest's data is there after both
    expect((await p.guestRead('vda', 70_000, 512)).every((b) => b === 0x33)).toBe(true);
    await p.close();
  });

  it('a qsd domain does not restart', async () => {
    const p = new SimPort('7.2', 1, { kind: 'qsd', disks: [] });
    await expect(p.restart({ crash: false })).rejects.toThrow(/only a VM domain restarts/);
  });
});
