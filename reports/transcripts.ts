import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { describeJsonError } from '../contract/json-text.ts';

/**
 * Transcripts as the reports read them: the JSONL files of `conform --traces DIR` (a header line
 * {runbook, target}, then one line per step, then one per event) and the recordings of real QEMU
 * (conformance/golden). The differential comparison between two transcripts lives here too.
 */
export interface Step {
  step: number;
  request: unknown;
  reply?: unknown;
  stdout?: string[];
}
export interface TranscriptData {
  runbook: string;
  target?: string;
  steps: Step[];
  events: { event: string; data?: unknown }[];
}

export function traceFileName(id: string): string {
  return `${id.replace(/\//g, '__')}.jsonl`;
}

export function parseJsonl(text: string, where = 'trace'): TranscriptData {
  const lines = text
    .split('\n')
    .map((l, i) => ({ l, n: i + 1 }))
    .filter((x) => x.l.trim() !== '');
  if (lines.length === 0) throw new Error(`${where}: empty`);
  // each line a JSON object, or one line of error naming the file and the line
  const object = (x: { l: string; n: number }): Record<string, unknown> => {
    let o: unknown;
    try {
      o = JSON.parse(x.l);
    } catch (e) {
      throw new Error(describeJsonError(x.l, e, 'L').replace(/^L:1:/, `${where}:${x.n}:`));
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o))
      throw new Error(`${where}:${x.n}: not a JSON object`);
    return o as Record<string, unknown>;
  };
  const head = object(lines[0]) as { runbook?: string; target?: unknown };
  if (typeof head.runbook !== 'string') throw new Error(`${where}:${lines[0].n}: first line has no runbook`);
  const target = typeof head.target === 'string' ? head.target : undefined;
  const t: TranscriptData = { runbook: head.runbook, target, steps: [], events: [] };
  for (const x of lines.slice(1)) {
    const o = object(x);
    if (typeof o.step === 'number') t.steps.push(o as unknown as Step);
    else if (typeof o.event === 'string')
      t.events.push(o.data === undefined ? { event: o.event } : { event: o.event, data: o.data });
    else throw new Error(`${where}:${x.n}: neither a step nor an event`);
  }
  return t;
}

/** Reads every transcript of a `--traces` folder, by check id. */
export function readTraceDir(dir: string): Map<string, TranscriptData> {
  const out = new Map<string, TranscriptData>();
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.jsonl')) continue;
    const file = path.join(dir, f);
    const t = parseJsonl(fs.readFileSync(file, 'utf8'), file);
    out.set(t.runbook, t);
  }
  return out;
}

/** the part of a transcript that is compared: steps and events (not the target's name) */
export function comparable(t: TranscriptData): { steps: Step[]; events: TranscriptData['events'] } {
  return { steps: t.steps, events: t.events };
}

export function sameTranscript(a: TranscriptData, b: TranscriptData): boolean {
  return isDeepStrictEqual(comparable(a), comparable(b));
}

export interface Difference {
  /** like .steps.3.reply.error.desc */
  path: string;
  a: unknown;
  b: unknown;
}

/** The first place two values differ (depth first, keys of both in order), or undefined when equal. */
export function firstDifference(a: unknown, b: unknown, at = ''): Difference | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const d = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        `${at}.${k}`,
      );
      if (d) return d;
    }
  }
  return { path: at || '(top)', a, b };
}

export function transcriptDifference(a: TranscriptData, b: TranscriptData): Difference | undefined {
  return firstDifference(comparable(a), comparable(b));
}

/** The value at a path made by firstDifference (undefined where the path does not exist). */
export function valueAt(v: unknown, p: string): unknown {
  if (p === '(top)' || p === '') return v;
  let cur: unknown = v;
  for (const k of p.split('.').slice(1)) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export function show(v: unknown, max = 160): string {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function describeDifference(d: Difference, aName: string, bName: string): string {
  return `${d.path}: ${aName} ${show(d.a)}, ${bName} ${show(d.b)}`;
}

/** Where the step lives: the QMP command (or qemu-io line) that a path like .steps.3.… points into. */
export function stepOf(t: TranscriptData, p: string): string | undefined {
  const m = /^\.steps\.(\d+)\b/.exec(p);
  if (!m) return /^\.events\.(\d+)\b/.test(p) ? 'events' : undefined;
  const s = t.steps[Number(m[1])];
  return s ? requestName(s.request) : undefined;
}

export function requestName(req: unknown): string {
  if (req && typeof req === 'object') {
    const r = req as Record<string, unknown>;
    if (typeof r.execute === 'string') {
      const args = r.arguments as Record<string, unknown> | undefined;
      if (r.execute === 'human-monitor-command' && typeof args?.['command-line'] === 'string')
        return `hmp ${args['command-line']}`;
      return r.execute;
    }
    if (typeof r.io === 'string') return `qemu-io ${String(r.node)} "${r.io}"`;
    return Object.keys(r)[0] ?? '?';
  }
  return String(req);
}

function errorOf(reply: unknown): { class?: string; desc?: string } | undefined {
  if (!reply || typeof reply !== 'object') return undefined;
  const e = (reply as { error?: { class?: string; desc?: string } }).error;
  return e && typeof e === 'object' ? e : undefined;
}

export interface ErrorTextChange {
  id: string;
  /** step number, or the event's index */
  where: string;
  command: string;
  /** 'ok' where that side returned without an error */
  a: string;
  b: string;
}

/**
 * Error texts that changed between two transcripts of one check: QMP errors of the same step (or a step
 * that failed on one side only) and the `error` of events at the same position.
 */
export function errorTextChanges(id: string, a: TranscriptData, b: TranscriptData): ErrorTextChange[] {
  const out: ErrorTextChange[] = [];
  const n = Math.min(a.steps.length, b.steps.length);
  for (let i = 0; i < n; i++) {
    const ea = errorOf(a.steps[i].reply);
    const eb = errorOf(b.steps[i].reply);
    if (!ea && !eb) continue;
    const ta = ea ? `${ea.class ?? ''}: ${ea.desc ?? ''}` : 'ok';
    const tb = eb ? `${eb.class ?? ''}: ${eb.desc ?? ''}` : 'ok';
    if (ta !== tb)
      out.push({
        id,
        where: `step ${a.steps[i].step}`,
        command: requestName(a.steps[i].request),
        a: ta,
        b: tb,
      });
  }
  const m = Math.min(a.events.length, b.events.length);
  for (let i = 0; i < m; i++) {
    const ea = (a.events[i].data as { error?: unknown } | undefined)?.error;
    const eb = (b.events[i].data as { error?: unknown } | undefined)?.error;
    if (ea === undefined && eb === undefined) continue;
    if (isDeepStrictEqual(ea, eb)) continue;
    out.push({
      id,
      where: `event ${i}`,
      command:
        a.events[i].event === b.events[i].event
          ? a.events[i].event
          : `${a.events[i].event}/${b.events[i].event}`,
      a: ea === undefined ? 'no error' : String(ea),
      b: eb === undefined ? 'no error' : String(eb),
    });
  }
  return out;
}

/** Every place two values differ (up to `limit`), depth first. */
export function allDifferences(
  a: unknown,
  b: unknown,
  limit = 200,
  at = '',
  out: Difference[] = [],
): Difference[] {
  if (out.length >= limit || isDeepStrictEqual(a, b)) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys)
      allDifferences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        limit,
        `${at}.${k}`,
        out,
      );
    return out;
  }
  out.push({ path: at || '(top)', a, b });
  return out;
}

/**
 * The kinds of difference between two transcripts: the differing paths with step and list indexes
 * folded (`.steps.*.reply.return.*.active`), most frequent first.
 */
export function differenceKinds(a: TranscriptData, b: TranscriptData, max = 4): string[] {
  const count = new Map<string, number>();
  for (const d of allDifferences(comparable(a), comparable(b))) {
    const k = d.path.replace(/\.\d+(?=\.|$)/g, '.*');
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  return [...count.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, max)
    .map(([k, n]) => `${k} (${n}×)`);
}
