import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROFILES, VERSIONS } from '../versions.ts';
import { SchemaArbitraries, vocabulary } from './arbitrary.ts';
import { loadAllSnapshots } from './schema-union.ts';
import { QapiVisitor, visitorTexts } from './visitor.ts';

describe('arbitraries from the introspected schema', () => {
  for (const s of loadAllSnapshots()) {
    const profile = PROFILES.find((p) => s.key.startsWith(`${p}-`))!;
    it(`${s.key}: every command's generated arguments are accepted by QEMU's argument visitor`, () => {
      const visitor = new QapiVisitor(s.intro, visitorTexts(VERSIONS[profile].texts));
      const arbs = new SchemaArbitraries(s.intro);
      const refused: string[] = [];
      for (const command of s.intro.commands.keys()) {
        for (const args of fc.sample(arbs.command(command), { numRuns: 15, seed: 42 })) {
          const err = visitor.checkCommand(command, args);
          if (err) refused.push(`${command} ${JSON.stringify(args)}: ${err}`);
        }
      }
      expect(refused.slice(0, 5)).toEqual([]);
    });
  }

  it('hooks: a vocabulary for string members, a tag restricted to some cases, presence of optional members', () => {
    const s = loadAllSnapshots().find((x) => x.key === '7.2-qsd')!;
    const nodes = fc.constantFrom('n0', 'n1');
    const words = vocabulary({ device: nodes, target: nodes, 'job-id': fc.constant('j0') });
    const arbs = new SchemaArbitraries(s.intro, {
      value: (at) => (at.path.join('.') === 'driver' ? fc.constantFrom('null-co', 'raw') : words(at)),
      presence: (at) => (at.name === 'job-id' ? 1 : at.name === 'speed' ? 0 : undefined),
    });
    for (const a of fc.sample(arbs.command('blockdev-backup'), { numRuns: 50, seed: 1 })) {
      expect(['n0', 'n1']).toContain(a.device);
      expect(['n0', 'n1']).toContain(a.target);
      expect(a['job-id']).toBe('j0');
      expect(a).not.toHaveProperty('speed');
    }
    const drivers = fc.sample(arbs.command('blockdev-add'), { numRuns: 50, seed: 1 }).map((a) => a.driver);
    expect(new Set(drivers)).toEqual(new Set(['null-co', 'raw']));
  });

  it('hooks: the arguments as a whole, array lengths, a required member left out on purpose', () => {
    const s = loadAllSnapshots().find((x) => x.key === '7.2-qsd')!;
    const arbs = new SchemaArbitraries(s.intro, {
      optional: 0,
      value: (at, schema) =>
        at.path.length === 0 ? schema().map((a) => ({ ...(a as object), marked: true })) : undefined,
      length: (at) => (at.path.join('.') === 'actions' ? { min: 1, max: 3 } : undefined),
      presence: (at) => (at.path.join('.') === 'actions' ? 0.5 : undefined),
    });
    const all = fc.sample(arbs.command('transaction'), { numRuns: 100, seed: 2 });
    for (const a of all) {
      expect(a.marked).toBe(true);
      if (a.actions) expect((a.actions as unknown[]).length).toBeGreaterThanOrEqual(1);
      expect(a).not.toHaveProperty('properties');
    }
    expect(all.some((a) => !('actions' in a))).toBe(true);
  });

  it('integers stay within the C type QEMU reads them into', () => {
    const s = loadAllSnapshots().find((x) => x.key === '7.2-qsd')!;
    const arbs = new SchemaArbitraries(s.intro, { optional: 1 });
    for (const a of fc.sample(arbs.command('block-dirty-bitmap-add'), { numRuns: 200, seed: 3 }))
      expect(a.granularity as number).toBeLessThanOrEqual(4294967295);
  });
});
