import { getShortestPaths } from '@xstate/graph';
import { describe, expect, it } from 'vitest';
import { createJobMachine, JOB_STATES, JOB_VERBS, verbTable } from '../../contract/job-fsm.ts';
import { PROFILES, VERSIONS } from '../../contract/versions.ts';
import { RUNBOOKS } from './runbooks/index.ts';

/**
 * The job-verb checks cover the job model: every state @xstate/graph finds reachable in QEMU's job state
 * machine, except the transient ones a client cannot hold a job in, has checks for every verb.
 */
const TRANSIENT = new Set(['undefined', 'created', 'aborting']);

describe('job-verb checks against the reachable states of the job model', () => {
  for (const profile of PROFILES) {
    it(`every reachable state × every verb has a check (${profile})`, () => {
      const machine = createJobMachine(VERSIONS[profile]);
      const events = JOB_STATES.map((s) => ({ type: `to.${s}` }));
      const reachable = getShortestPaths(machine, { events: events as never }).map((p) =>
        String(p.state.value),
      );
      expect(new Set(reachable)).toEqual(new Set(JOB_STATES));
      const covered = new Map<string, Set<string>>();
      for (const r of RUNBOOKS) {
        const m = /^job-verbs\/(backup|mirror)\/([a-z]+)(?:-manual)?\/(.+)$/.exec(r.id);
        if (!m) continue;
        const state = m[2] === 'gone' ? 'null' : m[2];
        if (!covered.has(state)) covered.set(state, new Set());
        covered.get(state)!.add(m[3]);
      }
      const verbs = verbTable(VERSIONS[profile]);
      for (const state of reachable.filter((s) => !TRANSIENT.has(s))) {
        const commands = covered.get(state);
        expect(commands, `no check for jobs in state ${state}`).toBeDefined();
        for (const verb of JOB_VERBS) {
          if (verb === 'change' && verbs.change.length === 0) continue;
          const words =
            verb === 'set-speed'
              ? ['block-job-set-speed']
              : verb === 'change'
                ? ['block-job-change']
                : [`job-${verb}`, `block-job-${verb}`];
          expect(
            [...commands!].some((c) => words.some((w) => c.startsWith(w))),
            `no check of verb ${verb} in state ${state}`,
          ).toBe(true);
        }
      }
    });
  }
});
