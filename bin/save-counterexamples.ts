import fs from 'node:fs';
import path from 'node:path';
import type { ProposalReport } from '../checks/model/check.ts';
import { counterexampleFileName } from '../contract/formats/saved-runs.ts';

/**
 * Each counterexample of a report as `<proposal>.<property>.json` in `dir`: what `fleece-lab replay` reads
 * (the domain, the profile, the operations and the outcome they had). Returns the files written.
 */
export function saveCounterexamples(dir: string, r: ProposalReport): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const v of r.verdicts) {
    if (!v.counterexample) continue;
    const file = path.join(dir, counterexampleFileName(r.proposal, v.property));
    fs.writeFileSync(
      file,
      `${JSON.stringify({ proposal: r.proposal, ...fileFrom(dir, r.file), domain: r.domain, profile: r.profile, ...v.counterexample }, null, 1)}\n`,
    );
    files.push(file);
  }
  return files;
}

/** a proposal file of the user's, relative to the folder of what names it (the two move together) */
export function fileFrom(dir: string, file: string | undefined): { file?: string } {
  return file ? { file: path.relative(path.resolve(dir), file) } : {};
}
