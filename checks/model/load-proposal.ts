import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
    // where first, as compilers say it: FILE:LINE:COL of the proposal, or the proposal and then its own file
    const line = loadErrorLine(e, file, spec);
    const at = /^(.*?:\d+(?::\d+)?): /.exec(line)?.[1];
    throw new Error(
      at?.startsWith(`${spec}:`)
        ? `${at}: cannot load the proposal file: ${line.slice(at.length + 2)}`
        : `${spec}: cannot load the proposal file: ${line.startsWith(`${spec}: `) ? line.slice(spec.length + 2) : line}`,
    );
  }
  const d = mod.default;
  if (d === undefined)
    throw new Error(`${spec}: the file has no default export (export default defineProposal({...}))`);
  if (d === null || typeof d !== 'object')
    throw new Error(
      `${spec}: the default export is ${d === null ? 'null' : `a ${typeof d}`}, not a proposal (export default defineProposal({...}))`,
    );
  // A file may export the plain object; it is checked the same way.
  return { ...defineProposal(d as ProposalInput, spec), file };
}

/** esbuild's report of a file it could not compile (tsx compiles proposal files with it) */
interface TransformError {
  errors: { text: string; location?: { file: string; line: number; column: number } | null }[];
}

/**
 * Why a file did not load, in one line that starts with where: `FILE:LINE:COL: what` for a syntax error (as
 * the compiler found it), an import of a name the module does not export, or a throw while the file ran.
 * FILE is the proposal as it was named, or the file of its own that it imports where the fault is.
 */
export function loadErrorLine(e: unknown, file: string, spec: string): string {
  const shown = (f: string) => (path.resolve(f) === file ? spec : path.relative(process.cwd(), f) || f);
  const errors = (e as Partial<TransformError> | null)?.errors;
  const loc = Array.isArray(errors) ? errors[0]?.location : undefined;
  if (Array.isArray(errors) && errors[0]) {
    const where = loc ? `${shown(loc.file)}:${loc.line}:${loc.column + 1}` : spec;
    return `${where}: ${errors[0].text}`;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  // the same report when it crossed from the module loader's thread as text: its first "FILE:L:C: ERROR:" line
  const compiled = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(err.message);
  if (compiled) return `${shown(compiled[1])}:${compiled[2]}:${compiled[3]}: ${compiled[4]}`;
  const message =
    err.message
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? 'unknown error';
  const stack = err.stack ?? '';
  // Node's own SyntaxError (a missing export) starts its stack with "FILE:LINE" of the importing file
  const head = /^(\/[^\n:]+|file:\/\/[^\n:]+):(\d+)\n/.exec(stack);
  if (head) return `${shown(asPath(head[1]))}:${head[2]}: ${message}${exportsHint(message)}`;
  // a throw while the file ran: the first frame in a file that is not fleece-lab's own nor a package's
  for (const m of stack.matchAll(/^\s+at (?:.* \()?((?:file:\/\/)?\/[^\s():]+):(\d+):(\d+)\)?$/gm)) {
    const f = asPath(m[1]);
    if (f.includes('/node_modules/') || f.startsWith(OWN)) continue;
    return `${shown(f)}:${m[2]}:${m[3]}: ${message}`;
  }
  return `${spec}: ${message}`;
}

const OWN = fileURLToPath(new URL('../../', import.meta.url));

function asPath(f: string): string {
  return f.startsWith('file://') ? fileURLToPath(f) : f;
}

/** a proposal importing a name fleece-lab does not have: the names it has */
function exportsHint(message: string): string {
  if (!/module 'fleece-lab' does not provide an export named/.test(message)) return '';
  return ` (fleece-lab exports defineProposal, kit, z, setup, ProposalError, QmpCallError and the types a proposal needs)`;
}
