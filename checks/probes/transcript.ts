import type { ProbeEvidence, ProbeStatus } from '../../contract/formats/probes.ts';
import type { Transcript } from '../conformance/run-runbook.ts';

/**
 * How a probe reads its runbook's transcript: a run's own (run-runbook), a `conform --traces` file or a
 * recording of real QEMU all have this shape.
 */
export type ProbeTranscript = Pick<Transcript, 'steps' | 'events'>;
export type TranscriptStep = Transcript['steps'][number];

export interface Decision {
  status: ProbeStatus;
  evidence: ProbeEvidence;
}

/** the request of a step in a few words: the QMP command, or the NBD step's export and what it did */
export function requestText(s: TranscriptStep): string {
  const r = s.request as Record<string, unknown>;
  if (typeof r.execute === 'string') {
    const a = r.arguments as Record<string, unknown> | undefined;
    const what = a?.driver ?? a?.['node-name'] ?? a?.id ?? a?.type;
    return `${r.execute}${what === undefined ? '' : ` ${String(what)}`}`;
  }
  if (typeof r.nbd === 'string') return `NBD client of export '${r.nbd}'`;
  if (typeof r.nbdHold === 'string') return `${String(r.count)} NBD connection(s) '${r.nbdHold}' held`;
  if (typeof r.nbdHeld === 'string') return `held NBD connection(s) '${r.nbdHeld}', ${String(r.withinMs)} ms`;
  return JSON.stringify(r).slice(0, 80);
}

export function short(v: unknown, max = 200): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** a decision from one step: its index, request and what the target answered there */
export function decided(status: ProbeStatus, s: TranscriptStep, saw: unknown, why: string): Decision {
  return { status, evidence: { step: s.step, request: requestText(s), saw: short(saw), why } };
}

/** the run has no step that can decide (it broke before, or the transcript is not this runbook's) */
export function undecided(why: string, saw: unknown = ''): Decision {
  return { status: 'inconclusive', evidence: { step: null, request: '', saw: short(saw), why } };
}

export function qmpStep(
  t: ProbeTranscript,
  execute: string,
  match: (args: Record<string, unknown>) => boolean = () => true,
): TranscriptStep | undefined {
  return t.steps.find((s) => {
    const r = s.request as { execute?: string; arguments?: Record<string, unknown> };
    return r.execute === execute && match(r.arguments ?? {});
  });
}

/** the step of an NBD client of `exportName` (a runbook's nbd step) */
export function nbdStep(t: ProbeTranscript, exportName: string): TranscriptStep | undefined {
  return t.steps.find((s) => (s.request as { nbd?: string }).nbd === exportName);
}

/** the nbdHold / nbdHeld steps of held connections `name`, in order */
export function heldSteps(t: ProbeTranscript, kind: 'nbdHold' | 'nbdHeld', name: string): TranscriptStep[] {
  return t.steps.filter((s) => (s.request as Record<string, unknown>)[kind] === name);
}

/** a QMP reply's error text, or undefined when it succeeded */
export function errorOf(s: TranscriptStep): string | undefined {
  const r = s.reply as { error?: { class: string; desc: string } } | undefined;
  return r?.error ? `${r.error.class}: ${r.error.desc}` : undefined;
}

export function isStuck(s: TranscriptStep): boolean {
  return typeof (s.reply as { stuck?: unknown } | undefined)?.stuck === 'string';
}

/**
 * A blockdev-add refused because the QEMU does not know the driver or option (its QAPI schema lacks it): the
 * wording differs between versions ("Invalid parameter 'copy-before-write'" in 5.2, "Parameter 'driver' does
 * not accept value ..." later, "Parameter 'cbw-timeout' is unexpected").
 */
export function refusedAsUnknown(s: TranscriptStep, names: string[]): boolean {
  const e = errorOf(s);
  if (!e) return false;
  return names.some(
    (n) =>
      e.includes(`Invalid parameter '${n}'`) ||
      e.includes(`does not accept value '${n}'`) ||
      e.includes(`Parameter '${n}' is unexpected`),
  );
}
