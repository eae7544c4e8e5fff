import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseJsonLine, parseJsonText } from '../json-text.ts';
import type { DomainKind } from '../port.ts';
import { type OpSpec, savedOpSchema } from '../proposals/ops.ts';
import { parseWith } from './parse-with.ts';

export type { OpSpec };

/**
 * Saved runs of `fleece-lab check`: the domain and the operations of a run of the property checker
 * (OpSpec, contract/proposals/ops.ts), as plain data so that a run replays on another target. Three files carry them:
 * - `<proposal>.runs.jsonl` (check --save-runs): every generated run, one JSON object a line;
 * - `<proposal>.<property>.json`: a counterexample, with the property it broke and why;
 * - `minimal/<id>.json` of a differential replay: a divergence's minimal trace, in the counterexample's shape.
 * `fleece-lab replay` reads the last two; the differential replay reads them all.
 */
/** runs saved before the VM domain were made on qemu-storage-daemon */
const domain = z.enum(['vm', 'qsd']).default('qsd');
const ops = z.array(savedOpSchema);
/** a proposal file of the user's, relative to the saved file's folder (a bundled proposal has none) */
const file = z.string().optional();

/** what every saved run has: the proposal it ran and its operations (other members, like the seed, are not read) */
export const savedRunSchema = z.object({ proposal: z.string(), file, domain, ops });

/** a counterexample (or a minimal trace): the run, the profile it ran on and the outcome it had */
export const savedTraceSchema = z.object({
  proposal: z.string(),
  file,
  domain,
  profile: z.string(),
  property: z.string(),
  detail: z.string(),
  ops,
});
export type SavedTrace = z.infer<typeof savedTraceSchema>;

export interface SavedRun {
  /** where it came from: FILE or FILE:LINE */
  source: string;
  /** the bundled proposal's name, or the path of the proposal file (from the working folder) */
  proposal: string;
  domain: DomainKind;
  ops: OpSpec[];
}

export function runsFileName(proposal: string): string {
  return `${proposal}.runs.jsonl`;
}

export function counterexampleFileName(proposal: string, property: string): string {
  return `${proposal}.${property}.json`;
}

/** A trace saved by `fleece-lab check`, or one line naming the file and the field (or line:column) that is wrong. */
export function parseSavedTrace(text: string, file: string): SavedTrace {
  return parseWith(savedTraceSchema, parseJsonText(text, file), file);
}

/**
 * The saved runs of a file or a folder (its *.runs.jsonl and *.json files, in name order), each named by
 * FILE or FILE:LINE relative to the working folder. A JSON value without a proposal and a list of operations
 * is not a saved run and is passed over; one that has them is parsed, or fails with one line naming the file,
 * the line and the field.
 */
export function readSavedRuns(where: string): SavedRun[] {
  const files = fs.statSync(where).isDirectory()
    ? fs
        .readdirSync(where)
        .sort()
        .filter((f) => f.endsWith('.jsonl') || f.endsWith('.json'))
        .map((f) => path.join(where, f))
    : [where];
  const out: SavedRun[] = [];
  const add = (raw: unknown, source: string) => {
    const r = raw as { proposal?: unknown; ops?: unknown } | null;
    if (typeof r?.proposal !== 'string' || !Array.isArray(r.ops)) return;
    const run = parseWith(savedRunSchema, raw, source);
    const proposal = run.file ? path.join(path.dirname(source.replace(/:\d+$/, '')), run.file) : run.proposal;
    out.push({ source, proposal, domain: run.domain, ops: run.ops });
  };
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    const rel = path.relative(process.cwd(), f);
    if (f.endsWith('.jsonl'))
      text.split('\n').forEach((l, i) => {
        if (l.trim() !== '') add(parseJsonLine(l, rel, i + 1), `${rel}:${i + 1}`);
      });
    else add(parseJsonText(text, rel), rel);
  }
  return out;
}
