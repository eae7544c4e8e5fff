import { describe, expect, it } from 'vitest';
import type { DomainKind } from '../../contract/port.ts';
import type { PropertyId } from '../../contract/properties.ts';
import { bundled } from '../../contract/proposals/index.ts';
import type { Inject, OpSpec } from '../../contract/proposals/ops.ts';
import { startPort } from '../../harness/start-port.ts';
import { type ResolvedTarget, resolveTarget } from '../../harness/targets/target-spec.ts';
import { replayOps } from './replay.ts';
import { World } from './world.ts';

/**
 * Runs of the property checker replayed on the simulator and on real QEMU, each with the outcome it must
 * have: the VM domain's scenarios (three points in time of one disk with the middle one ended first while
 * the guest writes; a pivot) on real qemu-system of every version installed here, and the counterexamples
 * of the bundled proposals. A real QEMU missing here skips its case with the reason.
 */
const W = (disk: number, offset: number, length: number, pattern: number): OpSpec => ({
  op: 'write',
  disk,
  offset,
  length,
  pattern,
});
const I = (after: number, disk: number, offset: number, length: number, pattern: number): Inject => ({
  after,
  disk,
  offset,
  length,
  pattern,
});
const FULL = 256 * 1024;
const readAll = (session: number, disk = 0): OpSpec => ({
  op: 'read',
  session,
  disk,
  offset: 0,
  length: FULL,
});

/** three points in time of one disk, the middle one ended first while the guest writes, then the others */
const THREE_MIDDLE_FIRST: OpSpec[] = [
  W(0, 0, 65536, 0x31),
  { op: 'start', disks: [0, 1], inject: [] },
  W(0, 4096, 8192, 0x32),
  { op: 'start', disks: [0], inject: [I(2, 0, 65536, 4096, 0x33)] },
  W(0, 0, 131072, 0x34),
  { op: 'start', disks: [0], inject: [] },
  W(0, 65536, 65536, 0x35),
  readAll(0),
  readAll(1),
  readAll(2),
  { op: 'stop', session: 1, inject: [I(1, 0, 0, 512, 0x36), I(3, 0, 196608, 4096, 0x37)] },
  W(0, 0, FULL, 0x38),
  readAll(0),
  readAll(1),
  { op: 'stop', session: 0, inject: [] },
  W(0, 131072, 4096, 0x39),
  readAll(0),
];

interface Case {
  name: string;
  proposal: string;
  domain: DomainKind;
  ops: OpSpec[];
  /** the property it breaks, or none */
  expect: PropertyId | undefined;
  /** properties the run must reach (a replay that passes without reaching them proves nothing) */
  reaches?: PropertyId[];
  /** the real versions it replays on (5.2 lacks copy-before-write) */
  versions: string[];
}

const CASES: Case[] = [
  {
    name: 'job-ids: three points in time of one disk, the middle one ended first while the guest writes',
    proposal: 'job-ids',
    domain: 'vm',
    ops: THREE_MIDDLE_FIRST,
    expect: undefined,
    reaches: ['concurrent-points-in-time', 'isolation', 'end-releases', 'safe-teardown', 'clean-teardown'],
    versions: ['7.2', '10.0', '11.1'],
  },
  {
    name: 'job-ids-overlay: the same scenario, overlays and backup jobs on a VM',
    proposal: 'job-ids-overlay',
    domain: 'vm',
    ops: THREE_MIDDLE_FIRST,
    expect: undefined,
    reaches: ['concurrent-points-in-time', 'isolation', 'end-releases', 'safe-teardown', 'clean-teardown'],
    versions: ['5.2', '7.2', '10.0', '11.1'],
  },
  {
    name: 'blockcopy-2012: copy, wait until in sync, pivot, the guest writing throughout',
    proposal: 'blockcopy-2012',
    domain: 'vm',
    ops: [
      W(0, 0, 65536, 0x41),
      { op: 'start', disks: [0], inject: [] },
      W(0, 131072, 4096, 0x42),
      // a pivot before the copy is in sync is refused
      { op: 'misuse', kind: 'illegal', session: 0, event: 0 },
      // waitReady, then the pivot
      { op: 'call', session: 0, event: 0, inject: [I(0, 0, 4096, 512, 0x43)] },
      W(0, 8192, 8192, 0x44),
      { op: 'call', session: 0, event: 1, inject: [I(1, 0, 0, 512, 0x45)] },
      W(0, 0, FULL, 0x46),
    ],
    expect: undefined,
    reaches: ['misuse-refused', 'pivot-identical', 'clean-teardown'],
    versions: ['5.2', '7.2', '10.0', '11.1'],
  },
  {
    name: "backup-begin-6.0: libvirt's teardown order lets a reader see data newer than its point in time",
    proposal: 'backup-begin-6.0',
    domain: 'vm',
    ops: [
      { op: 'start', disks: [1, 0], inject: [] },
      { op: 'stop', session: 0, inject: [I(0, 1, 0, 65536, 0x20)] },
    ],
    expect: 'safe-teardown',
    versions: ['5.2', '7.2', '10.0', '11.1'],
  },
  {
    name: "backup-begin-6.0: with no job id, a client's abort ends another client's backup",
    proposal: 'backup-begin-6.0',
    domain: 'vm',
    ops: [
      { op: 'start', disks: [0], inject: [] },
      { op: 'stop', session: 0, inject: [] },
      { op: 'start', disks: [1], inject: [] },
      { op: 'misuse', kind: 'ended', session: 0, event: 0 },
    ],
    expect: 'misuse-refused',
    versions: ['7.2', '11.1'],
  },
  {
    name: "seed-2013: the seed's teardown is refused (a backup job cannot complete)",
    proposal: 'seed-2013',
    domain: 'vm',
    ops: [
      { op: 'start', disks: [0], inject: [] },
      { op: 'stop', session: 0, inject: [] },
    ],
    expect: 'teardown-accepted',
    versions: ['7.2', '11.1'],
  },
];

function realTarget(v: string): ResolvedTarget | string {
  try {
    const t = resolveTarget(`system:${v}`);
    return t.profile === v ? t : `QEMU ${v} is not installed here (found ${t.qemu.version})`;
  } catch (e) {
    return `QEMU ${v} is not installed here: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

describe('check runs replayed on the simulator and on real qemu-system', () => {
  for (const c of CASES) {
    const domain = { kind: c.domain, disks: World.domainDisks(c.domain, 2, FULL) };
    for (const v of c.versions) {
      it(`${c.name} (sim:${v})`, async () => {
        const r = await replayOps(
          bundled(c.proposal)!,
          () => startPort(resolveTarget(`sim:${v}`), domain),
          c.ops,
        );
        expect(r.unknown).toBeUndefined();
        expect(r.violated, r.detail).toBe(c.expect);
        expect(r.exercised).toEqual(expect.arrayContaining(c.reaches ?? []));
      });
      const t = realTarget(v);
      it.skipIf(typeof t === 'string')(
        `${c.name} (real qemu-system ${v}${typeof t === 'string' ? `: skipped, ${t}` : ''})`,
        async () => {
          const r = await replayOps(
            bundled(c.proposal)!,
            () => startPort(t as ResolvedTarget, domain),
            c.ops,
          );
          expect(r.unknown).toBeUndefined();
          expect(r.violated, r.detail).toBe(c.expect);
          expect(r.exercised).toEqual(expect.arrayContaining(c.reaches ?? []));
        },
        120_000,
      );
    }
  }
});
