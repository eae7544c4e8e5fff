import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { PropertyId } from '../../contract/properties.ts';
import { bundled } from '../../contract/proposals/index.ts';
import { QemuPort } from '../../harness/qemu-port.ts';
import { SimPort } from '../../harness/sim-port.ts';
import { replayOps } from './replay.ts';
import { type OpSpec, World } from './world.ts';

const QSD = { kind: 'qsd' as const, disks: World.domainDisks('qsd', 2, 256 * 1024) };

/**
 * Traces of `fleece-lab check` replayed on a real qemu-storage-daemon 7.2: the same operations give the same
 * outcome there as on the simulator — the counterexamples are QEMU's, and job-ids' lowering works on QEMU.
 */
function hostQemu72(): boolean {
  try {
    return /version 7\.2\./.test(execFileSync('qemu-storage-daemon', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}
const live = hostQemu72();

const W = (disk: number, offset: number, length: number, pattern: number) => ({
  after: 0,
  disk,
  offset,
  length,
  pattern,
});
const CASES: {
  name: string;
  proposal: string;
  ops: OpSpec[];
  expect: PropertyId | undefined;
  watch?: PropertyId[];
}[] = [
  {
    name: "seed-2013: the seed's teardown is refused (a backup job cannot complete)",
    proposal: 'seed-2013',
    ops: [{ op: 'start', disks: [0], inject: [] }],
    expect: 'teardown-accepted',
  },
  {
    name: 'blockcopy-2012: disk-by-disk starts are not one point in time',
    proposal: 'blockcopy-2012',
    ops: [
      { op: 'start', disks: [1, 0], inject: [{ after: 4, disk: 0, offset: 0, length: 512, pattern: 0x20 }] },
      { op: 'read', session: 0, disk: 0, offset: 0, length: 65536 },
      { op: 'read', session: 0, disk: 1, offset: 0, length: 65536 },
    ],
    expect: 'common-point-in-time',
  },
  {
    name: 'backup-begin-6.0: cancelling before unexporting lets a reader see new data',
    proposal: 'backup-begin-6.0',
    ops: [
      { op: 'start', disks: [0], inject: [] },
      { op: 'stop', session: 0, inject: [W(0, 0, 512, 0x20)] },
    ],
    expect: 'safe-teardown',
  },
  {
    name: 'job-ids: two concurrent points in time on one disk, the first job ended first',
    proposal: 'job-ids',
    ops: [
      { op: 'write', disk: 0, offset: 0, length: 65536, pattern: 0x31 },
      { op: 'start', disks: [0, 1], inject: [] },
      { op: 'write', disk: 0, offset: 4096, length: 8192, pattern: 0x32 },
      { op: 'write', disk: 1, offset: 131072, length: 512, pattern: 0x33 },
      { op: 'start', disks: [0], inject: [W(0, 65536, 4096, 0x34)] },
      { op: 'write', disk: 0, offset: 0, length: 131072, pattern: 0x35 },
      { op: 'read', session: 0, disk: 0, offset: 0, length: 262144 },
      { op: 'read', session: 1, disk: 0, offset: 0, length: 262144 },
      { op: 'call', session: 0, event: 0 },
      { op: 'stop', session: 0, inject: [W(0, 0, 512, 0x36)] },
      { op: 'read', session: 0, disk: 0, offset: 0, length: 262144 },
      { op: 'write', disk: 0, offset: 200000, length: 4096, pattern: 0x37 },
      { op: 'stop', session: 0, inject: [] },
    ],
    expect: undefined,
  },
];

describe('check traces replayed on the simulator and on real qemu-storage-daemon 7.2', () => {
  for (const c of CASES) {
    it(`${c.name} (simulator)`, async () => {
      const r = await replayOps(bundled(c.proposal)!, async () => new SimPort('7.2', 1, QSD), c.ops, c.watch);
      expect(r.violated, r.detail).toBe(c.expect);
    });
    it.skipIf(!live)(
      `${c.name} (real qemu-storage-daemon 7.2${live ? '' : ': skipped, not on PATH'})`,
      async () => {
        const r = await replayOps(
          bundled(c.proposal)!,
          () => QemuPort.start({ profile: '7.2', domain: QSD }),
          c.ops,
          c.watch,
        );
        expect(r.violated, r.detail).toBe(c.expect);
      },
    );
  }
});
