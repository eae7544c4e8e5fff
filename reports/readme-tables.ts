import fs from 'node:fs';
import path from 'node:path';
import { type BenchFile, goalTable } from '../checks/bench/rows.ts';
import { markdown as soakMarkdown } from '../checks/soak/run.ts';
import { parseDifferential } from '../contract/formats/differential.ts';
import { CLASS_TEXT, DIVERGENCE_CLASSES } from '../contract/formats/divergence-classes.ts';
import { parseMatrix } from '../contract/formats/matrix.ts';
import { readJsonFile } from '../contract/json-text.ts';
import { matrixSummaryTable } from './matrix.ts';

/**
 * The README's measured tables, made from the committed reports (`fleece-lab readme` writes them,
 * `fleece-lab readme --check` fails when the README differs; `npm test` runs the check). Each table sits
 * between `<!-- measured:NAME -->` and `<!-- /measured:NAME -->` and starts with the report it comes from
 * and when that report was made, so a number in the README is never older than the report beside it.
 */
export const MEASURED = ['matrix', 'differential', 'fuzz', 'soak', 'bench'] as const;
export type Measured = (typeof MEASURED)[number];

const open = (name: string) => `<!-- measured:${name} -->`;
const close = (name: string) => `<!-- /measured:${name} -->`;

const int = (n: number) => n.toLocaleString('en-US');
const fromLine = (file: string, made: string | undefined) =>
  `From \`${file}\`${made ? ` (made ${made})` : ''}:`;

function matrixTable(root: string): string[] {
  const file = 'reports/matrix/matrix.json';
  const m = parseMatrix(readJsonFile(path.join(root, file)), file);
  return [fromLine(file, m.createdAt), '', ...matrixSummaryTable(m)];
}

function differentialTable(root: string): string[] {
  const file = 'reports/differential/summary.json';
  const r = parseDifferential(readJsonFile(path.join(root, file)), file);
  const count = (c: string) => r.divergences.filter((d) => d.class === c).length;
  return [
    fromLine(file, r.createdAt),
    '',
    `${int(r.replayed)} of ${int(r.traces)} saved runs replayed on every version, ${r.jobs} at a time, in ${Math.round(r.durationMs / 1000)} s.`,
    '',
    '| version | real QEMU | replayed (real) | replayed (sim) | skipped | broken |',
    '|---|---|---|---|---|---|',
    ...r.versions.map(
      (v) =>
        `| ${v.version} | ${v.real ? `${v.real.version} (${v.real.package})` : '—'} | ${v.replayed} | ${v.simReplayed} | ${v.skipped} | ${v.broken} |`,
    ),
    '',
    `${r.divergences.length} divergence(s): ${DIVERGENCE_CLASSES.map((c) => `${CLASS_TEXT[c]} ${count(c)}`).join(', ')}.`,
  ];
}

interface FuzzTarget {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  seconds: number;
  stoppedBy?: string;
}

function fuzzTable(root: string): string[] {
  const file = 'reports/fuzz.json';
  const r = readJsonFile(path.join(root, file)) as {
    createdAt?: string;
    secondsCap?: number;
    targets: FuzzTarget[];
  };
  return [
    fromLine(file, r.createdAt),
    '',
    '| target | inputs | crashes | hangs | seconds |',
    '|---|---|---|---|---|',
    ...r.targets.map(
      (t) =>
        `| ${t.target} | ${int(t.inputs)}${t.stoppedBy && t.stoppedBy !== 'count' ? ` (${r.secondsCap ?? '?'} s cap)` : ''} | ${t.crashes} | ${t.hangs} | ${t.seconds.toFixed(0)} |`,
    ),
  ];
}

function soakTable(root: string): string[] {
  const file = 'reports/soak.json';
  const r = readJsonFile(path.join(root, file)) as {
    date?: string;
    loads: Parameters<typeof soakMarkdown>[0];
    cycles: Parameters<typeof soakMarkdown>[1];
  };
  return [fromLine(file, r.date), '', ...soakMarkdown(r.loads, r.cycles).trimEnd().split('\n')];
}

/** one benchmark as bench.json has it: older files give `value`, newer ones a median and its spread */
interface Bench {
  name: string;
  value?: number;
  median?: number;
  spread?: number | string | [number, number];
  min?: number;
  max?: number;
  unit?: string;
  ratio?: number;
  goal?: string;
}

const num = (n: number | undefined) =>
  n === undefined ? '–' : Math.abs(n) >= 100 ? int(Math.round(n)) : String(Number(n.toPrecision(3)));

function spreadText(b: Bench): string {
  if (Array.isArray(b.spread)) return `${num(b.spread[0])}–${num(b.spread[1])}`;
  if (typeof b.spread === 'number') return `±${num(b.spread)}`;
  if (typeof b.spread === 'string') return b.spread;
  if (b.min !== undefined && b.max !== undefined) return `${num(b.min)}–${num(b.max)}`;
  return '–';
}

function benchTable(root: string): string[] | undefined {
  const file = 'reports/bench.json';
  if (!fs.existsSync(path.join(root, file))) return undefined;
  const raw = readJsonFile(path.join(root, file)) as
    | Bench[]
    | BenchFile
    | { createdAt?: string; date?: string; benchmarks?: Bench[]; results?: Bench[] };
  // what npm run bench writes now: one row per goal, its median and spread, met or not
  if (!Array.isArray(raw) && 'rows' in raw)
    return [
      fromLine(file, raw.at),
      '',
      `Load average ${raw.load.start} at the start, ${raw.load.end} at the end, on ${raw.cpus} cores${raw.quick ? ' (--quick)' : ''}.`,
      '',
      ...goalTable(raw.rows).split('\n'),
    ];
  const list = Array.isArray(raw) ? raw : (raw.benchmarks ?? raw.results ?? []);
  const made = Array.isArray(raw) ? undefined : (raw.createdAt ?? raw.date);
  return [
    fromLine(file, made),
    '',
    '| benchmark | value | spread | unit | ratio | goal |',
    '|---|---|---|---|---|---|',
    ...list.map(
      (b) =>
        `| ${b.name.replace(/\|/g, '\\|')} | ${num(b.median ?? b.value)} | ${spreadText(b)} | ${b.unit ?? ''} | ${b.ratio === undefined ? '–' : num(b.ratio)} | ${(b.goal ?? '').replace(/\|/g, '\\|')} |`,
    ),
  ];
}

/** each measured table's Markdown, from the reports under `root`; a report that is missing has no table */
export function measuredTables(root: string): Partial<Record<Measured, string>> {
  const make: Record<Measured, () => string[] | undefined> = {
    matrix: () => matrixTable(root),
    differential: () => differentialTable(root),
    fuzz: () => fuzzTable(root),
    soak: () => soakTable(root),
    bench: () => benchTable(root),
  };
  const out: Partial<Record<Measured, string>> = {};
  for (const k of MEASURED) {
    const lines = make[k]();
    if (lines) out[k] = lines.join('\n');
  }
  return out;
}

export interface ReadmeUpdate {
  text: string;
  /** tables whose markers the README lacks */
  missing: Measured[];
  /** tables whose text in the README differs from the reports */
  changed: Measured[];
}

/** The README with every measured table between its markers made again. */
export function updateReadme(readme: string, tables: Partial<Record<Measured, string>>): ReadmeUpdate {
  let text = readme;
  const missing: Measured[] = [];
  const changed: Measured[] = [];
  for (const k of MEASURED) {
    const body = tables[k];
    if (body === undefined) continue;
    const a = text.indexOf(open(k));
    const b = text.indexOf(close(k));
    if (a < 0 || b < a) {
      missing.push(k);
      continue;
    }
    const block = `${open(k)}\n${body}\n${close(k)}`;
    const now = text.slice(a, b + close(k).length);
    if (now !== block) changed.push(k);
    text = text.slice(0, a) + block + text.slice(b + close(k).length);
  }
  return { text, missing, changed };
}
