import fc from 'fast-check';
import type { Proposal } from '../../contract/proposals/define.ts';
import type { MisuseKind, OpSpec } from '../../contract/proposals/ops.ts';

/**
 * The runs fast-check draws for a proposal: guest writes, session starts (with guest writes slipped between
 * their QMP commands), reads, calls the session's state accepts, stops, time passing, and misuses. Shrinking
 * removes operations and moves toward smaller numbers.
 */
export function opsArbitrary(
  p: Proposal,
  disks: number,
  size: number,
  maxCommands: number,
): fc.Arbitrary<OpSpec[]> {
  const sector = size / 512;
  const offset = fc.integer({ min: 0, max: sector - 1 }).map((s) => s * 512);
  const length = fc.oneof(
    fc.integer({ min: 1, max: 256 }).map((s) => s * 512),
    fc.constant(65536),
  );
  const disk = fc.integer({ min: 0, max: disks - 1 });
  const pattern = fc.integer({ min: 0x20, max: 0xff });
  const inject = fc.array(
    fc.record({ after: fc.integer({ min: 0, max: 12 }), disk, offset, length, pattern }),
    {
      maxLength: 2,
    },
  );
  const session = fc.integer({ min: 0, max: 3 });
  const event = fc.integer({ min: 0, max: 7 });
  const misuses: MisuseKind[] = ['illegal', 'ended', 'missing-disk'];
  if (p.capabilities.jobIds) misuses.push('unknown-id');
  if (!p.capabilities.concurrentJobs) misuses.push('second-start');
  // an API whose sessions need several calls to become readable gets more calls
  const callWeight = 2 + 2 * depthToReadable(p);
  const op: fc.Arbitrary<OpSpec> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), disk, offset, length, pattern }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('start' as const),
        disks: fc.uniqueArray(disk, { minLength: 1, maxLength: disks }),
        inject,
      }),
    },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('read' as const), session, disk, offset, length }) },
    {
      weight: callWeight,
      arbitrary: fc.record({ op: fc.constant('call' as const), session, event, inject }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('stop' as const), session, inject }) },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(1, 10, 100, 1000) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('misuse' as const),
        kind: fc.constantFrom(...misuses),
        session,
        event,
      }),
    },
  );
  // 'medium': runs long enough to reach deep states (fast-check's default favours short arrays)
  if (!p.checkpoints) return fc.array(op, { minLength: 1, maxLength: maxCommands, size: 'medium' });
  // an API with checkpoints: they, their deletion, incrementals from them, restarts and crashes too
  const n = fc.integer({ min: 0, max: 5 });
  const withCheckpoints: fc.Arbitrary<OpSpec> = fc.oneof(
    { weight: 10, arbitrary: op },
    {
      weight: 4,
      arbitrary: fc.record({ op: fc.constant('checkpoint' as const), chain: fc.constantFrom(0, 0, 1) }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete-checkpoint' as const), checkpoint: n }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('incremental' as const),
        checkpoint: n,
        disks: fc.uniqueArray(disk, { minLength: 1, maxLength: disks }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), crash: fc.boolean() }) },
  );
  return fc.array(withCheckpoints, { minLength: 1, maxLength: maxCommands + 8, size: 'medium' });
}

/** How many transitions a session takes, at the least, from its machine's initial state to a readable one. */
export function depthToReadable(p: Proposal): number {
  const readable = new Set(p.shape.states.filter((s) => s.tags.includes('readable')).map((s) => s.name));
  const depth = new Map<string, number>([[p.shape.initial, 0]]);
  const queue = [p.shape.initial];
  while (queue.length > 0) {
    const at = queue.shift()!;
    if (readable.has(at)) return depth.get(at)!;
    for (const t of p.shape.transitions)
      if (t.from === at && !depth.has(t.to)) {
        depth.set(t.to, depth.get(at)! + 1);
        queue.push(t.to);
      }
  }
  return 0;
}
