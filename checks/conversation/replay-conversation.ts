/**
 * `fleece-lab replay TRACE --target T[,T...]` for a recorded conversation: the trace on each target in
 * turn, each compared with the recording, each difference classed with what the other targets showed.
 */
import { type ConversationTrace, traceVersionKey } from '../../contract/formats/conversation-trace.ts';
import type { DivergenceClass } from '../../contract/formats/divergence-classes.ts';
import { classDifference, compareSteps, type SideSteps, stepsOf } from './replay-compare.ts';
import { type ReplayTarget, replayTarget } from './replay-process.ts';
import { replayTrace } from './replay-session.ts';

export interface ConversationDifference {
  /** connection index (in the trace) and step index within it */
  connection: number;
  step: number;
  label: string;
  path: string;
  recorded: unknown;
  replayed: unknown;
  class: DivergenceClass;
  note: string;
}

export interface TargetOutcome {
  label: string;
  qemu: string;
  /** steps compared, over every connection */
  steps: number;
  broken: string[];
  timeouts: string[];
  differences: ConversationDifference[];
}

export interface ConversationReplay {
  trace: string;
  recordedOn: string;
  source: ConversationTrace['source'];
  connections: number;
  outcomes: TargetOutcome[];
}

export async function replayConversation(
  trace: ConversationTrace,
  file: string,
  targets: readonly string[],
  log: (line: string) => void = () => {},
): Promise<ConversationReplay> {
  const resolved: ReplayTarget[] = targets.map(replayTarget);
  const recording: SideSteps = {
    label: `recording (${trace.qemu})`,
    kind: 'real',
    version: traceVersionKey(trace),
    connections: trace.connections.map((c) => stepsOf(c.messages)),
  };
  const sides: SideSteps[] = [];
  const raw: { broken: string[]; timeouts: string[] }[] = [];
  for (const t of resolved) {
    const started = Date.now();
    const r = await replayTrace(trace, t);
    sides.push({
      label: t.label,
      kind: t.kind,
      version: t.version,
      connections: r.connections.map((c) => (c.broken ? undefined : stepsOf(c.messages, r.dir))),
    });
    raw.push({
      broken: r.connections.flatMap((c, i) => (c.broken ? [`connection ${i}: ${c.broken}`] : [])),
      timeouts: r.connections.flatMap((c, i) => c.timeouts.map((x) => `connection ${i}: ${x}`)),
    });
    log(`${t.label}: replayed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const outcomes = sides.map((s, n): TargetOutcome => {
    const differences: ConversationDifference[] = [];
    let steps = 0;
    s.connections.forEach((steps_, conn) => {
      const rec = recording.connections[conn];
      if (!steps_ || !rec) return;
      steps += rec.length;
      const prefix = trace.connections.length > 1 ? `#${conn} ` : '';
      for (const d of compareSteps(rec, steps_, prefix)) {
        const c = classDifference(recording, s, sides, conn, d.step);
        differences.push({
          connection: conn,
          step: d.step,
          label: d.label,
          path: d.path,
          recorded: d.a,
          replayed: d.b,
          ...c,
        });
      }
    });
    return {
      label: s.label,
      qemu: resolved[n]?.qemu ?? '',
      steps,
      broken: raw[n]?.broken ?? [],
      timeouts: raw[n]?.timeouts ?? [],
      differences,
    };
  });
  return {
    trace: file,
    recordedOn: trace.qemu,
    source: trace.source,
    connections: trace.connections.length,
    outcomes,
  };
}
