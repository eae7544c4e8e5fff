import { describe, expect, it, vi } from 'vitest';
import { PROFILES, versionInfo } from '../../contract/versions.ts';
import type { Faults } from '../../sim/util/faults.ts';
import { loadGolden } from './golden.ts';
import { runRunbook, type Transcript } from './run-runbook.ts';
import { defineRunbook, type ParsedRunbook } from './runbooks/define.ts';
import { FAULTS } from './runbooks/faults.ts';

/**
 * Faults, the same on both sides: on real QEMU the faults of conformance/runbooks/faults.ts are made with
 * blkdebug (I/O errors) and a throttle filter (a slow target); on the simulator the same outcomes come from
 * its seeded fault options. Each case runs its runbook on the simulator *without* the fault plumbing (no
 * blkdebug layer, no throttle group or filter) but with fault options, and compares every remaining step's
 * reply, qemu-io output and NBD record, and all events, with the recording of real QEMU of the runbook
 * *with* the plumbing.
 */
const faultsNow = vi.hoisted(() => ({ current: {} as Partial<Faults> }));
vi.mock('../../sim/sim.ts', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../sim/sim.ts')>();
  return {
    ...mod,
    createSim: (opts: Parameters<typeof mod.createSim>[0] = {}) =>
      mod.createSim({ ...opts, faults: { ...opts.faults, ...faultsNow.current } }),
  };
});

/** a copy slower than cbw-timeout=1 s: twice that */
const SLOW: Partial<Faults> = { writeLatencyNs: 2_000_000_000 };

const CASES: { id: string; faults: Partial<Faults> }[] = [
  { id: 'faults/cbw-eio-break-guest-write', faults: { cbwErrorRate: 1 } },
  { id: 'faults/cbw-eio-break-snapshot', faults: { cbwErrorRate: 1 } },
  { id: 'faults/nbd-cbw-eio-break-guest-write', faults: { cbwErrorRate: 1 } },
  { id: 'faults/nbd-cbw-eio-break-snapshot', faults: { cbwErrorRate: 1 } },
  { id: 'faults/backup-sync-none-target-eio', faults: { jobTargetErrorRate: 1 } },
  { id: 'faults/backup-target-eio-report', faults: { jobTargetErrorRate: 1 } },
  { id: 'faults/cbw-timeout-break-guest-write', faults: SLOW },
  { id: 'faults/cbw-timeout-break-snapshot', faults: SLOW },
];

type Json = Record<string, unknown>;

/**
 * The runbook without its fault plumbing: a format node over blkdebug sits on the blkdebug's image instead;
 * throttle groups and throttle filters go, and whoever named a throttle filter names its file. Returns the
 * new runbook, the original index of each step it keeps, and which of them were rewritten.
 */
function withoutFaultNodes(rb: ParsedRunbook): {
  rb: ParsedRunbook;
  origin: number[];
  rewritten: Set<number>;
} {
  const throttles = new Map<string, string>();
  const steps: ParsedRunbook['steps'] = [];
  const origin: number[] = [];
  const rewritten = new Set<number>();
  const rename = (v: unknown): unknown => {
    if (typeof v === 'string') return throttles.get(v) ?? v;
    if (Array.isArray(v)) return v.map(rename);
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rename(x)]));
    return v;
  };
  for (const [i, st] of rb.steps.entries()) {
    if ('qmp' in st) {
      const args = (st.args ?? {}) as Json;
      if (st.qmp === 'object-add' || st.qmp === 'object-del') continue;
      if (st.qmp === 'blockdev-add' && args.driver === 'throttle') {
        throttles.set(args['node-name'] as string, args.file as string);
        continue;
      }
      if (st.qmp === 'blockdev-del' && throttles.has(args['node-name'] as string)) continue;
      const file = args.file as Json | undefined;
      let next: Json = rename(args) as Json;
      if (st.qmp === 'blockdev-add' && file && typeof file === 'object' && file.driver === 'blkdebug')
        next = { ...next, file: file.image };
      if (JSON.stringify(next) !== JSON.stringify(args)) rewritten.add(i);
      steps.push(st.args === undefined ? st : { ...st, args: next });
    } else if ('io' in st) {
      if ('node' in st && throttles.has(st.node)) continue;
      steps.push(st);
    } else {
      steps.push(st);
    }
    origin.push(i);
  }
  return { rb: defineRunbook({ ...rb, steps }), origin, rewritten };
}

/** the transcript as the golden has it: original step numbers, the original requests of rewritten steps */
function asOriginal(
  t: Transcript,
  origin: number[],
  rewritten: Set<number>,
  golden: Omit<Transcript, 'target'>,
): Omit<Transcript, 'target'> {
  const steps = t.steps.map((s) => {
    const step = origin[s.step];
    const real = golden.steps.find((g) => g.step === step);
    return { ...s, step, request: rewritten.has(step) && real ? real.request : s.request };
  });
  return { runbook: t.runbook, steps, events: t.events };
}

describe('fault options on the simulator = blkdebug and throttling on real QEMU', () => {
  it('every case names a runbook of the suite', () => {
    for (const c of CASES) expect(FAULTS.map((r) => r.id)).toContain(c.id);
  });
  for (const profile of PROFILES) {
    for (const c of CASES) {
      const rb = FAULTS.find((r) => r.id === c.id)!;
      const missing = rb.needs.filter((f) => !versionInfo(profile).features.has(f));
      const golden = loadGolden(profile, c.id);
      const why =
        missing.length > 0 ? `QEMU ${profile} lacks ${missing.join(', ')}` : !golden ? 'no recording' : '';
      it.skipIf(why !== '')(
        `${profile} ${c.id} with ${JSON.stringify(c.faults)}${why ? ` (skipped: ${why})` : ''}`,
        async () => {
          const { rb: plain, origin, rewritten } = withoutFaultNodes(rb);
          faultsNow.current = c.faults;
          let t: Transcript;
          try {
            t = await runRunbook(plain, { kind: 'sim', profile }, `sim:${profile}`);
          } finally {
            faultsNow.current = {};
          }
          const real = golden!.transcript;
          // the plumbing's own steps (object-add, the throttle node, its bucket filler) are not compared
          const kept = { ...real, steps: real.steps.filter((s) => origin.includes(s.step)) };
          expect(asOriginal(t, origin, rewritten, real)).toEqual({ ...kept, runbook: plain.id });
        },
      );
    }
  }

  it('without fault options the plain runbooks do not fail: the faults come from the options', async () => {
    const { rb: plain } = withoutFaultNodes(FAULTS.find((r) => r.id === 'faults/cbw-eio-break-guest-write')!);
    const t = await runRunbook(plain, { kind: 'sim', profile: '7.2' }, 'sim:7.2');
    expect(t.steps.flatMap((s) => s.stdout ?? []).join('\n')).not.toMatch(/write failed/);
  });
});
