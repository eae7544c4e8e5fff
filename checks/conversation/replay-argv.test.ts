import { describe, expect, it } from 'vitest';
import { keyFiles, REPLAY_UUID, replayArgv } from './replay-argv.ts';

const LIBVIRT = [
  '/usr/bin/qemu-system-x86_64',
  '-S',
  '-object',
  '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-1-d/master-key.aes"}',
  '-machine',
  'pc-q35-7.2,usb=off',
  '-uuid',
  '<UUID>',
  '-chardev',
  'socket,id=charmonitor,fd=<FD>,server=on,wait=off',
  '-mon',
  'chardev=charmonitor,id=monitor,mode=control',
  '-blockdev',
  '{"driver":"file","filename":"<SCRATCH>/disk0.img","node-name":"s"}',
  '-device',
  '{"driver":"virtio-blk-pci","drive":"f","id":"virtio-disk0","bootindex":1,"share-rw":false}',
  '-audiodev',
  '{"id":"audio1","driver":"none"}',
  '-pidfile',
  '/run/x.pid',
  '-daemonize',
];
const opts = { dir: '/tmp/r', qmpSocket: '/tmp/r/qmp.sock', recorded: '7.2', target: '7.2' };

describe('the command line a replay starts QEMU with', () => {
  it("keeps libvirt's, with the monitor on the replay's socket, its folder, a key file in it, no daemon", () => {
    const a = replayArgv(LIBVIRT, opts);
    expect(a).toEqual([
      '-S',
      '-object',
      '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/tmp/r/master-key.aes"}',
      '-machine',
      'pc-q35-7.2,usb=off',
      '-uuid',
      REPLAY_UUID,
      '-chardev',
      'socket,id=charmonitor,path=/tmp/r/qmp.sock,server=on,wait=off',
      '-mon',
      'chardev=charmonitor,id=monitor,mode=control',
      '-blockdev',
      '{"driver":"file","filename":"/tmp/r/disk0.img","node-name":"s"}',
      '-device',
      '{"driver":"virtio-blk-pci","drive":"f","id":"virtio-disk0","bootindex":1,"share-rw":false}',
      '-audiodev',
      '{"id":"audio1","driver":"none"}',
    ]);
    expect(keyFiles(a)).toEqual(['/tmp/r/master-key.aes']);
  });

  it("takes the target's newest machine of the family, and key=value options on 5.2", () => {
    const a = replayArgv(LIBVIRT, { ...opts, target: '5.2' });
    expect(a[a.indexOf('-machine') + 1]).toBe('q35,usb=off');
    expect(a[a.indexOf('-device') + 1]).toBe(
      'virtio-blk-pci,drive=f,id=virtio-disk0,bootindex=1,share-rw=off',
    );
    expect(a[a.indexOf('-audiodev') + 1]).toBe('none,id=audio1');
    expect(a[a.indexOf('-object') + 1]).toBe('secret,id=masterKey0,format=raw,file=/tmp/r/master-key.aes');
    expect(keyFiles(a)).toEqual(['/tmp/r/master-key.aes']);
    expect(replayArgv(['q', '-qmp', 'unix:/x/m.sock,server=on,wait=off'], opts)).toEqual([
      '-qmp',
      'unix:/tmp/r/qmp.sock,server=on,wait=off',
    ]);
  });

  it('refuses a command line without a QMP monitor on a unix socket', () => {
    expect(() => replayArgv(['q', '-S', '-qmp', 'stdio'], opts)).toThrow(
      'the recorded command line has no QMP monitor on a unix socket',
    );
  });
});
