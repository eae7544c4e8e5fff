import { describe, expect, it } from 'vitest';
import type { ConversationMessage } from '../../contract/formats/conversation-trace.ts';
import { compareSteps, stepsOf } from './replay-compare.ts';

const send = (id: string, execute = 'x'): ConversationMessage => ({ dir: 'send', msg: { execute, id } });
const reply = (id: string, ret: unknown = {}): ConversationMessage => ({
  dir: 'recv',
  msg: { return: ret, id },
});
const event = (event: string, data?: unknown, seconds = 1): ConversationMessage => ({
  dir: 'recv',
  msg: { timestamp: { seconds, microseconds: 0 }, event, ...(data ? { data } : {}) },
});
const GREETING: ConversationMessage = { dir: 'recv', msg: { QMP: { version: {}, capabilities: [] } } };

describe('a replay compared with its recording', () => {
  it('puts an event in the step of the last reply before it, whether the client waited or sent ahead', () => {
    const waited = [
      GREETING,
      send('a'),
      reply('a'),
      send('b', 'cont'),
      event('RESUME'),
      reply('b'),
      send('c'),
      reply('c'),
    ];
    const ahead = [
      send('a'),
      send('b', 'cont'),
      send('c'),
      GREETING,
      reply('a'),
      event('RESUME', undefined, 9),
      reply('b'),
      reply('c'),
    ];
    expect(stepsOf(waited).map((s) => s.events.length)).toEqual([0, 1, 0, 0]);
    expect(compareSteps(stepsOf(waited), stepsOf(ahead))).toEqual([]);
  });

  it("forgives an event a step late, drops a drain's pause pair, masks paths and progress", () => {
    const job = (status: string) => event('JOB_STATUS_CHANGE', { id: 'j', status });
    const a = [
      GREETING,
      send('a'),
      reply('a', { file: '<SCRATCH>/d.img', offset: 5 }),
      job('concluded'),
      send('b'),
      reply('b'),
    ];
    const b = [
      GREETING,
      send('a'),
      reply('a', { file: '/tmp/r/d.img', offset: 7 }),
      send('b'),
      job('paused'),
      job('running'),
      reply('b'),
      job('concluded'),
    ];
    expect(compareSteps(stepsOf(a), stepsOf(b, '/tmp/r'))).toEqual([]);
  });

  it('names the step, where it differs and both values; a step one side lacks', () => {
    const a = [GREETING, send('a', 'query-status'), reply('a', { status: 'paused' })];
    const b = [GREETING, send('a', 'query-status'), reply('a', { status: 'running' }), send('z')];
    const d = compareSteps(stepsOf(a), stepsOf(b));
    expect(d[0]).toMatchObject({
      step: 1,
      label: 'query-status',
      path: '.reply.return.status',
      a: 'paused',
      b: 'running',
    });
    expect(d[1]).toMatchObject({ step: 2, path: '', signature: 'x: only on one side' });
  });
});
