import { createHash } from 'node:crypto';
import type { OpSpec } from '../../contract/formats/saved-runs.ts';
import {
  backgroundTargets,
  dropDrainPairs,
  maskMirrorBitmapCounts,
  maskProgress,
  maskTargetLengths,
  mirrorSources,
  normalizeValue,
  type RecordedEvent,
} from '../../contract/noise.ts';
import type { Port, TraceEntry } from '../../contract/port.ts';
import type { Proposal } from '../../contract/proposals/define.ts';
import { World } from './world.ts';

/**
 * What a client of one QEMU saw during one saved run of `fleece-lab check`, step by step: the domain's
 * setup, one step per operation, and the final teardown check. A step is, in order:
 * - every QMP command with its arguments and reply (class and text of an error included),
 * - every API call of the proposal with its result or error,
 * - every guest write (done, or failed) and every NBD read with the bytes it got (run-length encoded),
 * - every property violation the checker found in that step (the run goes on after one),
 * - an error that ended the run early;
 * and the events the client got, with the step they came in (a drain's paused/running pairs are dropped:
 * their number depends on timing). Noise goes through contract/noise.ts: the scratch folder, generated
 * node names, file allocation sizes, and the progress counters of jobs.
 */
export type Item =
  | { kind: 'qmp'; command: string; args?: unknown; reply: unknown }
  | { kind: 'api'; call: string; params: unknown; result?: unknown; error?: string }
  | { kind: 'write'; disk: string; at: string; pattern: number; ok: boolean }
  | { kind: 'read'; export: string; at: string; bytes?: string; error?: boolean }
  | { kind: 'finding'; property: string; detail: string }
  | { kind: 'error'; message: string };

export interface StepOutcome {
  label: string;
  items: Item[];
}

export interface Observed {
  side: string;
  /** QEMU's own version string (real) or the profile (sim) */
  version: string;
  steps: StepOutcome[];
  /** the events, normalised, with the step in which the client got them */
  events: { step: number; event: Record<string, unknown> }[];
  /** QMP commands the run issued */
  commands: string[];
  /** the harness broke (QEMU did not start...): nothing to compare */
  broken?: string;
  trace: TraceEntry[];
}

/** Bytes as runs: `0x10*65536 0x20*512`; long ones are cut and hashed. */
export function describeBytes(b: Uint8Array): string {
  const runs: string[] = [];
  let i = 0;
  while (i < b.length) {
    let j = i;
    while (j < b.length && b[j] === b[i]) j++;
    runs.push(`0x${b[i].toString(16).padStart(2, '0')}*${j - i}`);
    i = j;
  }
  if (runs.length <= 16) return runs.join(' ');
  const h = createHash('sha256').update(b).digest('hex').slice(0, 16);
  return `${runs.slice(0, 8).join(' ')} … (${runs.length} runs, sha256 ${h})`;
}

export const STEP_NOTE = 'differential step ';

/** A Port that keeps what each NBD read returned (the trace itself only says what was read). */
function withReadBytes(port: Port): Port {
  const orig = port.readExport.bind(port);
  port.readExport = async (name, offset, length) => {
    const data = await orig(name, offset, length);
    for (let i = port.trace.length - 1; i >= 0; i--) {
      const t = port.trace[i];
      if (t.kind !== 'read') continue;
      (t as { bytes?: string }).bytes = describeBytes(data);
      break;
    }
    return data;
  };
  return port;
}

function stepLabel(i: number, ops: OpSpec[]): string {
  if (i === 0) return 'setup';
  if (i > ops.length) return 'finish';
  const op = ops[i - 1];
  return `op ${i}: ${op.op}`;
}

/** Run the operations on a fresh port and collect what a client saw, step by step. The port is closed. */
export async function observe(
  proposal: Proposal,
  port: Port,
  ops: OpSpec[],
  side: string,
  version: string,
): Promise<Observed> {
  withReadBytes(port);
  const w = new World(proposal, port, { disks: 2, diskSize: 256 * 1024, focus: new Set() });
  const findingsAt: number[] = [];
  const errors: { step: number; message: string }[] = [];
  let step = 0;
  const mark = (i: number) => {
    step = i;
    port.trace.push({ kind: 'note', text: `${STEP_NOTE}${i}` });
  };
  try {
    mark(0);
    await w.setup();
    findingsAt.push(w.findings.length);
    for (let i = 0; i < ops.length; i++) {
      mark(i + 1);
      await w.run(ops[i]);
      findingsAt.push(w.findings.length);
    }
    mark(ops.length + 1);
    await w.finish();
    findingsAt.push(w.findings.length);
  } catch (e) {
    errors.push({ step, message: e instanceof Error ? e.message : String(e) });
    findingsAt.push(w.findings.length);
  } finally {
    await port.close().catch(() => {});
  }
  const scratch = port.scratchPath('x').slice(0, -2);
  const steps: StepOutcome[] = [];
  let cur: StepOutcome | undefined;
  const events: RecordedEvent[] = [];
  const norm = (v: unknown) => maskProgress(normalizeValue(v, scratch));
  const qmp = port.trace.flatMap((t) => (t.kind === 'qmp' ? [t] : []));
  const targets = backgroundTargets(qmp);
  const mirrored = mirrorSources(qmp);
  for (const t of port.trace) {
    if (t.kind === 'note' && t.text.startsWith(STEP_NOTE)) {
      const i = Number(t.text.slice(STEP_NOTE.length));
      cur = { label: stepLabel(i, ops), items: [] };
      steps.push(cur);
      continue;
    }
    if (!cur) continue;
    switch (t.kind) {
      case 'qmp':
        cur.items.push({
          kind: 'qmp',
          command: t.command,
          args: norm(t.args),
          reply: norm(
            maskMirrorBitmapCounts(
              t.command,
              t.command === 'query-named-block-nodes' ? maskTargetLengths(t.reply, targets) : t.reply,
              mirrored,
            ),
          ),
        });
        break;
      case 'api':
        cur.items.push({
          kind: 'api',
          call: t.call,
          params: t.params,
          ...(t.error !== undefined ? { error: String(normalizeValue(t.error, scratch)) } : {}),
          ...(t.result !== undefined ? { result: norm(t.result) } : {}),
        });
        break;
      case 'guest-write':
        cur.items.push({
          kind: 'write',
          disk: t.disk,
          at: `${t.offset}+${t.length}`,
          pattern: t.pattern,
          ok: t.error === undefined,
        });
        break;
      case 'read':
        cur.items.push({
          kind: 'read',
          export: t.export,
          at: `${t.offset}+${t.length}`,
          ...(t.error !== undefined ? { error: true } : { bytes: (t as { bytes?: string }).bytes }),
        });
        break;
      case 'event':
        events.push({
          event: t.event,
          data: t.data as Record<string, unknown> | undefined,
          step: steps.length - 1,
        });
        break;
    }
  }
  // a drain's pause/resume pair may straddle two steps on a real QEMU: pairs are dropped run-wide
  const flat = new Map(events.map((e) => [{ ...e, step: 0 } as RecordedEvent, e]));
  const kept = new Set(dropDrainPairs([...flat.keys()]).map((e) => flat.get(e)));
  const observedEvents = events
    .filter((e) => kept.has(e))
    .map((e) => ({ step: e.step, event: norm({ event: e.event, data: e.data }) as Record<string, unknown> }));
  // findings and errors belong to the step they happened in
  let prev = 0;
  findingsAt.forEach((n, i) => {
    for (const f of w.findings.slice(prev, n))
      steps[i]?.items.push({
        kind: 'finding',
        property: f.property,
        detail: String(normalizeValue(f.detail, scratch)),
      });
    prev = n;
  });
  for (const e of errors)
    steps[e.step]?.items.push({ kind: 'error', message: String(normalizeValue(e.message, scratch)) });
  const commands = [...new Set(port.trace.flatMap((t) => (t.kind === 'qmp' ? [t.command] : [])))];
  return { side, version, steps, events: observedEvents, commands, trace: port.trace };
}
