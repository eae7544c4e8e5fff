import { describe, expect, it } from 'vitest';
import { isConversationTrace, parseConversationTrace, traceVersionKey } from './conversation-trace.ts';

const trace = {
  tool: 'fleece-lab',
  kind: 'conversation',
  format: 1,
  source: { type: 'proxy' },
  qemu: '10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)',
  createdAt: '2026-12-07T00:00:00.000Z',
  connections: [{ role: 'client', messages: [{ dir: 'send', msg: { execute: 'quit' } }] }],
};

describe('conversation traces', () => {
  it('parse, with the images defaulted and the version key read off the greeting version', () => {
    const t = parseConversationTrace(JSON.stringify(trace), 't.json');
    expect(t.images).toEqual([]);
    expect(traceVersionKey(t)).toBe('10.0');
    expect(isConversationTrace(trace)).toBe(true);
    expect(isConversationTrace({ proposal: 'x', ops: [] })).toBe(false);
  });

  it('fail with one line naming the file and the field', () => {
    expect(() => parseConversationTrace(JSON.stringify({ ...trace, format: 2 }), 't.json')).toThrow(
      /^t\.json: format: Invalid literal value, expected 1$/,
    );
    const bad = { ...trace, connections: [{ role: 'client', messages: [{ dir: 'sideways', msg: 1 }] }] };
    expect(() => parseConversationTrace(JSON.stringify(bad), 't.json')).toThrow(
      /^t\.json: connections\.0\.messages\.0\.dir: /,
    );
    expect(() => parseConversationTrace('{"kind": ', 't.json')).toThrow(/^t\.json:1:/);
  });
});
