import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonl, readTraceDir, traceFileName, writeTrace } from './transcripts.ts';

describe('parseJsonl', () => {
  it('reads what conform --traces writes', () => {
    const t = parseJsonl(
      [
        JSON.stringify({ runbook: 'x/y', target: 'sim:7.2' }),
        JSON.stringify({ step: 0, request: { execute: 'query-jobs' }, reply: { return: [] } }),
        JSON.stringify({ event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'created' } }),
        JSON.stringify({ event: 'SHUTDOWN' }),
        '',
      ].join('\n'),
    );
    expect(t.runbook).toBe('x/y');
    expect(t.steps).toHaveLength(1);
    expect(t.events).toEqual([
      { event: 'JOB_STATUS_CHANGE', data: { id: 'j', status: 'created' } },
      { event: 'SHUTDOWN' },
    ]);
    expect(() => parseJsonl('{"step":0}')).toThrow(/no runbook/);
  });
});

describe('trace files', () => {
  it('are read back as written, one file per check named after it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-traces-'));
    try {
      const t = {
        runbook: 'errors/unknown-job',
        target: 'sim:7.2',
        steps: [{ step: 0, request: { execute: 'job-cancel' }, reply: { error: { class: 'GenericError' } } }],
        events: [{ event: 'SHUTDOWN' }],
      };
      writeTrace(dir, t);
      expect(fs.readdirSync(dir)).toEqual([traceFileName(t.runbook)]);
      expect(traceFileName(t.runbook)).toBe('errors__unknown-job.jsonl');
      expect(readTraceDir(dir).get(t.runbook)).toEqual(t);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
