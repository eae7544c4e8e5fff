/** Helpers shared by the image tests: temp dirs, running real qemu tools, seeded randomness. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const QEMU_IMG = '/usr/bin/qemu-img';
export const QEMU_IO = '/usr/bin/qemu-io';
export const hasQemu = existsSync(QEMU_IMG) && existsSync(QEMU_IO);
export const NO_QEMU_REASON = 'qemu-img/qemu-io not installed (apt-get install qemu-utils)';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[]): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command that must succeed; the error carries its output for a readable failure. */
export function runOk(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export function makeTempDir(prefix: string): {
  dir: string;
  path: (name: string) => string;
  remove: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export { randInt, xorshift } from './prng.js';

export interface CheckReport {
  'check-errors': number;
  leaks?: number;
  corruptions?: number;
  'image-end-offset'?: number;
}

/** `qemu-img check` as JSON; exit status 0 means no errors and no leaks. */
export function qemuCheck(image: string): { code: number; report: CheckReport } {
  const r = run(QEMU_IMG, ['check', '--output=json', image]);
  return { code: r.code, report: JSON.parse(r.stdout) as CheckReport };
}

/** Index of the first differing byte, or -1; far faster than deep equality on big arrays and names the spot. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const i = Buffer.from(a.buffer, a.byteOffset, a.length).compare(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
  if (i === 0) return -1;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return k;
  return -1;
}
