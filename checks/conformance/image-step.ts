import { spawnSync } from 'node:child_process';
import type { ImageBitmap } from '../../contract/port.ts';

/**
 * What a qcow2 image holds of persistent bitmaps, read with `qemu-img info -U` (the image may be open in a
 * running QEMU): the same tool on the simulator's files and on real QEMU's, so the flags come from the
 * image's bitmap directory itself, not from what QMP says.
 */
const TOOL_BOUND_MS = 30_000;

export function imageBitmaps(file: string, img: string[] = ['qemu-img']): ImageBitmap[] {
  const r = spawnSync(img[0], [...img.slice(1), 'info', '-U', '--output=json', file], {
    stdio: 'pipe',
    timeout: TOOL_BOUND_MS,
    killSignal: 'SIGKILL',
  });
  if (r.error) throw new Error(`qemu-img info ${file}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`qemu-img info ${file}: exit ${r.status}: ${String(r.stderr).trim()}`);
  const info = JSON.parse(String(r.stdout)) as {
    'format-specific'?: { data?: { bitmaps?: ImageBitmap[] } };
  };
  return info['format-specific']?.data?.bitmaps ?? [];
}
