import { describe, expect, it } from 'vitest';
import type { OpSpec, SavedRun } from '../../contract/formats/saved-runs.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { bundled } from '../../contract/proposals/index.ts';
import { SimPort } from '../../harness/sim-port.ts';
import { failingDivergences } from '../differential/classify.ts';
import { compareObserved } from './compare-observed.ts';
import { differential, type Runner } from './differential.ts';
import { type Item, type Observed, observe } from './observe.ts';
import { World } from './world.ts';

const VM = { kind: 'vm' as const, disks: World.domainDisks('vm', 2, 256 * 1024) };

/**
 * The differential replay engine on fake sides whose behaviours differ on purpose: what it calls a
 * divergence, how it classifies it, and that shrinking keeps exactly the operations that cause it.
 */
const W = (pattern: number): OpSpec => ({ op: 'write', disk: 0, offset: 0, length: 512, pattern });
const STATS: OpSpec = { op: 'call', session: 0, event: 0 };
const START: OpSpec = { op: 'start', disks: [0], inject: [] };
const STOP: OpSpec = { op: 'stop', session: 0, inject: [] };

type Behaviour = (side: string, version: string, op: OpSpec, before: OpSpec[]) => Item;

/** A fake side: one step per operation, one item per step, chosen by `behave`. */
function fakeRunner(behave: Behaviour, calls: string[] = []): Runner {
  return async (side, _p, ops) => {
    calls.push(side.key);
    const steps = [
      { label: 'setup', items: [] as Item[] },
      ...ops.map((op, i) => ({
        label: `op ${i + 1}: ${op.op}`,
        items: [behave(side.key, side.version, op, ops.slice(0, i))],
      })),
      { label: 'finish', items: [] as Item[] },
    ];
    return { side: side.key, version: side.version, steps, events: [], commands: [], trace: [] };
  };
}

const reply = (command: string, r: unknown): Item => ({ kind: 'qmp', command, reply: { return: r } });

/** QEMU 5.2 (real and simulated) answers stats differently; sim:7.2 gets a write after a start wrong. */
const behaviour: Behaviour = (side, version, op, before) => {
  if (op.op === 'call') return reply('query-jobs', version === '5.2' ? ['old'] : ['new']);
  if (op.op === 'write' && before.some((o) => o.op === 'start') && side === 'sim:7.2')
    return { kind: 'write', disk: 'vda', at: '0+512', pattern: op.pattern, ok: false };
  if (op.op === 'write') return { kind: 'write', disk: 'vda', at: '0+512', pattern: op.pattern, ok: true };
  return reply(op.op, {});
};

const proposal = { name: 'fake' } as unknown as Proposal;
const run = (ops: OpSpec[], source = 'fake.jsonl:1'): SavedRun => ({
  source,
  proposal: 'fake',
  domain: 'vm',
  ops,
});

async function diff(runs: SavedRun[], behave: Behaviour, versions = ['5.2', '7.2'], extra = {}) {
  return differential(runs, {
    versions,
    runner: fakeRunner(behave),
    loadProposal: async () => proposal,
    shrinkReplays: 60,
    ...extra,
  });
}

describe('differential replay: classification', () => {
  it('real versions that differ while each simulator profile follows its own QEMU: versions differ', async () => {
    const r = await diff([run([W(0x20), STATS, W(0x21)])], behaviour);
    expect(r.divergences).toHaveLength(1);
    const d = r.divergences[0];
    expect(d.class).toBe('versions-differ');
    expect(d.pair).toEqual(['real:5.2', 'real:7.2']);
    expect(d.signature).toBe('qmp query-jobs: .reply.return[]');
    expect([d.a, d.b]).toEqual(['old', 'new']);
    expect(d.minimal).toEqual([STATS]);
    // real versions that differ, each simulator profile right: the only class that passes the gate
    expect(failingDivergences(r.divergences)).toEqual([]);
  });

  it('a simulator profile that differs from its real QEMU: simulator wrong, shrunk to the two operations', async () => {
    const ops = [W(1), STATS, W(2), START, W(3), STATS, W(4), STOP, W(5)];
    const r = await diff([run(ops)], behaviour);
    const wrong = r.divergences.filter((d) => d.class === 'simulator-wrong');
    expect(wrong).toHaveLength(1);
    expect(wrong[0].pair).toEqual(['real:7.2', 'sim:7.2']);
    expect(wrong[0].signature).toBe('guest write: .ok');
    // a write after a start: the smallest trace that still diverges
    expect(wrong[0].minimal).toEqual([START, W(3)]);
    expect(wrong[0].shrunkFrom).toBe(9);
    expect(wrong[0].traces).toBe(1);
    // the injected wrong simulator answer fails the run by default (replay --fail-on, CI), as unexplained does
    expect(failingDivergences(r.divergences).map((d) => d.class)).toEqual(['simulator-wrong']);
  });

  it('real versions differ where a simulator profile is wrong too: both', async () => {
    const b: Behaviour = (side, version, op, before) =>
      op.op === 'call' && side === 'sim:5.2'
        ? reply('query-jobs', ['new'])
        : behaviour(side, version, op, before);
    const r = await diff([run([STATS])], b);
    const classes = r.divergences.map((d) => `${d.class} ${d.pair.join(' ')}`).sort();
    expect(classes).toEqual(['both real:5.2 real:7.2', 'simulator-wrong real:5.2 sim:5.2']);
    expect(r.divergences.find((d) => d.class === 'both')!.simWrongAt).toEqual(['sim:5.2']);
    expect(failingDivergences(r.divergences)).toHaveLength(2);
  });

  it('a simulator profile wrong about another field of the same reply does not make it both', async () => {
    // real 5.2 and 7.2 differ in .jobs; sim:5.2 gets .cache wrong in that very reply (first in key order)
    const b: Behaviour = (side, version) =>
      reply('query-block', { cache: side === 'sim:5.2', jobs: version === '5.2' ? ['old'] : ['new'] });
    const r = await diff([run([STATS])], b);
    const classes = r.divergences.map((d) => `${d.class} ${d.pair.join(' ')} ${d.signature}`).sort();
    expect(classes).toEqual([
      'simulator-wrong real:5.2 sim:5.2 qmp query-block: .reply.return.cache',
      'versions-differ real:5.2 real:7.2 qmp query-block: .reply.return.jobs[]',
    ]);
  });

  it('the same simulator error on two versions is one divergence that names both pairs', async () => {
    const b: Behaviour = (side, version, op, before) =>
      op.op === 'read' && side.startsWith('sim:')
        ? reply('read', { wrong: true })
        : behaviour(side, version, op, before);
    const r = await diff([run([W(1), { op: 'read', session: 0, disk: 0, offset: 0, length: 512 }])], b);
    expect(r.divergences).toHaveLength(1);
    expect(r.divergences[0]).toMatchObject({ class: 'simulator-wrong', pair: ['real:5.2', 'sim:5.2'] });
    expect(r.divergences[0].alsoOn).toEqual(['real:7.2 vs sim:7.2']);
  });

  it('a divergence that does not happen again on replay: unexplained', async () => {
    let first = true;
    const flaky: Behaviour = (side, version, op, before) => {
      if (side === 'real:7.2' && op.op === 'write' && first) {
        first = false;
        return { kind: 'write', disk: 'vda', at: '0+512', pattern: op.pattern, ok: false };
      }
      return behaviour(side, version, op, before);
    };
    const r = await diff([run([W(7)])], flaky, ['7.2']);
    expect(r.divergences).toHaveLength(1);
    expect(r.divergences[0].class).toBe('unexplained');
    expect(r.divergences[0].note).toMatch(/did not happen again/);
  });

  it('identical sides: no divergence; a side that lacks a command is skipped with the reason', async () => {
    const same: Behaviour = (_s, _v, op) => reply(op.op, {});
    const calls: string[] = [];
    const r = await differential([run([W(1), STATS]), run([STATS], 'b')], {
      versions: ['5.2', '7.2'],
      runner: fakeRunner(same, calls),
      loadProposal: async () => proposal,
      skip: (side) => (side.version === '5.2' ? 'QEMU 5.2 lacks query-jobs' : undefined),
    });
    expect(r.divergences).toEqual([]);
    const v52 = r.versions.find((v) => v.version === '5.2')!;
    expect(v52).toMatchObject({ replayed: 0, skipped: 2, skipReasons: { 'QEMU 5.2 lacks query-jobs': 2 } });
    expect(r.versions.find((v) => v.version === '7.2')!.replayed).toBe(2);
    expect(calls.filter((c) => c === 'real:5.2')).toEqual([]);
  });

  it('traces showing the same divergence are one divergence, shrunk from the smallest', async () => {
    const r = await diff(
      [run([W(1), W(2), STATS, W(3)], 'a'), run([STATS, W(9)], 'b'), run([W(4)], 'c')],
      behaviour,
    );
    expect(r.divergences).toHaveLength(1);
    expect(r.divergences[0]).toMatchObject({ traces: 2, example: 'b', shrunkFrom: 2, minimal: [STATS] });
  });
});

describe('differential replay: shrinking and comparison', () => {
  it('drops the guest writes injected into a start that the divergence does not need', async () => {
    const inj = (pattern: number) => ({ after: 1, disk: 0, offset: 0, length: 512, pattern });
    const b: Behaviour = (side, version, op, before) =>
      op.op === 'start' && side === 'sim:7.2' && op.inject.some((w) => w.pattern === 0x99)
        ? reply('transaction', { wrong: true })
        : behaviour(side, version, op, before);
    const start: OpSpec = { op: 'start', disks: [0, 1], inject: [inj(0x41), inj(0x99), inj(0x42)] };
    const r = await diff([run([W(1), start, STATS])], b, ['7.2']);
    expect(r.divergences).toHaveLength(1);
    expect(r.divergences[0].minimal).toEqual([{ ...start, inject: [inj(0x99)] }]);
  });

  const obs = (events: { step: number; event: Record<string, unknown> }[], steps = 4): Observed => ({
    side: 'x',
    version: '7.2',
    steps: Array.from({ length: steps }, (_, i) => ({ label: `op ${i}`, items: [] })),
    events,
    commands: [],
    trace: [],
  });
  const ev = (event: string, status?: string) => ({
    event,
    ...(status ? { data: { id: 'j', status } } : {}),
  });

  it('an event that reaches the client one step later is not a divergence; a missing one is', () => {
    const sim = obs([
      { step: 1, event: ev('JOB_STATUS_CHANGE', 'ready') },
      { step: 1, event: ev('BLOCK_JOB_READY') },
    ]);
    const late = obs([
      { step: 1, event: ev('JOB_STATUS_CHANGE', 'ready') },
      { step: 2, event: ev('BLOCK_JOB_READY') },
    ]);
    expect(compareObserved(late, sim)).toEqual([]);
    const missing = obs([{ step: 1, event: ev('JOB_STATUS_CHANGE', 'ready') }]);
    const d = compareObserved(missing, sim);
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ step: 1, signature: 'events: only on one side: - / BLOCK_JOB_READY' });
  });

  it('on the simulator: a profile agrees with itself, and 5.2 and 7.2 differ in query-named-block-nodes', async () => {
    const p = bundled('job-ids')!;
    const ops: OpSpec[] = [
      START,
      W(0x30),
      { op: 'read', session: 0, disk: 0, offset: 0, length: 4096 },
      STOP,
    ];
    const a = await observe(p, new SimPort('7.2', 1, VM), ops, 'sim:7.2', '7.2');
    const b = await observe(p, new SimPort('7.2', 1, VM), ops, 'sim:7.2', '7.2');
    expect(a.steps.map((s) => s.label)).toEqual([
      'setup',
      'op 1: start',
      'op 2: write',
      'op 3: read',
      'op 4: stop',
      'finish',
    ]);
    expect(a.steps[3].items).toContainEqual({
      kind: 'read',
      export: 'job1-vda',
      at: '0+4096',
      bytes: '0x10*4096',
    });
    expect(compareObserved(a, b)).toEqual([]);
    const old = await observe(p, new SimPort('5.2', 1, VM), ops, 'sim:5.2', '5.2');
    const d = compareObserved(old, a);
    expect(d[0]).toMatchObject({
      label: 'setup',
      signature: 'qmp query-named-block-nodes: .reply.return[].encryption_key_missing',
    });
  });
});
