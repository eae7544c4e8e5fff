import { describe, expect, it } from 'vitest';
import { SIMULATED_COMMAND_NAMES } from '../../contract/qmp/commands.ts';
import { PROFILES } from '../../contract/versions.ts';
import { createSim } from '../sim.ts';
import { HANDLERS } from './handlers.ts';

describe('the typed command table', () => {
  it('has a handler for every command the contract says the simulator implements, and no other', () => {
    expect(Object.keys(HANDLERS).sort()).toEqual(
      SIMULATED_COMMAND_NAMES.filter((c) => c !== 'qmp_capabilities').sort(),
    );
  });

  it('reaches the handler of every simulated command a profile registers, and no other command', () => {
    for (const profile of PROFILES) {
      for (const flavour of ['qsd', 'system'] as const) {
        const sim = createSim({ profile, flavour });
        const registered = new Set(sim.core.snapshot.commands);
        for (const c of SIMULATED_COMMAND_NAMES.filter((x) => x !== 'quit')) {
          const r = sim.execute(c, {});
          const desc = 'error' in r ? r.error.desc : '';
          expect([profile, flavour, c, /not simulated|has not been found/.test(desc)]).toEqual([
            profile,
            flavour,
            c,
            !registered.has(c),
          ]);
        }
      }
    }
  });
});
