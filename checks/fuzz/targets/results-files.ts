/**
 * Results, matrix and proposal-report files (conform --json, matrix, check --json) as their format modules
 * (contract/formats) parse them: the committed files, mutated structure-aware (fields deleted, retyped,
 * added, duplicated) and byte-level (bits flipped, text cut, tokens inserted). Each input is accepted, and
 * then what the contract does with an accepted file (summaries, the baseline comparison) runs without
 * throwing; or rejected with one line naming the file and where (line:column, or field). The renderers
 * downstream (merge, diff, Markdown, JUnit) are fuzzed on the same inputs by reports/fuzz-targets.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { compareToBaseline } from '../../../contract/formats/baseline.ts';
import { fileKind } from '../../../contract/formats/file-kind.ts';
import { parseMatrix } from '../../../contract/formats/matrix.ts';
import { parseProposalReports } from '../../../contract/formats/proposal-reports.ts';
import { parseResults, summarize } from '../../../contract/formats/results.ts';
import { parseJsonText } from '../../../contract/json-text.ts';
import { assertOneLine, Breach, type FuzzTarget, isRawJsError, normalizeClass } from '../core.ts';
import {
  applyByteEdits,
  applyJsonEdits,
  type ByteEdit,
  byteEdit,
  type JsonEdit,
  jsonEdit,
  pathsOf,
} from '../mutate.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
export const FILE = 'results-a.json';

function seedFiles(): string[] {
  const out: string[] = [];
  for (const dir of ['reports/baseline', 'reports/matrix']) {
    const d = path.join(ROOT, dir);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d).sort())
      if (/^(results-.*|matrix|proposals|sim-.*|qemu-.*)\.json$/.test(f)) out.push(path.join(d, f));
  }
  return out;
}

export interface Seed {
  file: string;
  value: unknown;
  paths: (string | number)[][];
}

/** the committed files, and small versions of them (a few checks or rows) that mutate fast */
export function loadSeeds(): Seed[] {
  const seeds: Seed[] = [];
  const small: Seed[] = [];
  for (const f of seedFiles()) {
    const value = JSON.parse(fs.readFileSync(f, 'utf8')) as unknown;
    seeds.push({ file: path.relative(ROOT, f), value, paths: pathsOf(value) });
    let cut: unknown;
    if (Array.isArray(value)) cut = value.slice(0, 2).map((r) => ({ ...r, findings: [] }));
    else if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      cut = Array.isArray(o.checks)
        ? { ...o, checks: o.checks.slice(0, 5) }
        : Array.isArray(o.rows)
          ? { ...o, rows: o.rows.slice(0, 4) }
          : o;
    }
    small.push({ file: `${path.relative(ROOT, f)} (cut)`, value: cut, paths: pathsOf(cut) });
  }
  if (seeds.length === 0) throw new Error('results-files: no seed files in reports/');
  return [...small, ...seeds];
}

export interface FileInput {
  seed: number;
  full: boolean;
  json: JsonEdit[];
  bytes: ByteEdit[];
}

export const fileInput: fc.Arbitrary<FileInput> = fc.record({
  seed: fc.nat(),
  full: fc.boolean().chain((b) => (b ? fc.boolean().map((c) => c && b) : fc.constant(false))),
  json: fc.array(jsonEdit, { maxLength: 4 }),
  bytes: fc.oneof(
    { arbitrary: fc.constant([] as ByteEdit[]), weight: 2 },
    { arbitrary: fc.array(byteEdit, { minLength: 1, maxLength: 4 }), weight: 1 },
  ),
});

export function textOf(seeds: Seed[], i: FileInput): string {
  const small = seeds.length / 2;
  const s = i.full ? seeds[small + (i.seed % small)] : seeds[i.seed % small];
  const v = i.json.length > 0 ? applyJsonEdits(s.value, i.json, s.paths) : s.value;
  const text = `${JSON.stringify(v, null, 1) ?? ''}\n`;
  return i.bytes.length > 0 ? applyByteEdits(text, i.bytes) : text;
}

/** A results, matrix or proposals file as its format module parses it: the parsed file, by kind. */
export type Parsed =
  | { kind: 'conformance'; results: ReturnType<typeof parseResults> }
  | { kind: 'matrix'; matrix: ReturnType<typeof parseMatrix> }
  | { kind: 'proposals'; reports: ReturnType<typeof parseProposalReports> }
  | { kind: 'other' };

export function parseFile(text: string, file: string): Parsed {
  const raw = parseJsonText(text, file);
  const kind = fileKind(raw);
  if (kind === 'conformance') return { kind, results: parseResults(raw, file) };
  if (kind === 'matrix') return { kind, matrix: parseMatrix(raw, file) };
  if (kind === 'proposals') return { kind, reports: parseProposalReports(raw, file) };
  return { kind: 'other' };
}

/** The parsers, then what the contract does with a parsed file. Returns the outcome class. */
export function loadAndUse(text: string, file: string): string {
  const p = parseFile(text, file);
  if (p.kind === 'conformance') {
    summarize(p.results);
    compareToBaseline(p.results, p.results);
    return 'accepted: results';
  }
  if (p.kind === 'matrix') return 'accepted: matrix';
  if (p.kind === 'proposals') return 'accepted: proposals';
  return 'not a results, matrix or proposals file';
}

/** "results-a.json:3:5: not valid JSON: …" -> "rejected: not JSON"; "…: checks.N.status: …" -> that path */
export function rejection(e: unknown, file: string): string {
  if (isRawJsError(e))
    throw new Breach(`raw ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? e}`);
  const msg = (e as Error).message;
  assertOneLine(msg, 'loader');
  if (!msg.includes(file)) throw new Breach(`the error does not name the file: ${msg}`);
  const rest = msg.slice(msg.indexOf(file) + file.length);
  if (/^:\d+:\d+: not valid JSON/.test(rest))
    return `rejected: not JSON: ${normalizeClass(rest.replace(/^.*not valid JSON: /, ''), 40)}`;
  // ":3: first line has no runbook", ": checks.3.status: Invalid enum value" -> the part after the place
  const at = rest.replace(/^(:\d+)*: /, '');
  const cut = at.indexOf(': ');
  return `rejected: ${normalizeClass(cut > 0 ? at.slice(0, cut) : at, 50)}`;
}

export const resultsFiles: FuzzTarget<FileInput, { seeds: Seed[] }> = {
  name: 'results-files',
  what: 'results/matrix/proposal-report files as their format modules parse them: accepted, or one line naming file and field',
  input: fileInput,
  async setup() {
    return { seeds: loadSeeds() };
  },
  exec(st, i) {
    try {
      return loadAndUse(textOf(st.seeds, i), FILE);
    } catch (e) {
      return rejection(e, FILE);
    }
  },
  async teardown() {},
  show: (i) => JSON.stringify(i),
};
