/**
 * Noise, filtered in one place: what in QEMU's output changes from run to run, or between a real QEMU and
 * the simulator, without saying anything about behaviour. Every comparer (conformance against recordings,
 * the differential engines, the end-to-end wire test) filters through here:
 * - values: scratch paths, generated node names (#blockN), file allocation sizes; key order;
 * - events: the paused/running (standby/ready) pairs QEMU sends whenever a command drains a job's nodes;
 * - qemu-io: its timing line;
 * - progress counters of jobs, for comparers that stop at points QEMU does not (maskProgress);
 * - raw text (wire lines, client tools' output): the same noise in text, and the drain pairs as they appear
 *   on one monitor.
 */
export interface RecordedEvent {
  event: string;
  data?: Record<string, unknown>;
  /** index of the step during which the event arrived */
  step: number;
}

/** node names QEMU generates for implicit nodes: their number depends on what ran before */
const GENERATED_NODE = /#block\d+/g;

export function normalizeValue(v: unknown, scratch: string): unknown {
  if (typeof v === 'string') {
    return v.split(scratch).join('$S').replace(GENERATED_NODE, '#block');
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

/** Progress counters of a job depend on how far it got when asked: not behaviour. */
export const NOISE_KEYS = new Set(['current-progress', 'total-progress', 'offset', 'len', 'busy']);

/** The values of NOISE_KEYS masked, at any depth (the differential replay compares at points QEMU does not pick). */
export function maskProgress(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(maskProgress);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = NOISE_KEYS.has(k) ? '<n>' : maskProgress(x);
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

/**
 * Raw text — lines of the QMP wire, what a client tool printed — with its noise masked: the scratch folder
 * ($DIR), process ids ($PID), generated node names, qemu-io's timing, and QMP timestamps.
 */
export function normalizeText(text: string, scratch?: string, pids: number[] = []): string {
  let t = scratch ? text.split(scratch).join('$DIR') : text;
  for (const p of pids) t = t.replace(new RegExp(`\\b${p}\\b`, 'g'), '$PID');
  return t
    .replace(GENERATED_NODE, '#block')
    .replace(/ ops; [\d:.]+ sec \([^)]*\)/g, ' ops; TIME')
    .replace(/"seconds": \d+, "microseconds": \d+/g, '"seconds": S, "microseconds": U')
    .replace(/"seconds":\d+,"microseconds":\d+/g, '"seconds":S,"microseconds":U');
}

/**
 * The drain noise on the raw lines of one monitor, in the order they came: a job's paused line directly
 * followed by its running line (QEMU's own key order: status, then id).
 */
export function dropDrainPairLines(lines: string[]): string[] {
  const out = [...lines];
  const st = (l: string | undefined) =>
    /"event": "JOB_STATUS_CHANGE", "data": \{"status": "(\w+)", "id": "([^"]*)"/.exec(l ?? '');
  for (let i = 0; i + 1 < out.length; i++) {
    const a = st(out[i]);
    const b = st(out[i + 1]);
    if (a && b && a[1] === 'paused' && b[1] === 'running' && a[2] === b[2]) {
      out.splice(i, 2);
      i = Math.max(-1, i - 2);
    }
  }
  return out;
}

/**
 * A job that copies in the background (mirror, backup with sync other than none) grows its target's image
 * file whenever its coroutine gets to run: how long the file is at a given query is progress, as its offset
 * is. In query-named-block-nodes replies, the length (image.virtual-size) of the protocol node under such a
 * target is masked; a target written in step with the guest (a backup sync=none) keeps it.
 */
export function backgroundTargets(
  commands: { command: string; args?: Record<string, unknown> }[],
): Set<string> {
  const out = new Set<string>();
  for (const c of commands) {
    const a = c.args ?? {};
    const background =
      c.command === 'blockdev-mirror' ||
      c.command === 'drive-mirror' ||
      (c.command === 'blockdev-backup' && a.sync !== 'none');
    if (background && typeof a.target === 'string') out.add(a.target);
  }
  return out;
}

export function maskTargetLengths(reply: unknown, targets: Set<string>): unknown {
  if (reply && typeof reply === 'object' && 'return' in reply)
    return { ...reply, return: maskTargetLengths((reply as { return: unknown }).return, targets) };
  if (targets.size === 0 || !Array.isArray(reply)) return reply;
  const files = new Set(
    reply
      .filter((n) => n && typeof n === 'object' && targets.has(String(n['node-name'])))
      .map((n) => String(n.file)),
  );
  return reply.map((n) =>
    n && typeof n === 'object' && n.drv === 'file' && files.has(String(n.file)) && n.image
      ? { ...n, image: { ...n.image, 'virtual-size': '<n>' } }
      : n,
  );
}

/** The nodes a mirror job copies from (blockdev-mirror's and drive-mirror's device). */
export function mirrorSources(commands: { command: string; args?: Record<string, unknown> }[]): Set<string> {
  const out = new Set<string>();
  for (const c of commands)
    if (
      (c.command === 'blockdev-mirror' || c.command === 'drive-mirror') &&
      typeof c.args?.device === 'string'
    )
      out.add(c.args.device);
  return out;
}

/**
 * A mirror's own dirty bitmap (unnamed; on its mirror_top filter from 10.0, recording on the source before)
 * counts what is left to copy: 0 until the job's coroutine has run mirror_dirty_init, then what the source
 * allocates, less each chunk copied. One trace on real 11.1 showed 0 once and 196608 twice right after
 * blockdev-mirror (speed 1024), real 7.2 131072 where the simulator had 196608: progress, as offset is. Its
 * count is masked in query-named-block-nodes and query-block; a named bitmap keeps its count.
 */
export function maskMirrorBitmapCounts(command: string, reply: unknown, sources: Set<string>): unknown {
  if (sources.size === 0 || !reply || typeof reply !== 'object' || !('return' in reply)) return reply;
  const list = (reply as { return: unknown }).return;
  if (!Array.isArray(list)) return reply;
  const mask = (bitmaps: unknown) =>
    Array.isArray(bitmaps)
      ? bitmaps.map((b) => (b && typeof b === 'object' && !('name' in b) ? { ...b, count: '<n>' } : b))
      : bitmaps;
  const ofMirror = (n: Record<string, unknown>) =>
    n.drv === 'mirror_top' || sources.has(String(n['node-name']));
  const masked = list.map((x) => {
    if (!x || typeof x !== 'object') return x;
    const n = x as Record<string, unknown>;
    if (command === 'query-named-block-nodes')
      return ofMirror(n) && n['dirty-bitmaps'] ? { ...n, 'dirty-bitmaps': mask(n['dirty-bitmaps']) } : n;
    if (command !== 'query-block') return n;
    const ins = n.inserted as Record<string, unknown> | undefined;
    if (!ins || !ofMirror(ins)) return n;
    return {
      ...n,
      ...(n['dirty-bitmaps'] ? { 'dirty-bitmaps': mask(n['dirty-bitmaps']) } : {}),
      inserted: ins['dirty-bitmaps'] ? { ...ins, 'dirty-bitmaps': mask(ins['dirty-bitmaps']) } : ins,
    };
  });
  return { ...reply, return: masked };
}
