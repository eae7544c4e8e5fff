import { describe, expect, it } from 'vitest';
import { COMMAND_SCHEMAS } from '../qapi/generated/commands.ts';
import { loadAllSnapshots } from '../qapi/schema-union.ts';
import { PROFILES, type Profile } from '../versions.ts';
import { SIMULATED_COMMAND_NAMES, SIMULATED_COMMANDS } from './commands.ts';

/**
 * The hand table against the schemas: it names only commands QEMU has, and says nothing the schemas say
 * (arguments, versions, flavours and deprecation come from them: contract/qapi/generated/commands.ts).
 */
describe('the commands the simulator implements, against the captured schemas', () => {
  const snapshots = loadAllSnapshots();

  it('are commands of real QEMU, each registered by qemu-system of every version that has it', () => {
    // block-job-change is 8.2's, blockdev-reopen 6.1's: the captured versions before them lack them; 5.2's
    // x-blockdev-reopen became blockdev-reopen
    const versions: Partial<Record<string, readonly Profile[]>> = {
      'block-job-change': PROFILES.slice(2),
      'blockdev-reopen': PROFILES.slice(1),
      'x-blockdev-reopen': PROFILES.slice(0, 1),
    };
    for (const c of SIMULATED_COMMAND_NAMES) {
      const since = versions[c] ?? PROFILES;
      expect([c, since.filter((p) => !COMMAND_SCHEMAS[c].includes(`${p}-system`))]).toEqual([c, []]);
    }
  });

  it('are registered by a captured schema, and their notes say only what the schemas cannot', () => {
    const registered = new Set(snapshots.flatMap((s) => s.commands));
    expect(SIMULATED_COMMAND_NAMES.filter((c) => !registered.has(c))).toEqual([]);
    // the notes say which part is simulated, never what the schema says (a version, a flavour, a type)
    for (const [c, note] of Object.entries(SIMULATED_COMMANDS))
      expect([c, /\b(qsd|system|\d+\.\d+|deprecated)\b/.test(note)]).toEqual([c, false]);
  });
});
