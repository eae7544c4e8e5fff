/**
 * Issue 15's scenario on a real libvirt: checkpoints and incremental backup as libvirt 9.0 lowers them,
 * on a q35 domain with two qcow2 virtio disks (persistent bitmaps need qcow2).
 *
 *   W0; checkpoint cp1; W1; checkpoint cp2; W2; checkpoint cp3; W3
 *   full pull backup: each export must hold W0..W3 exactly
 *   incremental pull backup from cp1: the exported qemu:dirty-bitmap context must be W1..W3 exactly
 *   checkpoint-delete cp2 (a middle one): the incremental from cp1 must still be W1..W3
 *   incremental pull backup from cp3 that also creates checkpoint cp4: W3; then W4
 *   libvirtd restarts while the domain runs (it re-connects to the QEMU)
 *   destroy (QEMU ends on SIGTERM, writing its bitmaps), the images' bitmaps read with qemu-img info;
 *   start; the incremental from cp1 must be W1..W4
 *   kill -9 of QEMU: the images' bitmaps read again; start; what an incremental from cp1 and a new
 *   checkpoint then do is recorded (refusals included), not asserted
 */
import fs from 'node:fs';
import path from 'node:path';
import { type BackupDisk, domainXml, pullBackupXml } from './domain-xml.js';
import {
  compareImages,
  type DirtyRange,
  imageBitmaps,
  makeImage,
  type PatternWrite,
  readDirtyMap,
  readExport,
} from './image-tools.js';
import { StepError } from './run-bounded.js';
import { waitGone } from './scenario-backup-pull.js';
import type { ScenarioRecorder } from './scenario-recorder.js';

export const CHECKPOINTS_DOMAIN = 'fleece-checkpoints';
const M = 1 << 20;
const K = 1024;
const SIZE = 4 * M;
const TARGETS = ['vda', 'vdb'] as const;

type DiskWrites = readonly [readonly PatternWrite[], readonly PatternWrite[]];

/** The guest's writes, by phase and disk: 64 KiB (one bitmap granule) each, at distinct offsets. */
export const CHECKPOINT_WRITES: Readonly<Record<'W0' | 'W1' | 'W2' | 'W3' | 'W4', DiskWrites>> = {
  W0: [[{ pattern: 0x10, offset: 0, length: 64 * K }], [{ pattern: 0x11, offset: 0, length: 64 * K }]],
  W1: [[{ pattern: 0x20, offset: M, length: 64 * K }], [{ pattern: 0x21, offset: M, length: 64 * K }]],
  W2: [[{ pattern: 0x30, offset: 2 * M, length: 64 * K }], []],
  W3: [
    [{ pattern: 0x40, offset: 3 * M, length: 64 * K }],
    [{ pattern: 0x41, offset: 3 * M, length: 64 * K }],
  ],
  W4: [
    [{ pattern: 0x50, offset: 128 * K, length: 64 * K }],
    [{ pattern: 0x51, offset: 128 * K, length: 64 * K }],
  ],
};

type Phase = keyof typeof CHECKPOINT_WRITES;

function writesOf(disk: number, phases: readonly Phase[]): PatternWrite[] {
  return phases.flatMap((p) => [...(CHECKPOINT_WRITES[p][disk as 0 | 1] ?? [])]);
}

/** The dirty ranges a bitmap covering `phases` must report for disk `disk` (sorted, adjacent merged). */
export function expectedDirty(disk: number, phases: readonly Phase[]): DirtyRange[] {
  const ws = writesOf(disk, phases).sort((a, b) => a.offset - b.offset);
  const out: DirtyRange[] = [];
  for (const w of ws) {
    const last = out.at(-1);
    if (last && last.offset + last.length === w.offset) last.length += w.length;
    else out.push({ offset: w.offset, length: w.length });
  }
  return out;
}

function sameRanges(a: readonly DirtyRange[], b: readonly DirtyRange[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

class CheckpointRun {
  readonly dir: string;
  readonly images: string[];
  private n = 0;

  constructor(
    readonly rec: ScenarioRecorder,
    readonly name: string,
  ) {
    this.dir = rec.lv.dir;
    this.images = TARGETS.map((_, i) => path.join(this.dir, `disk${i}.qcow2`));
  }

  async write(phase: Phase): Promise<void> {
    for (const [i, ws] of CHECKPOINT_WRITES[phase].entries())
      for (const w of ws) await this.rec.guestWrite(`guest write ${phase} ${TARGETS[i]}`, this.name, i, w);
  }

  async checkpoint(cp: string): Promise<void> {
    await this.rec.virsh(`checkpoint-create-as ${cp}`, ['checkpoint-create-as', this.name, cp]);
  }

  /**
   * A pull backup (full, or incremental from a checkpoint, optionally creating a checkpoint), the exports
   * read and checked, then domjobabort. Returns the dirty map per disk for an incremental one.
   */
  async backup(
    label: string,
    opts: {
      incremental?: string;
      newCheckpoint?: string;
      content: readonly Phase[];
      dirty?: readonly Phase[];
    },
  ): Promise<DirtyRange[][]> {
    const k = ++this.n;
    const socket = path.join(this.dir, `nbd-${k}.sock`);
    const disks: BackupDisk[] = TARGETS.map((t) => ({
      target: t,
      scratch: path.join(this.dir, `scratch-${k}-${t}.qcow2`),
    }));
    const xml = path.join(this.dir, `backup-${k}.xml`);
    fs.writeFileSync(xml, pullBackupXml(socket, disks, opts.incremental));
    const args = ['backup-begin', this.name, xml];
    if (opts.newCheckpoint) {
      const cpXml = path.join(this.dir, `checkpoint-${k}.xml`);
      fs.writeFileSync(cpXml, `<domaincheckpoint><name>${opts.newCheckpoint}</name></domaincheckpoint>\n`);
      args.push(cpXml);
    }
    await this.rec.virsh(`backup-begin ${label}`, args);
    const dump = await this.rec.virsh(`backup-dumpxml ${label}`, ['backup-dumpxml', this.name]);
    this.rec.mark(`read the exports of ${label}`);
    const maps: DirtyRange[][] = [];
    for (const [i, t] of TARGETS.entries()) {
      const got = path.join(this.dir, `export-${k}-${t}.raw`);
      const want = path.join(this.dir, `expected-${k}-${t}.raw`);
      await readExport(socket, t, got, `read export ${t} of ${label}`);
      await makeImage(want, 'raw', SIZE, writesOf(i, opts.content), `expected export ${t} of ${label}`);
      await compareImages(got, 'raw', want, 'raw', `export ${t} of ${label} holds the point in time`);
      if (opts.incremental) {
        const bitmap = new RegExp(`name='${t}'[^>]*exportbitmap='([^']+)'`).exec(dump.stdout)?.[1];
        if (!bitmap)
          throw new StepError(`backup-dumpxml ${label}`, `no exportbitmap for ${t}: ${dump.stdout}`);
        const map = await readDirtyMap(
          socket,
          t,
          `qemu:dirty-bitmap:${bitmap}`,
          `dirty map ${t} of ${label}`,
        );
        maps.push(map);
        const want = expectedDirty(i, opts.dirty ?? []);
        if (!sameRanges(map, want))
          throw new StepError(
            `dirty map ${t} of ${label}`,
            `qemu:dirty-bitmap:${bitmap} is ${JSON.stringify(map)}, the writes since ${opts.incremental} are ${JSON.stringify(want)}`,
          );
      }
    }
    if (opts.incremental)
      this.rec.observe(`dirty maps of ${label}`, Object.fromEntries(TARGETS.map((t, i) => [t, maps[i]])));
    await this.rec.virsh(`domjobabort ${label}`, ['domjobabort', this.name]);
    await waitGone(
      disks.map((d) => d.scratch),
      `domjobabort ${label}`,
    );
    return maps;
  }

  async bitmapsOfImages(label: string): Promise<void> {
    const seen: Record<string, unknown> = {};
    for (const [i, img] of this.images.entries()) seen[TARGETS[i] ?? img] = await imageBitmaps(img, label);
    this.rec.observe(label, seen);
  }

  async checkpointList(label: string): Promise<void> {
    const r = await this.rec.virsh(label, ['checkpoint-list', this.name, '--parent', '--topological']);
    this.rec.observe(label, r.stdout.trim());
  }
}

export async function runCheckpoints(rec: ScenarioRecorder, emulator: string): Promise<void> {
  const run = new CheckpointRun(rec, CHECKPOINTS_DOMAIN);
  const name = run.name;
  for (const img of run.images) await makeImage(img, 'qcow2', SIZE, [], 'make disk images');
  const xml = path.join(run.dir, `${name}.xml`);
  fs.writeFileSync(
    xml,
    domainXml({
      name,
      emulator,
      disks: run.images.map((file, i) => ({ file, format: 'qcow2', target: TARGETS[i] ?? '' })),
    }),
  );
  await rec.virsh('define', ['define', xml]);
  await rec.virsh('start', ['start', name]);
  rec.observeCommandLine('start', name);

  await run.write('W0');
  await run.checkpoint('cp1');
  await run.write('W1');
  await run.checkpoint('cp2');
  await run.write('W2');
  await run.checkpoint('cp3');
  await run.write('W3');
  await run.checkpointList('checkpoint-list');
  await run.backup('full', { content: ['W0', 'W1', 'W2', 'W3'] });
  await run.backup('incremental from cp1', {
    incremental: 'cp1',
    content: ['W0', 'W1', 'W2', 'W3'],
    dirty: ['W1', 'W2', 'W3'],
  });

  await rec.virsh('checkpoint-delete cp2', ['checkpoint-delete', name, 'cp2']);
  await run.checkpointList('checkpoint-list after deleting cp2');
  await run.backup('incremental from cp1 after deleting cp2', {
    incremental: 'cp1',
    content: ['W0', 'W1', 'W2', 'W3'],
    dirty: ['W1', 'W2', 'W3'],
  });
  await run.backup('incremental from cp3 creating cp4', {
    incremental: 'cp3',
    newCheckpoint: 'cp4',
    content: ['W0', 'W1', 'W2', 'W3'],
    dirty: ['W3'],
  });
  await run.write('W4');

  rec.mark('libvirtd restart');
  await rec.lv.stopDaemon('libvirtd restart');
  await rec.lv.startDaemon();
  await rec.settle();
  await run.checkpointList('checkpoint-list after libvirtd restart');
  await run.backup('incremental from cp1 after libvirtd restart', {
    incremental: 'cp1',
    content: ['W0', 'W1', 'W2', 'W3', 'W4'],
    dirty: ['W1', 'W2', 'W3', 'W4'],
  });

  await rec.virsh('destroy', ['destroy', name]);
  await run.bitmapsOfImages('bitmaps in the images after destroy');
  await rec.virsh('start again', ['start', name]);
  await run.backup('incremental from cp1 after destroy and start', {
    incremental: 'cp1',
    content: ['W0', 'W1', 'W2', 'W3', 'W4'],
    dirty: ['W1', 'W2', 'W3', 'W4'],
  });

  rec.mark('kill -9 QEMU');
  process.kill(rec.lv.domainPid(name), 'SIGKILL');
  rec.observe('domstate after kill -9', await rec.waitState('kill -9 QEMU', name, 'shut off'));
  await rec.settle();
  await run.bitmapsOfImages('bitmaps in the images after kill -9');
  await rec.virsh('start after kill -9', ['start', name], { allowFailure: true });
  await run.checkpointList('checkpoint-list after kill -9 and start');
  await recordAttempt(run, 'incremental from cp1 after kill -9', 'cp1');
  await rec.virsh('checkpoint-create-as cp5 after kill -9', ['checkpoint-create-as', name, 'cp5'], {
    allowFailure: true,
  });
  await rec.virsh('destroy at the end', ['destroy', name], { allowFailure: true });
  await rec.virsh('undefine', ['undefine', name, '--checkpoints-metadata']);
}

/** An incremental backup whose outcome is the finding: refused or not, and if not, what it exports. */
async function recordAttempt(run: CheckpointRun, label: string, from: string): Promise<void> {
  const dir = run.dir;
  const socket = path.join(dir, 'nbd-attempt.sock');
  const disks: BackupDisk[] = TARGETS.map((t) => ({
    target: t,
    scratch: path.join(dir, `scratch-attempt-${t}.qcow2`),
  }));
  const xml = path.join(dir, 'backup-attempt.xml');
  fs.writeFileSync(xml, pullBackupXml(socket, disks, from));
  const r = await run.rec.virsh(`backup-begin ${label}`, ['backup-begin', run.name, xml], {
    allowFailure: true,
  });
  if (r.code !== 0) return;
  const dump = await run.rec.virsh(`backup-dumpxml ${label}`, ['backup-dumpxml', run.name]);
  const maps: Record<string, unknown> = {};
  for (const t of TARGETS) {
    const bitmap = new RegExp(`name='${t}'[^>]*exportbitmap='([^']+)'`).exec(dump.stdout)?.[1];
    maps[t] = bitmap
      ? await readDirtyMap(socket, t, `qemu:dirty-bitmap:${bitmap}`, `dirty map ${t} of ${label}`).catch(
          (e: Error) => e.message,
        )
      : 'no exportbitmap';
  }
  run.rec.observe(`dirty maps of ${label}`, maps);
  await run.rec.virsh(`domjobabort ${label}`, ['domjobabort', run.name]);
  await waitGone(
    disks.map((d) => d.scratch),
    `domjobabort ${label}`,
  );
}
