import { describe, expect, it } from 'vitest';
import { logRecords, parseMonitorLog } from './monitor-log.js';

const T = '2026-12-06 21:11:54.707+0000';
const rec = (thread: number, level: string, fn: string, body: string): string =>
  `${T}: ${thread}: ${level} : ${fn}:1 : ${body}\n`;

/** The shapes libvirt 9.0 writes (seen in a real log): sends span two lines (CRLF inside the buffer). */
const LOG = [
  rec(
    10,
    'debug',
    'qemuProcessQMPLaunch',
    "Try to probe capabilities of '/usr/bin/qemu-system-x86_64' via QMP, machine none,accel=tcg",
  ),
  rec(10, 'info', 'qemuMonitorOpenInternal', 'QEMU_MONITOR_NEW: mon=0x7f01 fd=28'),
  rec(
    10,
    'info',
    'qemuMonitorSend',
    'QEMU_MONITOR_SEND_MSG: mon=0x7f01 msg={"execute":"qmp_capabilities","id":"libvirt-1"}\r\n fd=-1',
  ),
  rec(
    20,
    'debug',
    'qemuMonitorJSONIOProcessLine',
    'Line [{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}]',
  ),
  rec(
    20,
    'info',
    'qemuMonitorIOWrite',
    'QEMU_MONITOR_IO_WRITE: mon=0x7f01 buf={"execute":"qmp_capabilities","id":"libvirt-1"}\r\n len=49 ret=49 errno=0',
  ),
  rec(20, 'debug', 'qemuMonitorJSONIOProcessLine', 'Line [{"return": {}, "id": "libvirt-1"}]'),
  rec(
    20,
    'info',
    'qemuMonitorJSONIOProcessLine',
    'QEMU_MONITOR_RECV_REPLY: mon=0x7f01 reply={"return": {}, "id": "libvirt-1"}',
  ),
  // a short write: 10 bytes now, the rest in the next record
  rec(
    20,
    'info',
    'qemuMonitorIOWrite',
    'QEMU_MONITOR_IO_WRITE: mon=0x7f01 buf={"execute":"quit","id":"libvirt-2"}\r\n len=37 ret=10 errno=0',
  ),
  rec(
    20,
    'info',
    'qemuMonitorIOWrite',
    'QEMU_MONITOR_IO_WRITE: mon=0x7f01 buf=:"quit","id":"libvirt-2"}\r\n len=27 ret=27 errno=0',
  ),
  rec(
    20,
    'info',
    'qemuMonitorJSONIOProcessLine',
    'QEMU_MONITOR_RECV_EVENT: mon=0x7f01 event={"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN"}',
  ),
  rec(10, 'info', 'qemuMonitorClose', 'QEMU_MONITOR_CLOSE: mon=0x7f01'),
  // the same pointer again, now a domain's monitor
  rec(11, 'debug', 'qemuProcessWaitForMonitor', "Connect monitor to vm=0x7f99 name='dom1'"),
  rec(11, 'info', 'qemuMonitorOpenInternal', 'QEMU_MONITOR_NEW: mon=0x7f01 fd=30'),
  rec(
    20,
    'debug',
    'qemuMonitorJSONIOProcessLine',
    'Line [{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 10}, "package": ""}, "capabilities": ["oob"]}}]',
  ),
].join('');

describe('parseMonitorLog', () => {
  it('splits records at timestamps and keeps each one’s byte offset', () => {
    const r = logRecords(LOG);
    expect(r).toHaveLength(14);
    expect(r[2]?.body).toMatch(/\r\n fd=-1$/);
    expect(Buffer.from(LOG).toString('utf8', r[1]?.offset, (r[1]?.offset ?? 0) + 10)).toBe(T.slice(0, 10));
  });

  it('gives one conversation per connection, labelled, in wire order (writes, not queued sends)', () => {
    const [probe, dom] = parseMonitorLog(LOG);
    expect(probe).toMatchObject({
      role: 'probe',
      binary: '/usr/bin/qemu-system-x86_64',
      machine: 'none,accel=tcg',
    });
    expect(probe?.messages.map((m) => [m.dir, m.msg])).toEqual([
      [
        'recv',
        { QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: '' }, capabilities: ['oob'] } },
      ],
      ['send', { execute: 'qmp_capabilities', id: 'libvirt-1' }],
      ['recv', { return: {}, id: 'libvirt-1' }],
      ['send', { execute: 'quit', id: 'libvirt-2' }],
      ['recv', { timestamp: { seconds: 1, microseconds: 2 }, event: 'SHUTDOWN' }],
    ]);
    expect(probe?.closedAt).toBeGreaterThan(0);
    expect(dom).toMatchObject({ role: 'domain', domain: 'dom1' });
    expect(dom?.messages).toHaveLength(1);
  });

  it('keeps a message that does not parse as text rather than dropping it', () => {
    const log = [
      rec(1, 'info', 'qemuMonitorOpenInternal', 'QEMU_MONITOR_NEW: mon=0x1 fd=3'),
      rec(2, 'info', 'qemuMonitorJSONIOProcessLine', 'QEMU_MONITOR_RECV_REPLY: mon=0x1 reply={"return": '),
    ].join('');
    expect(parseMonitorLog(log)[0]?.messages[0]?.msg).toEqual({ unparsed: '{"return": ' });
  });
});
