import type { DomainSpec, Port } from '../../contract/port.ts';
import { startPort } from '../../harness/start-port.ts';
import { resolveTarget } from '../../harness/targets/target-spec.ts';

/**
 * One fleecing cycle in the checker's own domain, a running VM, through the Port the checker uses: the
 * legacy recipe on the guest's disk (a qcow2 overlay backed by it, blockdev-backup sync=none into it, the
 * overlay exported over NBD), `writes` guest writes through the virtio-blk device while the point in time
 * is read, `reads` NBD reads of the export, then the teardown (export deleted, job cancelled, overlay
 * removed). The same calls run on the in-process simulator and on a real qemu-system-x86_64; starting
 * and stopping the QEMU are not part of the cycle.
 */
export interface CycleSize {
  writes: number;
  reads: number;
}

const MiB = 1 << 20;
const DISK_SIZE = 16 * MiB;

export const CYCLE_DOMAIN: DomainSpec = {
  kind: 'vm',
  disks: [{ name: 'vda', node: 'disk-vda', size: DISK_SIZE, device: 'vda' }],
};

/** The cycle on a started port; returns how many Port calls it made (QMP, guest writes, reads). */
export async function fleecingCycle(p: Port, size: CycleSize): Promise<number> {
  let calls = 0;
  const qmp = async (c: string, a?: Record<string, unknown>) => {
    calls++;
    return p.qmp(c, a);
  };
  await qmp('cont');
  await qmp('nbd-server-start', { addr: { type: 'unix', data: { path: p.scratchPath('nbd.sock') } } });
  const overlay = await p.createImage('fleece', 'qcow2', DISK_SIZE);
  await qmp('blockdev-add', {
    driver: 'qcow2',
    'node-name': 'fleece',
    file: { driver: 'file', filename: overlay },
    backing: 'disk-vda',
  });
  await qmp('blockdev-backup', { 'job-id': 'fleece', device: 'disk-vda', target: 'fleece', sync: 'none' });
  await qmp('block-export-add', { type: 'nbd', id: 'fleece', 'node-name': 'fleece', name: 'fleece' });
  const every = Math.max(1, Math.floor(size.writes / Math.max(1, size.reads)));
  let read = 0;
  for (let i = 0; i < size.writes; i++) {
    await p.guestWrite('vda', (i * 4096) % DISK_SIZE, 4096, 0x20 + (i % 200));
    calls++;
    if (i % every === every - 1 && read < size.reads) {
      await p.readExport('fleece', (read * MiB) % DISK_SIZE, 64 * 1024);
      read++;
      calls++;
    }
  }
  for (; read < size.reads; read++, calls++)
    await p.readExport('fleece', (read * MiB) % DISK_SIZE, 64 * 1024);
  await qmp('block-export-del', { id: 'fleece' });
  await p.waitEvent((e) => e.event === 'BLOCK_EXPORT_DELETED', 'BLOCK_EXPORT_DELETED');
  await qmp('block-job-cancel', { device: 'fleece' });
  await p.waitEvent((e) => e.event === 'BLOCK_JOB_CANCELLED', 'BLOCK_JOB_CANCELLED');
  await qmp('blockdev-del', { 'node-name': 'fleece' });
  await p.removeImage(overlay);
  return calls;
}

/** One cycle on a fresh QEMU of target `t` (`sim:7.2`, `system`): Port calls and the cycle's time. */
export async function timeCycle(t: string, size: CycleSize): Promise<{ calls: number; ms: number }> {
  const port = await startPort(resolveTarget(t), CYCLE_DOMAIN);
  try {
    const t0 = performance.now();
    const calls = await fleecingCycle(port, size);
    return { calls, ms: performance.now() - t0 };
  } finally {
    await port.close();
  }
}
