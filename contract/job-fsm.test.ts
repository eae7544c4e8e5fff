import { describe, expect, it } from 'vitest';
import { JOB_STATES, JOB_TRANSITIONS, JobState, verbTable } from './job-fsm.ts';
import { VERSIONS } from './versions.ts';

describe('QEMU job state machine (job.c JobSTT / JobVerbTable)', () => {
  it('allows exactly the transitions of the table', () => {
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        const j = JobState.initial(VERSIONS['7.2']);
        // walk to `from` along a known path
        const path: Record<string, string[]> = {
          undefined: [],
          created: ['created'],
          running: ['created', 'running'],
          paused: ['created', 'running', 'paused'],
          ready: ['created', 'running', 'ready'],
          standby: ['created', 'running', 'ready', 'standby'],
          waiting: ['created', 'running', 'waiting'],
          pending: ['created', 'running', 'waiting', 'pending'],
          aborting: ['created', 'aborting'],
          concluded: ['created', 'running', 'waiting', 'pending', 'concluded'],
          null: ['created', 'null'],
        };
        for (const s of path[from]) j.transition(s as never);
        expect(j.status).toBe(from);
        expect(j.canTransition(to)).toBe(JOB_TRANSITIONS[from].includes(to));
      }
    }
  });

  it('an illegal transition is a loud bug, not a silent one', () => {
    const j = JobState.initial(VERSIONS['7.2']);
    expect(() => j.transition('running')).toThrow(/illegal transition undefined -> running/);
  });

  it('complete in standby: 7.2 and later only; change: 10.0 and later only', () => {
    expect(verbTable(VERSIONS['5.2']).complete).toEqual(['ready']);
    expect(verbTable(VERSIONS['7.2']).complete).toEqual(['ready', 'standby']);
    expect(verbTable(VERSIONS['7.2']).change).toEqual([]);
    expect(verbTable(VERSIONS['10.0']).change).toContain('running');
  });

  it('the machine answers verbs from the table in every state', () => {
    for (const v of Object.values(VERSIONS)) {
      const table = verbTable(v);
      const j = JobState.initial(v);
      j.transition('created');
      j.transition('running');
      for (const [verb, states] of Object.entries(table))
        expect(j.accepts(verb as never)).toBe(states.includes('running'));
    }
  });
});
