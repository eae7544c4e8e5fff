import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { conversationTraceText, parseConversationTrace } from '../../contract/formats/conversation-trace.ts';
import {
  argvOfCommandLine,
  commandLineOfQemuLog,
  isFixture,
  traceOfFixture,
  traceOfLibvirtLog,
} from './log-trace.ts';

const T = '2026-12-06 21:11:54.707+0000';
const rec = (thread: number, body: string): string => `${T}: ${thread}: info : fn:1 : ${body}\n`;
const DIR = '/tmp/fleece-lab-libvirt-AbC123';

/** libvirtd's log of a domain start (the shapes libvirt 9.0 writes) */
const LOG = [
  rec(11, "Connect monitor to vm=0x7f99 name='dom1'"),
  rec(11, 'QEMU_MONITOR_NEW: mon=0x7f01 fd=30'),
  rec(
    20,
    'Line [{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2"}, "capabilities": ["oob"]}}]',
  ),
  rec(
    20,
    'QEMU_MONITOR_IO_WRITE: mon=0x7f01 buf={"execute":"query-named-block-nodes","arguments":{"flat":true},"id":"libvirt-1"}\r\n len=82 ret=82 errno=0',
  ),
  rec(
    20,
    `QEMU_MONITOR_RECV_REPLY: mon=0x7f01 reply={"return": [{"node-name": "libvirt-1-format", "image": {"virtual-size": 1048576, "filename": "${DIR}/disk0.img"}}, {"node-name": "libvirt-1-storage", "image": {"virtual-size": 1048576}}], "id": "libvirt-1"}`,
  ),
  rec(
    20,
    'QEMU_MONITOR_RECV_EVENT: mon=0x7f01 event={"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}',
  ),
].join('');

/** the domain's QEMU log: the environment, then the command line one option a line */
const QEMU_LOG = [
  '2026-12-06 21:11:54.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.22',
  'LC_ALL=C \\',
  'PATH=/usr/bin \\',
  '/usr/bin/qemu-system-x86_64 \\',
  '-name guest=dom1,debug-threads=on \\',
  '-S \\',
  `-blockdev '{"driver":"file","filename":"${DIR}/disk0.img","node-name":"libvirt-1-storage"}' \\`,
  `-blockdev '{"node-name":"libvirt-1-format","driver":"raw","file":"libvirt-1-storage"}' \\`,
  '-device \'{"driver":"virtio-blk-pci","drive":"libvirt-1-format","id":"virtio-disk0","serial":"it\'\\\'\'s"}\' \\',
  '-chardev socket,id=charmonitor,fd=26,server=on,wait=off \\',
  '-mon chardev=charmonitor,id=monitor,mode=control \\',
  '-msg timestamp=on',
  'char device redirected to /dev/pts/3',
].join('\n');

describe('a conversation trace from libvirt', () => {
  it("reads libvirt's command line from the domain's QEMU log as an argument vector", () => {
    const words = commandLineOfQemuLog(QEMU_LOG);
    expect(words[0]).toBe('/usr/bin/qemu-system-x86_64');
    expect(words.at(-1)).toBe('-msg timestamp=on');
    const argv = argvOfCommandLine(words);
    expect(argv.slice(0, 4)).toEqual([
      '/usr/bin/qemu-system-x86_64',
      '-name',
      'guest=dom1,debug-threads=on',
      '-S',
    ]);
    expect(argv).toContain(
      '{"driver":"virtio-blk-pci","drive":"libvirt-1-format","id":"virtio-disk0","serial":"it\'s"}',
    );
  });

  it("turns libvirtd's log into a trace: the connection, its command line, the images, <SCRATCH> for the folder", () => {
    const t = traceOfLibvirtLog(LOG, { file: 'libvirtd.log', commandLine: commandLineOfQemuLog(QEMU_LOG) });
    expect(t.qemu).toBe('7.2.22 (Debian 1:7.2)');
    expect(t.source).toEqual({ type: 'libvirt-log', file: 'libvirtd.log' });
    expect(t.images).toEqual([{ path: '<SCRATCH>/disk0.img', format: 'raw', size: 1048576 }]);
    const [c] = t.connections;
    expect(c?.role).toBe('domain');
    expect(c?.argvFrom).toBe('qemu-log');
    expect(c?.argv).toContain(
      '{"driver":"file","filename":"<SCRATCH>/disk0.img","node-name":"libvirt-1-storage"}',
    );
    expect(c?.messages.map((m) => m.dir)).toEqual(['recv', 'send', 'recv', 'recv']);
    expect(JSON.stringify(t)).not.toContain(DIR);
    // written one message a line, and read back the same
    const text = conversationTraceText(t);
    expect(text.split('\n').filter((l) => l.startsWith('        {"dir"'))).toHaveLength(4);
    expect(parseConversationTrace(text, 't.json')).toEqual(t);
  });

  it('says what a log without the QEMU log lacks, and refuses a log with no monitor', () => {
    const t = traceOfLibvirtLog(LOG);
    expect(t.connections[0]?.argv).toBeUndefined();
    expect(() => traceOfLibvirtLog('nothing here\n', { file: 'x.log' })).toThrow(
      'x.log: no QEMU monitor connection in this log',
    );
  });

  it('turns a recorded fixture into a trace with its command line at start', () => {
    const file = fileURLToPath(new URL('fixtures/backup-pull-7.2.json', import.meta.url));
    const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(isFixture(raw)).toBe(true);
    const t = traceOfFixture(raw, 'backup-pull-7.2.json');
    expect(t.source).toEqual({ type: 'libvirt-fixture', file: 'backup-pull-7.2.json', libvirt: '9.0.0' });
    expect(t.images.map((i) => i.path)).toEqual(['<SCRATCH>/disk0.img', '<SCRATCH>/disk1.img']);
    expect(t.connections[0]?.argv?.slice(0, 3)).toEqual([
      '/usr/bin/qemu-system-x86_64',
      '-name',
      'guest=fleece-backup-pull,debug-threads=on',
    ]);
    expect(t.connections[0]?.messages).toHaveLength(raw.connections[0].messages.length);
  });
});
