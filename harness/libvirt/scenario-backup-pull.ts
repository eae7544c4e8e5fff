/**
 * Issue 13's scenario on a real libvirt: a q35 domain with two raw virtio disks; the guest writes;
 * `backup-begin` in pull mode (unix NBD socket, a qcow2 scratch file per disk); the guest writes again;
 * each disk's export is read whole with nbdcopy and must hold exactly the bytes of the point in time;
 * `domjobabort`; `blockcopy --pivot --transient-job` of the first disk, a guest write after the pivot;
 * `destroy`. The images are then compared byte for byte with ones made from the known writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BackupDisk, domainXml, pullBackupXml } from './domain-xml.js';
import { compareImages, makeImage, type PatternWrite, readExport } from './image-tools.js';
import { StepError } from './run-bounded.js';
import type { ScenarioRecorder } from './scenario-recorder.js';

export const BACKUP_PULL_DOMAIN = 'fleece-backup-pull';
const SIZE = 1 << 20;
const K = 1024;

/** What the guest writes, by disk, before the backup's point in time, after it, and after the pivot. */
export const BACKUP_PULL_WRITES = {
  before: [
    [{ pattern: 0x22, offset: 0, length: 64 * K }],
    [{ pattern: 0x44, offset: 512 * K, length: 64 * K }],
  ],
  after: [[{ pattern: 0x33, offset: 32 * K, length: 64 * K }], [{ pattern: 0x55, offset: 0, length: 4 * K }]],
  afterPivot: [{ pattern: 0x66, offset: 128 * K, length: 4 * K }],
} as const satisfies Record<string, unknown>;

const TARGETS = ['vda', 'vdb'] as const;

/** Waits (bounded) until libvirt has removed the files, e.g. a backup's scratch files after its end. */
export async function waitGone(files: readonly string[], step: string, boundMs = 15_000): Promise<void> {
  const until = Date.now() + boundMs;
  while (files.some((f) => fs.existsSync(f))) {
    if (Date.now() > until)
      throw new StepError(
        step,
        `libvirt left ${files.filter((f) => fs.existsSync(f)).join(', ')} for ${boundMs} ms`,
      );
    await sleep(50);
  }
}

export async function runBackupPull(rec: ScenarioRecorder, emulator: string): Promise<void> {
  const dir = rec.lv.dir;
  const name = BACKUP_PULL_DOMAIN;
  const images = TARGETS.map((_, i) => path.join(dir, `disk${i}.img`));
  for (const img of images) await makeImage(img, 'raw', SIZE, [], 'make disk images');
  const xml = path.join(dir, `${name}.xml`);
  fs.writeFileSync(
    xml,
    domainXml({
      name,
      emulator,
      disks: images.map((file, i) => ({ file, format: 'raw', target: TARGETS[i] ?? '' })),
    }),
  );
  await rec.virsh('define', ['define', xml]);
  await rec.virsh('start', ['start', name]);
  rec.observeCommandLine('start', name);
  for (const [i, writes] of BACKUP_PULL_WRITES.before.entries())
    for (const w of writes) await rec.guestWrite(`guest write ${TARGETS[i]}`, name, i, w);

  const socket = path.join(dir, 'nbd.sock');
  const disks: BackupDisk[] = TARGETS.map((t) => ({
    target: t,
    scratch: path.join(dir, `scratch-${t}.qcow2`),
  }));
  const backupXml = path.join(dir, 'backup.xml');
  fs.writeFileSync(backupXml, pullBackupXml(socket, disks));
  await rec.virsh('backup-begin (pull)', ['backup-begin', name, backupXml]);
  await rec.virsh('backup-dumpxml', ['backup-dumpxml', name]);
  for (const [i, writes] of BACKUP_PULL_WRITES.after.entries())
    for (const w of writes)
      await rec.guestWrite(`guest write ${TARGETS[i]} after the point in time`, name, i, w);

  rec.mark('read the exports');
  for (const [i, t] of TARGETS.entries()) {
    const got = path.join(dir, `export-${t}.raw`);
    const want = path.join(dir, `expected-${t}.raw`);
    await readExport(socket, t, got, `read export ${t}`);
    await makeImage(want, 'raw', SIZE, BACKUP_PULL_WRITES.before[i] ?? [], `expected export ${t}`);
    await compareImages(got, 'raw', want, 'raw', `export ${t} holds the point in time`);
  }

  await rec.virsh('domjobabort', ['domjobabort', name]);
  // virsh returns once the jobs are cancelled; libvirt tears the backup down (dismiss, nbd-server-stop,
  // blockdev-del, scratch files) as the jobs' events arrive: wait for it so those messages stay in this step
  await waitGone(
    disks.map((d) => d.scratch),
    'domjobabort',
  );
  await rec.virsh('domjobinfo --completed', ['domjobinfo', name, '--completed']);

  const copy = path.join(dir, 'copy-vda.qcow2');
  await rec.virsh(
    'blockcopy --pivot',
    [
      'blockcopy',
      name,
      'vda',
      copy,
      '--format',
      'qcow2',
      '--pivot',
      '--transient-job',
      '--wait',
      '--timeout',
      '60',
    ],
    { timeoutMs: 90_000 },
  );
  const blk = await rec.virsh('domblklist', ['domblklist', name]);
  if (!blk.stdout.includes(copy))
    throw new StepError('blockcopy --pivot', `vda is not on ${copy}: ${blk.stdout.trim()}`);
  for (const w of BACKUP_PULL_WRITES.afterPivot)
    await rec.guestWrite('guest write vda after the pivot', name, 0, w);
  await rec.virsh('destroy', ['destroy', name]);
  await rec.virsh('undefine', ['undefine', name]);

  rec.mark('compare the images');
  const all = (i: number): PatternWrite[] => [
    ...(BACKUP_PULL_WRITES.before[i] ?? []),
    ...(BACKUP_PULL_WRITES.after[i] ?? []),
  ];
  const wantCopy = path.join(dir, 'expected-copy-vda.raw');
  await makeImage(wantCopy, 'raw', SIZE, [...all(0), ...BACKUP_PULL_WRITES.afterPivot], 'expected copy');
  await compareImages(
    copy,
    'qcow2',
    wantCopy,
    'raw',
    'the copy holds every write, the one after the pivot too',
  );
  for (const [i, img] of images.entries()) {
    const want = path.join(dir, `expected-disk${i}.raw`);
    await makeImage(want, 'raw', SIZE, all(i), `expected disk${i}`);
    await compareImages(
      img,
      'raw',
      want,
      'raw',
      `disk${i} holds the writes before ${i === 0 ? 'the pivot' : 'destroy'}`,
    );
  }
}
