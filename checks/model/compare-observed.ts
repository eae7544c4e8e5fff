import { isDeepStrictEqual } from 'node:util';
import { firstDifference, pathShape, valueAt } from '../../contract/formats/json-diff.ts';
import { multisetGap, type StepDifference } from '../differential/compare.ts';
import type { Item, Observed } from './observe.ts';

/**
 * Two sides' observations of one saved run (observe.ts), compared step by step.
 */
function itemName(i: Item | undefined): string {
  if (!i) return '(nothing)';
  switch (i.kind) {
    case 'qmp':
      return `qmp ${i.command}`;
    case 'api':
      return `api ${i.call}`;
    case 'write':
      return `guest write`;
    case 'read':
      return `read ${i.export.replace(/\d+/g, 'N')}`;
    case 'finding':
      return `finding ${i.property}`;
    case 'error':
      return 'run error';
  }
}

function eventName(e: Record<string, unknown>): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  return e.event === 'JOB_STATUS_CHANGE' ? `JOB_STATUS_CHANGE(${String(d.status)})` : String(e.event);
}

/** Events of `a` up to step `s` that `b` does not have by then, and the other way round. */
function eventGap(a: Observed, b: Observed, s: number): { a: unknown[]; b: unknown[] } {
  const upTo = (o: Observed) => o.events.filter((e) => e.step <= s).map((e) => e.event);
  return multisetGap<unknown>(upTo(a), upTo(b));
}

/**
 * Every step where two runs differ (the first differing item of each), and the events: a real QEMU sends
 * them when its jobs get there, so an event may reach the client one step later than on the simulator. The
 * events each side got up to a step are compared as sets; a difference counts where it is still there one
 * step later (only the first such step is reported: it stays different from then on).
 */
export function compareObserved(a: Observed, b: Observed): StepDifference[] {
  const out: StepDifference[] = [];
  const n = Math.max(a.steps.length, b.steps.length);
  let eventsReported = false;
  for (let s = 0; s < n; s++) {
    const sa = a.steps[s];
    const sb = b.steps[s];
    const label = sa?.label ?? sb?.label ?? `step ${s}`;
    const ia = sa?.items ?? [];
    const ib = sb?.items ?? [];
    // the first difference of each kind in the step (one differing reply does not hide another)
    const seen = new Set<string>();
    for (let k = 0; k < Math.max(ia.length, ib.length); k++) {
      const x = ia[k];
      const y = ib[k];
      const d = firstDifference(x, y);
      if (!d) continue;
      const same = x && y && x.kind === y.kind && itemName(x) === itemName(y);
      const signature = same
        ? `${itemName(x)}: ${pathShape(d.path, '[]')}`
        : `${itemName(x)} / ${itemName(y)}`;
      if (seen.has(signature)) continue;
      seen.add(signature);
      out.push({ step: s, label, signature, a: same ? d.a : x, b: same ? d.b : y, path: same ? d.path : '' });
      // once the two sides do different things in a step, the rest of it is not comparable item by item
      if (!same) break;
    }
    if (eventsReported) continue;
    const gap = eventGap(a, b, s);
    if (gap.a.length === 0 && gap.b.length === 0) continue;
    const later = s + 1 < n ? eventGap(a, b, s + 1) : gap;
    if (later.a.length === 0 && later.b.length === 0) continue;
    eventsReported = true;
    const names = (l: unknown[]) =>
      [...new Set(l.map((e) => eventName(e as Record<string, unknown>)))].sort().join(' ') || '-';
    out.push({
      step: s,
      label,
      signature: `events: only on one side: ${names(gap.a)} / ${names(gap.b)}`,
      a: gap.a,
      b: gap.b,
      path: '(events)',
    });
  }
  return out;
}

/**
 * Does `sim` differ from `real` where a divergence between two real versions is (`d`, found on `real`'s side)?
 * Not any difference in that step: a field the simulator gets wrong in every reply would mark every
 * real-vs-real divergence of that step, and compareObserved shows only an item's first differing field, so
 * that field would also hide the one in question. Asked of the same thing: a value at `d.path` in the items of
 * that kind, the events up to the step, or what was done in the step.
 */
export function simDiffersAt(real: Observed, sim: Observed, d: StepDifference): boolean {
  const ri = real.steps[d.step]?.items ?? [];
  const si = sim.steps[d.step]?.items ?? [];
  const sequence = (k: number) => itemName(ri[k]) !== itemName(si[k]) || ri[k]?.kind !== si[k]?.kind;
  const differentSequence = ri.length !== si.length || ri.some((_, k) => sequence(k));
  if (d.path === '(events)') {
    // as compareObserved: an event may come one step later on real QEMU
    const n = Math.max(real.steps.length, sim.steps.length);
    const differ = (s: number) => {
      const gap = eventGap(real, sim, s);
      return gap.a.length > 0 || gap.b.length > 0;
    };
    return differ(d.step) && (d.step + 1 >= n || differ(d.step + 1));
  }
  if (d.path === '' || differentSequence) return differentSequence;
  const name = d.signature.slice(0, d.signature.indexOf(': '));
  return ri.some(
    (x, k) => itemName(x) === name && !isDeepStrictEqual(valueAt(x, d.path), valueAt(si[k], d.path)),
  );
}
