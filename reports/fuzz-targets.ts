/**
 * The renderers fuzzed: what the reports do with every file the format modules accept. The inputs are those
 * of checks/fuzz/targets (results-files, trace-files): the committed files mutated; an input the parser
 * rejects is classed as it is there, one it accepts goes through merge, diff, Markdown, JUnit and HTML,
 * which must not throw. Runs after the checks' targets (bin/dev/fuzz.ts lists both).
 */
import type { FuzzTarget } from '../checks/fuzz/core.ts';
import {
  FILE,
  type FileInput,
  fileInput,
  loadSeeds as loadFileSeeds,
  parseFile,
  rejection,
  type Seed,
  textOf,
} from '../checks/fuzz/targets/results-files.ts';
import {
  jsonlText,
  loadSeeds as loadTraceSeeds,
  type Seeds,
  type TraceInput,
  traceInput,
} from '../checks/fuzz/targets/trace-files.ts';
import { parseJsonl, type TranscriptData } from '../contract/formats/transcripts.ts';
import { diffMarkdown, diffMatrices, diffResults } from './diff.ts';
import { diffHtml, matrixPage, transcriptHtml } from './html.ts';
import { toJUnit } from './junit.ts';
import { toMarkdown } from './markdown.ts';
import { matrixMarkdown, summarizeMatrix } from './matrix.ts';
import { mergeMatrices, mergeProposals, mergeResults } from './merge.ts';

/** An accepted file through the renderers; returns the outcome class. */
function render(text: string): string {
  const p = parseFile(text, FILE);
  if (p.kind === 'conformance') {
    const r = p.results;
    const m = mergeResults([
      { file: FILE, results: r },
      { file: 'b.json', results: r },
    ]);
    const d = diffResults({ a: r, b: m, aFile: FILE, bFile: 'b.json' });
    diffMarkdown(d);
    diffHtml(d);
    toMarkdown([r]);
    toJUnit([r]);
    return 'accepted: results';
  }
  if (p.kind === 'matrix') {
    const merged = mergeMatrices([
      { file: FILE, matrix: p.matrix },
      { file: 'b.json', matrix: p.matrix },
    ]);
    summarizeMatrix(merged);
    matrixMarkdown(merged);
    matrixPage(merged);
    const d = diffMatrices(p.matrix, merged, FILE, 'b.json');
    diffMarkdown(d);
    diffHtml(d);
    return 'accepted: matrix';
  }
  if (p.kind === 'proposals') {
    mergeProposals([
      { file: FILE, reports: p.reports },
      { file: 'b.json', reports: p.reports },
    ]);
    return 'accepted: proposals';
  }
  return 'not a results, matrix or proposals file';
}

export const resultsReports: FuzzTarget<FileInput, { seeds: Seed[] }> = {
  name: 'results-reports',
  what: 'results/matrix/proposal-report files through merge, diff, Markdown, JUnit and HTML: rendered, or rejected in one line',
  input: fileInput,
  async setup() {
    return { seeds: loadFileSeeds() };
  },
  exec(st, i) {
    const text = textOf(st.seeds, i);
    try {
      return render(text);
    } catch (e) {
      return rejection(e, FILE);
    }
  },
  async teardown() {},
  show: (i) => JSON.stringify(i),
};

export const tracePages: FuzzTarget<TraceInput, { seeds: Seeds }> = {
  name: 'trace-pages',
  what: 'conform --traces JSONL transcripts through the HTML page of a check: rendered, or rejected in one line',
  input: traceInput,
  async setup() {
    return { seeds: loadTraceSeeds() };
  },
  exec(st, i) {
    const file = 'trace.jsonl';
    let t: TranscriptData;
    try {
      t = parseJsonl(jsonlText(st.seeds.jsonl[i.seed % st.seeds.jsonl.length], i), file);
    } catch (e) {
      return `jsonl ${rejection(e, file)}`;
    }
    transcriptHtml(t);
    return `jsonl accepted, ${t.steps.length === 0 ? 'no steps' : 'steps'}, ${t.events.length === 0 ? 'no events' : 'events'}`;
  },
  async teardown() {},
  show: (i) => JSON.stringify(i),
};

/** The fuzz targets of the renderers, run after checks/fuzz/targets/index.ts TARGETS. */
// biome-ignore lint/suspicious/noExplicitAny: a list of targets of different input and state types
export const REPORT_FUZZ_TARGETS: FuzzTarget<any, any>[] = [resultsReports, tracePages];
