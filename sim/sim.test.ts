import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SIMULATED_COMMAND_NAMES } from '../contract/qmp/commands.ts';
import { createSim } from './sim.ts';

describe('in-process simulator API', () => {
  it('nothing throws out of execute: any command with any arguments gets a QMP reply', () => {
    const json = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.string(),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(
          fc.constantFrom('driver', 'node-name', 'file', 'device', 'target', 'sync', 'id', 'size', 'x'),
          tie('v'),
          { maxKeys: 4 },
        ),
      ),
    })).v;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(...SIMULATED_COMMAND_NAMES, 'bogus'),
            fc.dictionary(fc.string({ maxLength: 12 }), json, { maxKeys: 4 }),
          ),
          {
            maxLength: 12,
          },
        ),
        (calls) => {
          const sim = createSim({ profile: '7.2', flavour: 'system' });
          sim.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n0', size: 1 << 20 });
          for (const [cmd, args] of calls) {
            const r = sim.execute(cmd, args);
            expect('return' in r || 'error' in r).toBe(true);
            if ('error' in r) expect(r.error.desc).not.toMatch(/internal error/);
          }
          sim.advance(100);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the same seed gives the same generated node names and events', () => {
    const run = (seed: number) => {
      const sim = createSim({ profile: '7.2', flavour: 'qsd', seed });
      sim.run('blockdev-add', { driver: 'null-co', 'node-name': 's', size: 1 << 20 });
      sim.run('blockdev-add', { driver: 'null-co', 'node-name': 't', size: 1 << 20 });
      sim.run('blockdev-backup', { 'job-id': 'j', device: 's', target: 't', sync: 'none' });
      return [sim.run('query-named-block-nodes', { flat: true }), sim.events.map((e) => [e.event, e.data])];
    };
    expect(run(7)).toEqual(run(7));
    expect(JSON.stringify(run(7))).not.toEqual(JSON.stringify(run(8)));
  });

  it('two points in time on one disk: stacked copy-before-write filters', () => {
    const sim = createSim({ profile: '7.2', flavour: 'system' });
    const MiB = 1 << 20;
    // in-memory files make the source keep data
    const fsMem = sim.core.fs;
    fsMem.createRaw('disk.raw', 4 * MiB);
    fsMem.createRaw('t1.raw', 4 * MiB);
    fsMem.createRaw('t2.raw', 4 * MiB);
    sim.run('blockdev-add', {
      driver: 'raw',
      'node-name': 'source',
      file: { driver: 'file', filename: 'disk.raw' },
    });
    sim.run('blockdev-add', {
      driver: 'raw',
      'node-name': 'tmp1',
      file: { driver: 'file', filename: 't1.raw' },
    });
    sim.run('blockdev-add', {
      driver: 'raw',
      'node-name': 'tmp2',
      file: { driver: 'file', filename: 't2.raw' },
    });
    const io = (node: string, cmd: string) =>
      sim.run('human-monitor-command', { 'command-line': `qemu-io ${node} "${cmd}"` });
    io('source', 'write -P 0xaa 0 128k');
    sim.run('blockdev-add', {
      driver: 'copy-before-write',
      'node-name': 'cbw1',
      file: 'source',
      target: 'tmp1',
    });
    sim.run('blockdev-add', { driver: 'snapshot-access', 'node-name': 'acc1', file: 'cbw1' });
    io('cbw1', 'write -P 0xbb 0 64k');
    sim.run('blockdev-add', {
      driver: 'copy-before-write',
      'node-name': 'cbw2',
      file: 'cbw1',
      target: 'tmp2',
    });
    sim.run('blockdev-add', { driver: 'snapshot-access', 'node-name': 'acc2', file: 'cbw2' });
    io('cbw2', 'write -P 0xcc 0 128k');
    const read = (node: string, off: number) => sim.core.graph.find(node)!.read(off, 65536)[0];
    expect([read('acc1', 0), read('acc1', 65536)]).toEqual([0xaa, 0xaa]);
    expect([read('acc2', 0), read('acc2', 65536)]).toEqual([0xbb, 0xaa]);
    expect([read('source', 0), read('source', 65536)]).toEqual([0xcc, 0xcc]);
    // writing through the lower filter is refused while the upper one holds it
    expect(io('cbw1', 'write -P 0xdd 0 4k')).toMatch(/^Permission conflict on node 'cbw1'/);
  });
});
