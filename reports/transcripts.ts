import { isDeepStrictEqual } from 'node:util';
import { differences, pathShape } from '../contract/formats/json-diff.ts';
import { comparable, requestName, type TranscriptData } from '../contract/formats/transcripts.ts';

/**
 * What changed between two transcripts of one check, as the diff report tells it: the error texts, and the
 * kinds of every other difference.
 */
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

/**
 * The kinds of difference between two transcripts: the differing paths with step and list indexes
 * folded (`.steps.*.reply.return.*.active`), most frequent first.
 */
export function differenceKinds(a: TranscriptData, b: TranscriptData, max = 4): string[] {
  const count = new Map<string, number>();
  for (const d of differences(comparable(a), comparable(b), 200)) {
    const k = pathShape(d.path, '.*');
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  return [...count.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, max)
    .map(([k, n]) => `${k} (${n}×)`);
}
