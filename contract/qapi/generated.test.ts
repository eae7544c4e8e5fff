import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, ROOT } from './gen-qapi.ts';
import { COMMAND_SCHEMAS, type CommandName, SCHEMA_KEYS } from './generated/commands.ts';
import { loadAllSnapshots, type ObjectShape, SchemaUnion } from './schema-union.ts';

const snapshots = loadAllSnapshots();
const merged = new Map(SchemaUnion.commands(snapshots).map((c) => [c.name, c]));

describe('the command table generated from the captured schemas', () => {
  it('is what `npm run gen:qapi` writes from the committed schemas, byte for byte', () => {
    for (const [file, text] of Object.entries(generate())) {
      const committed = fs.readFileSync(path.join(ROOT, file), 'utf8');
      expect(committed === text, `${file} is not what the schemas give: run npm run gen:qapi`).toBe(true);
    }
  });

  it('introspection marks an optional member with default: null, and nothing else (blockdev-backup)', () => {
    for (const s of snapshots) {
      const args = s.intro.type(s.intro.commands.get('blockdev-backup')!['arg-type']);
      if (args['meta-type'] !== 'object') throw new Error('blockdev-backup takes an object');
      const members = new Map(args.members.map((m) => [m.name, m]));
      // qapi/block-core.json: BackupCommon has '*job-id', 'device', 'sync', '*speed'; BlockdevBackup 'target'
      for (const required of ['device', 'sync', 'target'])
        expect(members.get(required)).not.toHaveProperty('default');
      for (const optional of ['job-id', 'speed', 'bitmap']) expect(members.get(optional)?.default).toBeNull();
    }
  });

  it('lists every command of every schema, in the schemas whose query-commands has it', () => {
    const names = new Set(snapshots.flatMap((s) => [...s.intro.commands.keys()]));
    expect(Object.keys(COMMAND_SCHEMAS).sort()).toEqual([...names].sort());
    for (const [name, keys] of Object.entries(COMMAND_SCHEMAS))
      expect([name, [...keys]]).toEqual([
        name,
        SCHEMA_KEYS.filter((k) => snapshots.find((s) => s.key === k)!.commands.includes(name)),
      ]);
  });

  it("has each schema's arguments: every member, required only where every schema that has the command requires it", () => {
    for (const s of snapshots) {
      for (const [name, cmd] of s.intro.commands) {
        const args = s.intro.type(cmd['arg-type']);
        if (args['meta-type'] !== 'object') throw new Error(`${name} takes no object`);
        const have = merged.get(name)!.args as ObjectShape;
        const shape = new Map(have.members.map((m) => [m.name, m]));
        for (const m of args.members) {
          const got = shape.get(m.name);
          expect(got, `${s.key} ${name}.${m.name}`).toBeDefined();
          if (m.default === null) expect(got?.optional, `${s.key} ${name}.${m.name} is optional`).toBe(true);
        }
        for (const m of have.members.filter((x) => !x.optional))
          expect(
            args.members.some((x) => x.name === m.name && x.default === undefined),
            `${name}.${m.name} is required in ${s.key}`,
          ).toBe(true);
        // the variants of a flat union (blockdev-add's drivers, block-export-add's types)
        for (const v of args.variants ?? [])
          expect(
            have.variants?.some((x) => x.case === v.case),
            `${s.key} ${name} ${args.tag}=${v.case}`,
          ).toBe(true);
      }
    }
  });

  it('types what the simulator relies on as QEMU says', () => {
    // compile-time: these fail to type-check if the generated types drift from what the handlers read
    const backup: import('./generated/commands.ts').CommandArgs<'blockdev-backup'> = {
      device: 'src',
      target: 'tmp',
      sync: 'none',
      'job-id': 'fleece',
    };
    const exportNbd: import('./generated/commands.ts').CommandArgs<'block-export-add'> = {
      type: 'nbd',
      id: 'e0',
      'node-name': 'tmp',
      bitmaps: ['b0', { node: 'src', name: 'b1' }],
    };
    const name: CommandName = 'block-job-change';
    expect([backup.sync, exportNbd.type, name]).toEqual(['none', 'nbd', 'block-job-change']);
    expect(COMMAND_SCHEMAS['block-job-change']).toEqual([
      '10.0-qsd',
      '10.0-system',
      '11.1-qsd',
      '11.1-system',
    ]);
    expect(COMMAND_SCHEMAS['human-monitor-command'].every((k) => k.endsWith('-system'))).toBe(true);
  });
});
