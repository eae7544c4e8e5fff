/**
 * The bytes side of a libvirt scenario: images with known writes (qemu-img + qemu-io of the host), an NBD
 * export read whole with nbdcopy, byte comparison with qemu-img compare, a dirty-bitmap context read with
 * our NBD client, and the bitmaps an image holds (qemu-img info). All bounded; a failure names its step.
 */
import type { DirtyRange } from '../../contract/port.ts';
import { dirtyRanges } from '../clients/dirty-map.ts';
import { NbdClient } from '../clients/nbd-client.js';
import { runBounded, StepError } from './run-bounded.js';

export const TOOL_BOUND_MS = 60_000;

export interface PatternWrite {
  pattern: number;
  offset: number;
  length: number;
}

/** "write -P 0x22 65536 4096" */
export function qemuIoWrite(w: PatternWrite): string {
  return `write -P 0x${w.pattern.toString(16).padStart(2, '0')} ${w.offset} ${w.length}`;
}

/** Creates `file` and writes the patterns into it: the image a guest's writes should have produced. */
export async function makeImage(
  file: string,
  format: 'raw' | 'qcow2',
  size: number,
  writes: readonly PatternWrite[],
  step = `make ${file}`,
): Promise<void> {
  await runBounded(['qemu-img', 'create', '-q', '-f', format, file, String(size)], {
    step,
    timeoutMs: TOOL_BOUND_MS,
  });
  for (const w of writes)
    await runBounded(['qemu-io', '-f', format, '-c', qemuIoWrite(w), file], {
      step,
      timeoutMs: TOOL_BOUND_MS,
    });
}

export function nbdUri(socket: string, exportName: string): string {
  return `nbd+unix:///${encodeURIComponent(exportName)}?socket=${socket}`;
}

/** Copies an NBD export whole into a raw file. */
export async function readExport(
  socket: string,
  exportName: string,
  out: string,
  step: string,
): Promise<void> {
  await runBounded(['nbdcopy', nbdUri(socket, exportName), out], { step, timeoutMs: TOOL_BOUND_MS });
}

/** Throws (naming the step and qemu-img's first difference) unless the two images hold the same bytes. */
export async function compareImages(
  a: string,
  aFormat: 'raw' | 'qcow2',
  b: string,
  bFormat: 'raw' | 'qcow2',
  step: string,
): Promise<void> {
  // -U: one of them may be open in a running QEMU
  const r = await runBounded(['qemu-img', 'compare', '-U', '-f', aFormat, '-F', bFormat, a, b], {
    step,
    timeoutMs: TOOL_BOUND_MS,
    allowFailure: true,
  });
  if (r.code !== 0)
    throw new StepError(step, `${a} and ${b} differ: ${(r.stdout + r.stderr).trim().split('\n').at(-1)}`);
}

export type { DirtyRange };

/** The dirty ranges an export's `qemu:dirty-bitmap:NAME` context reports, merged, over the whole export. */
export async function readDirtyMap(
  socket: string,
  exportName: string,
  context: string,
  step: string,
): Promise<DirtyRange[]> {
  let client: NbdClient | undefined;
  try {
    client = await NbdClient.connect(
      { path: socket },
      { exportName, metaContexts: [context], timeoutMs: 10_000 },
    );
    return await dirtyRanges(client, context);
  } catch (e) {
    if (e instanceof StepError) throw e;
    throw new StepError(step, `reading ${context} of ${exportName}: ${(e as Error).message}`, { cause: e });
  } finally {
    await client?.disconnect().catch(() => {});
  }
}

export interface ImageBitmap {
  name: string;
  granularity: number;
  flags: string[];
}

/** The persistent bitmaps a qcow2 image holds, with their flags ('auto', 'in-use'), read with qemu-img info. */
export async function imageBitmaps(file: string, step: string): Promise<ImageBitmap[]> {
  const r = await runBounded(['qemu-img', 'info', '-U', '--output=json', file], {
    step,
    timeoutMs: TOOL_BOUND_MS,
  });
  const info = JSON.parse(r.stdout) as {
    'format-specific'?: { data?: { bitmaps?: ImageBitmap[] } };
  };
  return info['format-specific']?.data?.bitmaps ?? [];
}
