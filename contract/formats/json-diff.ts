import { isDeepStrictEqual } from 'node:util';

/**
 * Where two JSON values differ: the one comparison of values that every comparer uses (conformance
 * against a recording, transcripts between versions, the differential engines).
 */
export interface Difference {
  /** like .steps.3.reply.error.desc; '(top)' for the values themselves */
  path: string;
  a: unknown;
  b: unknown;
}

/**
 * Every place two values differ (up to `limit`), depth first, the keys of `a` then those only in `b`.
 * Lists are matched by position; a list against an object differs as a whole.
 */
export function differences(a: unknown, b: unknown, limit = Number.POSITIVE_INFINITY): Difference[] {
  const out: Difference[] = [];
  walk(a, b, '', limit, out);
  return out;
}

function walk(a: unknown, b: unknown, at: string, limit: number, out: Difference[]): void {
  if (out.length >= limit || isDeepStrictEqual(a, b)) return;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const n = out.length;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`, limit, out);
    // unequal, yet no member differs (a member present but undefined on one side): the values differ here
    if (out.length > n) return;
  }
  out.push({ path: at || '(top)', a, b });
}

/** The first place two values differ, or undefined when they are equal. */
export function firstDifference(a: unknown, b: unknown): Difference | undefined {
  return differences(a, b, 1)[0];
}

/** The value at a path made by differences (undefined where the path does not exist). */
export function valueAt(v: unknown, p: string): unknown {
  if (p === '(top)' || p === '') return v;
  let cur: unknown = v;
  for (const k of p.split('.').slice(1)) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** A value in a message: JSON, cut to `max` characters; '(absent)' for a member one side lacks. */
export function show(v: unknown, max = 160): string {
  if (v === undefined) return '(absent)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function describeDifference(d: Difference, aName: string, bName: string): string {
  return `${d.path}: ${aName} ${show(d.a)}, ${bName} ${show(d.b)}`;
}

/** The path with list indexes folded to `fold`: equal for the same kind of difference at another index. */
export function pathShape(p: string, fold: string): string {
  return p.replace(/\.\d+(?=\.|$)/g, fold);
}
