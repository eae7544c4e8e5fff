import { defineRunbook, type Step } from './define.ts';
import { blockdevAdd, cbwNode, device, KiB, MiB, rawNode, SOURCE_DISK } from './steps.ts';

/**
 * The running VM of the property checker's domain (FACTS §10), the machine's side: qemu-system q35 with a
 * virtio-blk guest disk "vd0" on node "source", started with -S. Its run state, the guest's own I/O (HMP
 * qemu-io on the device's BlockBackend) and qom-set of the device's drive.
 */
export const VD0 = device('vd0', rawNode('source', '@src.raw'));
const io = (cmd: string): Step => ({ io: cmd, device: 'vd0' });
const qdev = (path: string, cmd = 'read -P 0x11 0 64k'): Step => ({ io: cmd, qdev: path });
/** qom-set of a device property (the drive, unless said) */
export const qomSet = (value: unknown, path = '/machine/peripheral/vd0', property = 'drive'): Step => ({
  qmp: 'qom-set',
  args: { path, property, value },
});

export const runState = defineRunbook({
  id: 'vm/runstate',
  title:
    '-S starts in prelaunch; cont runs the guest (RESUME), stop pauses it (STOP); repeats change nothing',
  flavour: 'system',
  files: [SOURCE_DISK],
  devices: [VD0],
  steps: [
    { qmp: 'query-status' },
    { qmp: 'stop', note: 'prelaunch stays prelaunch, no event' },
    { qmp: 'query-status' },
    { qmp: 'cont' },
    { qmp: 'query-status' },
    { qmp: 'cont', note: 'already running: {} and no event' },
    io('write -P 0x22 0 64k'),
    { qmp: 'stop' },
    { qmp: 'stop', note: 'already paused: {} and no event' },
    { qmp: 'query-status' },
    io('read -P 0x22 0 64k'),
    { qmp: 'cont', args: { x: 1 } },
    { qmp: 'query-status', args: { a: 1 } },
    { qmp: 'cont' },
    { qmp: 'stop' },
  ],
});

export const hmpQemuIoDevice = defineRunbook({
  id: 'vm/hmp-qemu-io-device',
  title:
    "HMP qemu-io -d on a guest disk: the device's BlockBackend is its virtio-backend child's; other paths refused; qemu-io's own reports",
  flavour: 'system',
  files: [SOURCE_DISK],
  devices: [VD0],
  steps: [
    io('write -P 0x22 0 64k'),
    io('read -P 0x22 0 64k'),
    qdev('vd0'),
    qdev('/machine/peripheral/vd0'),
    qdev('/machine/peripheral/vd0/virtio-backend'),
    qdev('vd0/virtio-backend/'),
    qdev('nope'),
    qdev('nope/virtio-backend'),
    qdev('virtio-backend'),
    qdev('source'),
    qdev('vd0/virtio-backend/..'),
    qdev('/machine'),
    qdev('/machine/peripheral'),
    qdev(''),
    { io: 'read -P 0x11 0 64k', node: 'vd0' },
    { io: 'read -P 0x11 64k 64k', node: 'source' },
    io('read -P 0x11 4M 64k'),
    io('write -P 0x11 4M 64k'),
    io('read -P 0x33 0 64k'),
    io('bogus'),
    io('write -z 64k 64k'),
    io('read -P 0 64k 64k'),
    io('discard 64k 64k'),
    io('flush'),
    io('read -v 0 16'),
    { qmp: 'query-block' },
  ],
});

export const hmpQemuIoCbwEio = defineRunbook({
  id: 'vm/hmp-qemu-io-cbw-eio',
  title:
    'guest writes through a break-guest-write copy-before-write whose target fails with EIO: qemu-io reports the failed write, reads and discards go on',
  flavour: 'system',
  files: [SOURCE_DISK, { name: 't.raw', format: 'raw', size: 4 * MiB }],
  devices: [VD0],
  steps: [
    blockdevAdd({
      driver: 'raw',
      'node-name': 'tgt',
      file: {
        driver: 'blkdebug',
        image: { driver: 'file', filename: '@t.raw' },
        'inject-error': [{ event: 'write_aio', errno: 5 }],
      },
    }),
    cbwNode('c1', 'source', 'tgt'),
    qomSet('c1'),
    io('write -P 0x22 0 64k'),
    io('read -P 0x11 0 64k'),
    io('write -z 64k 64k'),
    io('discard 64k 64k'),
    { qmp: 'query-block' },
    qomSet('source'),
    { qmp: 'blockdev-del', args: { 'node-name': 'c1' } },
    { qmp: 'blockdev-del', args: { 'node-name': 'tgt' } },
  ],
});

export const qomSetDrive = defineRunbook({
  id: 'vm/qom-set-drive',
  title:
    "qom-set of a guest disk's drive: QOM paths (absolute, partial), properties by type, the value's type, unknown nodes, a running guest; 5.2 refuses after realize",
  flavour: 'system',
  files: [SOURCE_DISK, { name: 'other.raw', format: 'raw', size: 4 * MiB }],
  devices: [VD0],
  steps: [
    rawNode('other', '@other.raw'),
    qomSet('other'),
    io('write -P 0x44 0 64k'),
    { io: 'read -P 0x44 0 64k', node: 'other' },
    { io: 'read -P 0x11 0 64k', node: 'source' },
    qomSet('source', '/machine/peripheral/vd0/virtio-backend'),
    qomSet('other', 'vd0'),
    qomSet('source', 'peripheral/vd0'),
    qomSet('other', 'virtio-backend'),
    qomSet('source', '/machine/peripheral/vd0/'),
    qomSet('nope'),
    qomSet(''),
    qomSet(5),
    qomSet('other', '/machine/peripheral/nope'),
    qomSet('other', ''),
    qomSet('other', '/machine/peripheral/vd0', 'drivex'),
    qomSet('x', '/machine/peripheral/vd0/virtio-backend', 'nope'),
    qomSet('other', '/machine/peripheral'),
    qomSet('other', '/machine'),
    { qmp: 'query-block' },
    // a running guest's firmware switches the disk's write cache off when it gets to it: no query-block now
    { qmp: 'cont' },
    qomSet('other'),
    io(`write -P 0x55 ${64 * KiB} 64k`),
    qomSet('source'),
    { qmp: 'stop' },
    { io: 'read -P 0x55 64k 64k', node: 'other' },
    { qmp: 'blockdev-del', args: { 'node-name': 'other' } },
  ],
});

const qomPaths = [
  qomSet('x', '/machine/peripheral/vd0'),
  qomSet('x', '/machine'),
  qomSet('x', '/machine/peripheral'),
  qomSet('x', '/'),
  qomSet('x', ''),
];

export const qomSetNoDevices = defineRunbook({
  id: 'vm/qom-set-without-devices',
  title: 'qom-set on a machine without guest disks (-M none): the machine and its containers have no drive',
  flavour: 'system',
  steps: qomPaths,
});

export const qomSetQsd = defineRunbook({
  id: 'vm/qom-set-qsd',
  title: 'qom-set on qemu-storage-daemon: there is no /machine',
  flavour: 'qsd',
  steps: qomPaths,
});

export const VM_MACHINE = [
  runState,
  hmpQemuIoDevice,
  hmpQemuIoCbwEio,
  qomSetDrive,
  qomSetNoDevices,
  qomSetQsd,
];
