/**
 * A measure taken several times: its median and its spread. Runs are interleaved with their reference's by
 * the callers, so a burst of load from elsewhere on the machine lands on both sides.
 */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** every value, in the order taken */
  values: number[];
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], values: [...values] };
}

/**
 * The ratio a/b of two measures taken in pairs (one of each per round): the median of the per-round
 * ratios, and their least and greatest.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): Spread {
  if (a.length !== b.length) throw new Error('paired ratio of unpaired runs');
  return spread(a.map((x, i) => x / b[i]));
}

/** Takes `n` rounds of `fn` (after `warmup` rounds not kept, for the JIT). */
export async function rounds<T>(n: number, fn: (i: number) => Promise<T>, warmup = 0): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}
