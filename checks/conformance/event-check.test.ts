import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventProblem } from './event-check.ts';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));

describe('the event table against real QEMU', () => {
  for (const v of fs.readdirSync(GOLDEN)) {
    it(`every event recorded from real QEMU ${v} matches contract/qmp EVENTS`, () => {
      const problems: string[] = [];
      let checked = 0;
      for (const f of fs.readdirSync(path.join(GOLDEN, v))) {
        const g = JSON.parse(fs.readFileSync(path.join(GOLDEN, v, f), 'utf8'));
        for (const e of g.transcript.events) {
          const p = eventProblem(e);
          checked++;
          if (p) problems.push(`${f}: ${p}`);
        }
      }
      expect(problems.slice(0, 5)).toEqual([]);
      expect(checked).toBeGreaterThan(500);
    });
  }

  it('names what is wrong with a payload', () => {
    expect(eventProblem({ event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'sleeping' } })).toMatch(
      /^event JOB_STATUS_CHANGE .*: status: Invalid enum value/,
    );
    expect(eventProblem({ event: 'BLOCK_EXPORT_DELETED', data: { id: 'e', extra: 1 } })).toMatch(/extra/);
    expect(eventProblem({ event: 'SOMETHING_ELSE', data: {} })).toBeUndefined();
  });
});
