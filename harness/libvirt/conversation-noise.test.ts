import { describe, expect, it } from 'vitest';
import type { FixtureMessage } from './conversation-fixture.js';
import {
  comparable,
  eventsBeforeSends,
  normaliseConnections,
  normaliseOutput,
  renumberIds,
  withoutPolls,
} from './conversation-noise.js';

const ev = (name: string): FixtureMessage => [
  'recv',
  's',
  { event: name, timestamp: { seconds: 0, microseconds: 0 } },
];
const send = (cmd: string, id: string): FixtureMessage => ['send', 's', { execute: cmd, id }];
const reply = (id: string, ret: unknown = {}): FixtureMessage => ['recv', 's', { return: ret, id }];

describe('conversation noise', () => {
  it('replaces the scratch path, event timestamps and QEMU thread ids', () => {
    const [c] = normaliseConnections(
      [
        {
          role: 'domain',
          messages: [
            ['send', 'a', { execute: 'blockdev-add', arguments: { filename: '/tmp/x/d.img' }, id: 'l-1' }],
            ['recv', 'a', { event: 'RESUME', timestamp: { seconds: 5, microseconds: 6 } }],
            ['send', 'a', { execute: 'query-cpus-fast', id: 'l-2' }],
            ['recv', 'a', { return: [{ 'thread-id': 4242, 'cpu-index': 0 }], id: 'l-2' }],
          ],
        },
      ],
      { scratch: '/tmp/x' },
    );
    expect(c?.messages.map((m) => m[2])).toEqual([
      { execute: 'blockdev-add', arguments: { filename: '<SCRATCH>/d.img' }, id: 'l-1' },
      { event: 'RESUME', timestamp: { seconds: 0, microseconds: 0 } },
      { execute: 'query-cpus-fast', id: 'l-2' },
      { return: [{ 'thread-id': 0, 'cpu-index': 0 }], id: 'l-2' },
    ]);
  });

  it('puts events before sends they crossed, never across a reply', () => {
    const a = [send('query-x', '1'), ev('READY'), reply('1'), ev('DONE')];
    const b = [ev('READY'), send('query-x', '1'), reply('1'), ev('DONE')];
    expect(eventsBeforeSends(a)).toEqual(b);
    expect(eventsBeforeSends(b)).toEqual(b);
    const c = [send('query-x', '1'), reply('1'), ev('READY')];
    expect(eventsBeforeSends(c)).toEqual(c);
  });

  it('drops query-block-jobs polls and numbers the other commands afresh', () => {
    const one = [
      send('blockdev-mirror', 'l-1'),
      reply('l-1'),
      send('query-block-jobs', 'l-2'),
      reply('l-2', [{ offset: 0 }]),
      send('job-complete', 'l-3'),
      reply('l-3'),
    ];
    const two = [
      send('blockdev-mirror', 'l-1'),
      reply('l-1'),
      send('query-block-jobs', 'l-2'),
      reply('l-2', [{ offset: 0 }]),
      send('query-block-jobs', 'l-3'),
      reply('l-3', [{ offset: 1 }]),
      send('job-complete', 'l-4'),
      reply('l-4'),
    ];
    expect(renumberIds(withoutPolls(two))).toEqual(renumberIds(withoutPolls(one)));
    expect(comparable([{ role: 'domain', messages: two }])).toEqual(
      comparable([{ role: 'domain', messages: one }]),
    );
    expect(renumberIds(withoutPolls(one)).map((m) => (m[2] as { id: string }).id)).toEqual([
      '#1',
      '#1',
      '#2',
      '#2',
    ]);
  });

  it('normalises virsh timings and checkpoint times', () => {
    expect(normaliseOutput('Time elapsed:     675          ms', { scratch: '/s' })).toBe(
      'Time elapsed:     <N>          ms',
    );
    expect(normaliseOutput('cp1   2026-12-06 21:23:24 +0000   ', { scratch: '/s' })).toBe('cp1   <TIME>   ');
    expect(normaliseOutput(['-uuid 0431893d-801d-4783-a880-f9867a884d6f'], { scratch: '/s' })).toEqual([
      '-uuid <UUID>',
    ]);
  });
});
