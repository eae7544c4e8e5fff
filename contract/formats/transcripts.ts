import fs from 'node:fs';
import path from 'node:path';
import { parseJsonLine } from '../json-text.ts';
import { checkFileStem } from './file-names.ts';
import { type Difference, firstDifference } from './json-diff.ts';

/**
 * Transcripts: the JSONL files of `conform --traces DIR` (a header line {runbook, target}, then one line
 * per step, then one per event), one file per check; the recordings of real QEMU (conformance/golden) hold
 * the same steps and events. Two transcripts of one check compare by their steps and events.
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
  return `${checkFileStem(id)}.jsonl`;
}

/** A check's transcript into DIR/<check>.jsonl (the folder is made). */
export function writeTrace(dir: string, t: TranscriptData): void {
  const file = path.join(dir, traceFileName(t.runbook));
  fs.mkdirSync(dir, { recursive: true });
  const lines = [
    JSON.stringify({ runbook: t.runbook, target: t.target }),
    ...t.steps.map((s) => JSON.stringify(s)),
    ...t.events.map((e) => JSON.stringify({ event: e.event, data: e.data })),
  ];
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

export function parseJsonl(text: string, where = 'trace'): TranscriptData {
  const lines = text
    .split('\n')
    .map((l, i) => ({ l, n: i + 1 }))
    .filter((x) => x.l.trim() !== '');
  if (lines.length === 0) throw new Error(`${where}: empty`);
  // each line a JSON object, or one line of error naming the file and the line
  const object = (x: { l: string; n: number }): Record<string, unknown> => {
    const o = parseJsonLine(x.l, where, x.n);
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

export function transcriptDifference(a: TranscriptData, b: TranscriptData): Difference | undefined {
  return firstDifference(comparable(a), comparable(b));
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
