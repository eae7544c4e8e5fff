import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { counterexampleFileName, parseSavedTrace, readSavedRuns, runsFileName } from './saved-runs.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-saved-runs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** an operation as saved before sessions had machines, and what it is read as now */
const STATS = { op: 'stats', session: 0 };
const CALL = { op: 'call', session: 0, event: 0 };
const WRITE = { op: 'write', disk: 0, offset: 0, length: 512, pattern: 1 };

describe('saved runs', () => {
  it('are read from runs files and counterexamples, one line naming file and line or field when wrong', () => {
    fs.writeFileSync(
      path.join(dir, runsFileName('p')),
      `${JSON.stringify({ proposal: 'p', seed: 1, run: 1, ops: [STATS] })}\n\n${JSON.stringify({ proposal: 'p', domain: 'vm', ops: [WRITE] })}\n`,
    );
    const trace = {
      proposal: 'p',
      profile: '7.2',
      property: 'x',
      detail: 'd',
      ops: [WRITE, STATS],
      trace: [],
    };
    fs.writeFileSync(path.join(dir, counterexampleFileName('p', 'x')), JSON.stringify(trace));
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({ kind: 'other' }));
    const rel = path.relative(process.cwd(), dir);
    expect(readSavedRuns(dir)).toEqual([
      // runs saved before the VM domain were made on qemu-storage-daemon
      { source: path.join(rel, 'p.runs.jsonl:1'), proposal: 'p', domain: 'qsd', ops: [CALL] },
      { source: path.join(rel, 'p.runs.jsonl:3'), proposal: 'p', domain: 'vm', ops: [WRITE] },
      { source: path.join(rel, 'p.x.json'), proposal: 'p', domain: 'qsd', ops: [WRITE, CALL] },
    ]);
    expect(parseSavedTrace(JSON.stringify(trace), 't.json')).toMatchObject({
      property: 'x',
      domain: 'qsd',
      ops: [WRITE, CALL],
    });

    const bad = path.join(dir, 'bad.runs.jsonl');
    fs.writeFileSync(bad, `${JSON.stringify({ proposal: 'p', ops: [{ op: 'stats', session: -1 }] })}\n`);
    expect(() => readSavedRuns(bad)).toThrow(/bad\.runs\.jsonl:1: ops\.0\.session: /);
    fs.writeFileSync(bad, '{"proposal": "p", "ops": [\n');
    expect(() => readSavedRuns(bad)).toThrow(/bad\.runs\.jsonl:1:\d+: not valid JSON/);
    expect(() => parseSavedTrace('{"proposal": "p"}', 't.json')).toThrow(/^t\.json: profile: Required$/);
  });
});
