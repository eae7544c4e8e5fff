import type { Spread } from './spread.ts';

/**
 * What `npm run bench` writes to reports/bench.json: one row per goal of issue 16 (and the older measures
 * kept beside them), each with the goal, the median and spread measured, and whether the median meets it.
 * `--compare` matches rows by id.
 */
export interface Goal {
  /** `>=`: the measure must reach the value; `<=`: stay at or under it */
  op: '>=' | '<=';
  value: number;
}

export interface BenchRow {
  /** stable across runs: what --compare matches on */
  id: string;
  name: string;
  goal: Goal;
  unit: string;
  /** the measure the goal is about (a ratio to a reference measured in the same rounds, or a time) */
  measured?: Spread;
  /** does the median meet the goal; null when it was not measured here (see note) */
  met: boolean | null;
  rounds: number;
  /** the sides of a ratio: this tool's own figure and the reference's, each over the same rounds */
  value?: { unit: string; spread: Spread };
  reference?: { name: string; unit: string; spread: Spread };
  note?: string;
}

export interface BenchFile {
  /** ISO time the run ended */
  at: string;
  quick: boolean;
  /** 1-minute load average when the run started and when it ended (other work on the machine) */
  load: { start: number; end: number };
  cpus: number;
  node: string;
  rows: BenchRow[];
}

export function meets(goal: Goal, v: number): boolean {
  return goal.op === '>=' ? v >= goal.value : v <= goal.value;
}

export function row(r: Omit<BenchRow, 'met' | 'rounds'> & { measured?: Spread; rounds?: number }): BenchRow {
  return {
    ...r,
    met: r.measured ? meets(r.goal, r.measured.median) : null,
    rounds: r.rounds ?? r.measured?.values.length ?? 0,
  };
}

function num(v: number): string {
  if (Math.abs(v) >= 100) return String(Math.round(v));
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function spreadText(s: Spread, unit: string): string {
  return `${num(s.median)} ${unit} (${num(s.min)}–${num(s.max)})`;
}

/** The goal table, as Markdown: goal, measured (median, min–max over the rounds), met. */
export function goalTable(rows: readonly BenchRow[]): string {
  const lines = ['| benchmark | goal | measured: median (min–max) | rounds | met |', '|---|---|---|---|---|'];
  for (const r of rows) {
    const goal = `${r.goal.op === '>=' ? '≥' : '≤'} ${num(r.goal.value)} ${r.unit}`;
    const measured = r.measured ? spreadText(r.measured, r.unit) : `not measured: ${r.note ?? ''}`;
    const met = r.met === null ? '—' : r.met ? 'met' : 'NOT met';
    lines.push(`| ${r.name} | ${goal} | ${measured} | ${r.rounds} | ${met} |`);
  }
  return lines.join('\n');
}

/** One line per row: both sides of a ratio, for the log. */
export function rowDetail(r: BenchRow): string {
  const parts = [r.name];
  if (r.value) parts.push(`ours ${spreadText(r.value.spread, r.value.unit)}`);
  if (r.reference) parts.push(`${r.reference.name} ${spreadText(r.reference.spread, r.reference.unit)}`);
  if (r.measured)
    parts.push(`${r.goal.op === '>=' ? '≥' : '≤'} ${num(r.goal.value)}: ${spreadText(r.measured, r.unit)}`);
  else parts.push(`not measured: ${r.note ?? ''}`);
  return parts.join('; ');
}

export interface Slower {
  id: string;
  name: string;
  before: number;
  after: number;
  /** how much worse, in percent of `before` (positive: slower) */
  worsePct: number;
  pastThreshold: boolean;
}

/**
 * What got slower from `before` to `after`: rows measured in both, compared on their medians in the
 * direction of their goal (a ratio falling, a time growing). Rows measured before and not now are
 * listed as missing.
 */
export function compareBench(
  before: readonly BenchRow[],
  after: readonly BenchRow[],
  thresholdPct: number,
): { slower: Slower[]; missing: string[] } {
  const now = new Map(after.map((r) => [r.id, r]));
  const slower: Slower[] = [];
  const missing: string[] = [];
  for (const b of before) {
    const a = now.get(b.id);
    if (!b.measured) continue;
    if (!a?.measured) {
      missing.push(b.id);
      continue;
    }
    const x = b.measured.median;
    const y = a.measured.median;
    const worsePct = (b.goal.op === '>=' ? (x - y) / x : (y - x) / x) * 100;
    if (worsePct > 0)
      slower.push({
        id: b.id,
        name: b.name,
        before: x,
        after: y,
        worsePct,
        pastThreshold: worsePct > thresholdPct,
      });
  }
  return { slower: slower.sort((p, q) => q.worsePct - p.worsePct), missing };
}

export function compareText(c: ReturnType<typeof compareBench>, thresholdPct: number): string {
  const lines: string[] = [];
  if (c.slower.length === 0) lines.push('nothing got slower');
  for (const s of c.slower)
    lines.push(
      `${s.pastThreshold ? 'SLOWER' : 'slower'} ${s.worsePct.toFixed(1)}%: ${s.name}: ${num(s.before)} -> ${num(s.after)}`,
    );
  for (const m of c.missing) lines.push(`missing now: ${m}`);
  const past = c.slower.filter((s) => s.pastThreshold).length;
  lines.push(
    past > 0
      ? `${past} measure(s) slower by more than ${thresholdPct}%`
      : `no measure slower by more than ${thresholdPct}%`,
  );
  return lines.join('\n');
}

/** reports/bench.json as written by this version, or the flat list of measures the earlier one wrote. */
export function parseBenchFile(text: string): BenchRow[] {
  const j = JSON.parse(text) as BenchFile | unknown[];
  if (Array.isArray(j))
    throw new Error(
      'the file is in the earlier format (a flat list of measures, no medians): nothing to compare',
    );
  if (!j || !Array.isArray(j.rows)) throw new Error('not a bench file: no rows');
  return j.rows;
}
