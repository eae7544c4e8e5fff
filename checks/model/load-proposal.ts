import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineProposal, type Proposal, type ProposalInput } from '../../contract/proposals/define.ts';
import { BUNDLED, bundled } from '../../contract/proposals/index.ts';

/**
 * A proposal by bundled name or file path (its default export, checked by defineProposal). Every failure
 * is one line naming the proposal: `fleece-lab check`, replay and the fuzzers all load proposals here.
 */
export async function loadProposal(spec: string): Promise<Proposal> {
  const b = bundled(spec);
  if (b) return b;
  const file = path.resolve(spec);
  if (!fs.existsSync(file))
    throw new Error(
      `${spec}: no bundled proposal of that name and no such file (bundled: ${BUNDLED.map((p) => p.name).join(', ')})`,
    );
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (e) {
    // a syntax error or a throw while loading: the first line of it, naming the file (not a stack)
    const first = (e instanceof Error ? e.message : String(e)).split('\n').find((l) => l.trim() !== '');
    throw new Error(`${spec}: cannot load the proposal file: ${first?.trim() ?? 'unknown error'}`);
  }
  if (mod.default === undefined)
    throw new Error(`${spec}: the file has no default export (export default defineProposal({...}))`);
  // A file may export the plain object; it is checked the same way.
  return defineProposal(mod.default as ProposalInput, spec);
}
