import { describe, expect, it } from 'vitest';
import { type CoverageTranscript, coverageOf, coverageShrunk } from './coverage.ts';
import { allGolden } from './golden.ts';

/**
 * Coverage is read from transcripts and the introspected schema: what a recording exercised counts as real,
 * what only the simulator's transcripts have as simulator-only, the rest of the schema as never; losing a
 * recording shrinks it, and the gate says so.
 */
const backup = (reply: unknown, extra: Record<string, unknown> = {}): CoverageTranscript => ({
  steps: [
    {
      request: {
        execute: 'blockdev-add',
        arguments: { driver: 'copy-before-write', 'node-name': 'cbw', file: 'a', target: 'b' },
      },
      reply: { return: {} },
    },
    {
      request: {
        execute: 'blockdev-backup',
        arguments: { 'job-id': 'j1', device: 'src', target: 'tgt', sync: 'none', ...extra },
      },
      reply,
    },
  ],
  events: ['created', 'running', 'waiting', 'pending', 'concluded', 'null'].map((status) => ({
    event: 'JOB_STATUS_CHANGE',
    data: { id: 'j1', status },
  })),
});

describe('coverage of the conformance suite', () => {
  it('counts commands, outcomes, arguments and job transitions where they were exercised', () => {
    const c = coverageOf(
      '7.2',
      [backup({ return: {} })],
      [backup({ error: { class: 'GenericError', desc: 'x' } }, { speed: 1 })],
    );
    const row = c.table.find((t) => t.command === 'blockdev-backup')!;
    expect(row.real).toEqual(['accepted']);
    expect(row.simOnly).toEqual(['GenericError']);
    const args = c.args.find((a) => a.command === 'blockdev-backup')!;
    expect(args.real).toEqual(['device', 'job-id', 'sync', 'target']);
    expect(args.simOnly).toEqual(['speed']);
    expect(args.never).toContain('bitmap');
    expect(c.args.find((a) => a.command === 'blockdev-add driver=copy-before-write')!.real).toContain(
      'target',
    );
    const job = c.jobs.find((j) => j.type === 'backup')!;
    expect(job.real).toEqual(
      expect.arrayContaining(['undefined>created', 'waiting>pending', 'concluded>null']),
    );
    expect(job.uncovered).toContain('running>paused');
    // the schema's other commands were never exercised
    expect(c.never).toContain('query-jobs');
    expect(c.commands.real + c.commands.never).toBe(c.schemaCommands);
  });

  it('a recording lost shrinks coverage: the gate fails like a check that got worse', () => {
    const golden = allGolden('7.2').map((g) => g.transcript);
    expect(golden.length).toBeGreaterThan(300);
    const all = {
      tool: 'fleece-lab' as const,
      kind: 'coverage' as const,
      versions: [coverageOf('7.2', golden, [])],
    };
    const without = golden.filter(
      (t) => !t.steps.some((s) => JSON.stringify(s.request).includes('"snapshot-access"')),
    );
    const less = { ...all, versions: [coverageOf('7.2', without, [])] };
    const lost = coverageShrunk(less, all);
    expect(
      lost.some((l) =>
        /blockdev-add driver=snapshot-access argument file: was covered on real QEMU, now never/.test(l),
      ),
    ).toBe(true);
    expect(coverageShrunk(all, all)).toEqual([]);
    // covered on the simulator only is less than on real QEMU
    const simOnly = { ...all, versions: [coverageOf('7.2', without, golden)] };
    expect(coverageShrunk(simOnly, all).some((l) => /now on the simulator only/.test(l))).toBe(true);
  });
});
