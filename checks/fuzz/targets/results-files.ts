/**
 * Results, matrix and proposal-report files (conform --json, matrix, check --json) as diff, merge and
 * conform --baseline load them: the committed files, mutated structure-aware (fields deleted, retyped,
 * added, duplicated) and byte-level (bits flipped, text cut, tokens inserted). Each input is accepted, and
 * then everything downstream of the loaders (summaries, baseline comparison, merge, diff, Markdown, JUnit)
 * runs without throwing; or rejected with one line naming the file and where (line:column, or field).
 * One input in 250 goes through the commands themselves (`fleece-lab diff` and `merge`, on a scratch file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { cmdDiff } from '../../../bin/diff-cmd.ts';
import { cmdMerge } from '../../../bin/merge-cmd.ts';
import { compareToBaseline } from '../../../contract/formats/baseline.ts';
import { parseMatrix } from '../../../contract/formats/matrix.ts';
import { parseProposalReports } from '../../../contract/formats/proposal-reports.ts';
import { parseResults, summarize } from '../../../contract/formats/results.ts';
import { parseJsonText } from '../../../contract/json-text.ts';
import { diffMarkdown, diffMatrices, diffResults } from '../../../reports/diff.ts';
import { toJUnit } from '../../../reports/junit.ts';
import { toMarkdown } from '../../../reports/markdown.ts';
import { matrixMarkdown, summarizeMatrix } from '../../../reports/matrix.ts';
import { mergeMatrices, mergeProposals, mergeResults } from '../../../reports/merge.ts';
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
const FILE = 'results-a.json';

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

interface Seed {
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
  /** through the commands themselves (one input in 250) */
  cmd: boolean;
  seed: number;
  full: boolean;
  json: JsonEdit[];
  bytes: ByteEdit[];
}

const fileInput: fc.Arbitrary<FileInput> = fc.record({
  cmd: fc.nat({ max: 249 }).map((x) => x === 0),
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

/** The loaders of diff, merge and --baseline, then the code they feed. Returns the outcome class. */
export function loadAndUse(text: string, file: string): string {
  const raw = parseJsonText(text, file);
  const kind = Array.isArray(raw) ? 'proposals' : ((raw as { kind?: unknown } | null)?.kind ?? '?');
  if (kind === 'conformance') {
    const r = parseResults(raw, file);
    summarize(r);
    compareToBaseline(r, r);
    const m = mergeResults([
      { file, results: r },
      { file: 'b.json', results: r },
    ]);
    const d = diffResults({ a: r, b: m, aFile: file, bFile: 'b.json' });
    diffMarkdown(d);
    toMarkdown([r]);
    toJUnit([r]);
    return 'accepted: results';
  }
  if (kind === 'matrix') {
    const m = parseMatrix(raw, file);
    const merged = mergeMatrices([
      { file, matrix: m },
      { file: 'b.json', matrix: m },
    ]);
    summarizeMatrix(merged);
    matrixMarkdown(merged);
    diffMarkdown(diffMatrices(m, merged, file, 'b.json'));
    return 'accepted: matrix';
  }
  if (kind === 'proposals') {
    const p = parseProposalReports(raw, file);
    mergeProposals([
      { file, reports: p },
      { file: 'b.json', reports: p },
    ]);
    return 'accepted: proposals';
  }
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

interface State {
  seeds: Seed[];
  dir: string;
}

/** the commands themselves, on a scratch file: a one-line error or an exit status, never a raw TypeError */
async function viaCommands(st: State, text: string): Promise<void> {
  const f = path.join(st.dir, FILE);
  fs.writeFileSync(f, text);
  const out = path.join(st.dir, 'out.json');
  const log = console.log;
  const err = console.error;
  console.log = () => {};
  console.error = () => {};
  try {
    for (const run of [() => cmdDiff([f, f, '--json', out]), () => cmdMerge([f, '--out', out])]) {
      try {
        await run();
      } catch (e) {
        if (isRawJsError(e)) throw new Breach(`command: raw ${(e as Error)?.name}: ${(e as Error)?.message}`);
        assertOneLine((e as Error).message, 'command');
      }
    }
  } finally {
    console.log = log;
    console.error = err;
    for (const x of fs.readdirSync(st.dir)) fs.rmSync(path.join(st.dir, x), { recursive: true, force: true });
  }
}

export const resultsFiles: FuzzTarget<FileInput, State> = {
  name: 'results-files',
  what: 'results/matrix/proposal-report files as diff, merge and --baseline load them: accepted, or one line naming file and field',
  input: fileInput,
  async setup() {
    return { seeds: loadSeeds(), dir: fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-fuzz-results-')) };
  },
  async exec(st, i) {
    const text = textOf(st.seeds, i);
    if (i.cmd) await viaCommands(st, text);
    try {
      return loadAndUse(text, FILE);
    } catch (e) {
      return rejection(e, FILE);
    }
  },
  async teardown(st) {
    fs.rmSync(st.dir, { recursive: true, force: true });
  },
  show: (i) => JSON.stringify(i),
};
