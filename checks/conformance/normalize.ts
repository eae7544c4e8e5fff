/**
 * Noise, filtered in one place: timestamps, generated node names, scratch paths, file allocation sizes,
 * qemu-io's timing line, and the paused/running pairs QEMU sends whenever a command drains a job's nodes.
 */
export interface RecordedEvent {
  event: string;
  data?: Record<string, unknown>;
  /** index of the step during which the event arrived */
  step: number;
}

export function normalizeValue(v: unknown, scratch: string): unknown {
  if (typeof v === 'string') {
    return v
      .split(scratch)
      .join('$S')
      .replace(/#block\d+/g, '#block');
  }
  if (Array.isArray(v)) return v.map((x) => normalizeValue(x, scratch));
  if (v && typeof v === 'object') {
    // Key order on the wire is QEMU's hash order (checked by the wire tests); here only content counts.
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      // host file allocation differs between writers; it says nothing about QEMU's behaviour
      out[k] = k === 'actual-size' ? '<n>' : normalizeValue(x, scratch);
    }
    return out;
  }
  return v;
}

/** a drain pauses a running job (paused -> running) and a ready one (standby -> ready) */
const DRAIN_PAIRS: Record<string, string> = { paused: 'running', standby: 'ready' };

/** Drop a job's paused -> running (or standby -> ready) pair when both arrive within one step (a drain, not a user pause). */
export function dropDrainPairs(events: RecordedEvent[]): RecordedEvent[] {
  const out = [...events];
  for (let i = 0; i < out.length; i++) {
    const e = out[i];
    const back = e.event === 'JOB_STATUS_CHANGE' ? DRAIN_PAIRS[String(e.data?.status)] : undefined;
    if (!back) continue;
    const id = e.data?.id;
    for (let j = i + 1; j < out.length && out[j].step === e.step; j++) {
      const f = out[j];
      if (f.event !== 'JOB_STATUS_CHANGE' || f.data?.id !== id) continue;
      if (f.data?.status === back) {
        out.splice(j, 1);
        out.splice(i, 1);
        i--;
      }
      break;
    }
  }
  return out;
}

/** qemu-io prints a timing line after each request; its numbers change every run. */
export function normalizeStdout(text: string, scratch: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !/ ops; \d/.test(l))
    .map((l) => normalizeValue(l, scratch) as string);
}
