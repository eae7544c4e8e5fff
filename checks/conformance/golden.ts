import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFileStem } from '../../contract/formats/file-names.ts';
import type { Transcript } from './run-runbook.ts';

/**
 * Transcripts recorded from real QEMU (record.ts, `fleece-lab record-golden`): what the simulator is compared with when
 * that QEMU version is not on the machine. A recording names the QEMU that made it.
 */
export interface Golden {
  qemu: { version: string; package: string };
  transcript: Omit<Transcript, 'target'>;
}

const ROOT = fileURLToPath(new URL('./golden/', import.meta.url));

export function goldenPath(profile: string, id: string): string {
  return path.join(ROOT, profile, `${checkFileStem(id)}.json`);
}

export function loadGolden(profile: string, id: string): Golden | undefined {
  const p = goldenPath(profile, id);
  if (!fs.existsSync(p)) return undefined;
  return JSON.parse(fs.readFileSync(p, 'utf8')) as Golden;
}

export function saveGolden(profile: string, id: string, g: Golden): void {
  const p = goldenPath(profile, id);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, `${JSON.stringify(g, null, 1)}\n`);
}

export function withoutTarget(t: Transcript): Omit<Transcript, 'target'> {
  const { target: _t, ...rest } = t;
  return rest;
}

/** Every recording of a version (its transcripts), in file order. */
export function allGolden(profile: string): Golden[] {
  const dir = path.join(ROOT, profile);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Golden);
}
