import { defineRunbook, type Step } from './define.ts';
import {
  bitmapAdd,
  bitmapMerge,
  bitmapRemove,
  device,
  MiB,
  qcow2File,
  qcow2Node,
  queryNodes,
} from './steps.ts';

/**
 * Checkpoints (persistent dirty bitmaps of a running VM's qcow2 disk) across a restart of QEMU on the same
 * image: a clean quit stores them (the next start loads them recording, with what they held), kill -9
 * leaves them IN_USE in the image (the next start loads them inconsistent: no data, not recording, unusable
 * until removed). The flags are read from the image itself with `qemu-img info -U` after every step that can
 * change them, as well as what QMP says. Issue 15; the property checker's restart and crash operations.
 */
const VD0 = device('vd0', qcow2Node('disk', '@vd0.qcow2'));
const DISK = qcow2File('vd0.qcow2', 1 * MiB);
const guest = (cmd: string): Step => ({ io: cmd, device: 'vd0' });
const image: Step = { imageBitmaps: '@vd0.qcow2' };

export const checkpointRestart = defineRunbook({
  id: 'checkpoints/restart',
  title:
    'persistent bitmaps across a clean quit: stored at close, loaded recording with their dirty clusters, IN_USE in the image while QEMU has it open',
  flavour: 'system',
  files: [DISK],
  devices: [VD0],
  steps: [
    image,
    bitmapAdd('disk', 'cp1', { persistent: true }),
    guest('write -P 0x21 64k 4k'),
    bitmapAdd('disk', 'cp2', { persistent: true }),
    guest('write -P 0x22 192k 64k'),
    bitmapAdd('disk', 'off', { persistent: true, disabled: true }),
    image,
    { restart: 'quit' },
    image,
    queryNodes,
    guest('read -P 0x21 64k 4k'),
    guest('write -P 0x23 512k 4k'),
    bitmapRemove('disk', 'cp2'),
    queryNodes,
    { restart: 'quit' },
    image,
    queryNodes,
  ],
});

export const checkpointCrash = defineRunbook({
  id: 'checkpoints/crash',
  title:
    'persistent bitmaps across kill -9: IN_USE stays in the image; the next start loads them inconsistent (not recording, count 0), refuses them to merge, and lets them be removed',
  flavour: 'system',
  files: [DISK],
  devices: [VD0],
  steps: [
    bitmapAdd('disk', 'cp1', { persistent: true }),
    guest('write -P 0x21 64k 4k'),
    { restart: 'quit' },
    image,
    bitmapAdd('disk', 'cp2', { persistent: true }),
    guest('write -P 0x22 192k 4k'),
    guest('flush'),
    { restart: 'kill' },
    image,
    queryNodes,
    guest('read -P 0x22 192k 4k'),
    bitmapAdd('disk', 'tmp', { persistent: false, disabled: true }),
    bitmapMerge('disk', 'tmp', ['cp1']),
    { qmp: 'block-dirty-bitmap-enable', args: { node: 'disk', name: 'cp1' } },
    { qmp: 'block-dirty-bitmap-clear', args: { node: 'disk', name: 'cp1' } },
    bitmapAdd('disk', 'cp1', { persistent: true }),
    bitmapRemove('disk', 'cp1'),
    bitmapAdd('disk', 'cp1', { persistent: true }),
    guest('write -P 0x23 512k 4k'),
    queryNodes,
    { restart: 'quit' },
    image,
    queryNodes,
  ],
});

export const CHECKPOINTS = [checkpointRestart, checkpointCrash];
