import type { ProbeResult, ProbeResults } from '../../contract/formats/probes.ts';
import type { Feature } from '../../contract/versions.ts';
import type { ResolvedTarget } from '../../harness/targets/target-spec.ts';
import { runRunbook } from '../conformance/run-runbook.ts';
import type { ParsedRunbook } from '../conformance/runbooks/define.ts';
import { RUNBOOKS } from '../conformance/runbooks/index.ts';
import { PROBES, type Probe } from './catalogue.ts';
import { type Decision, type ProbeTranscript, undecided } from './transcript.ts';

/**
 * Runs the probes' runbooks on a target with the conformance runner (any target `conform` takes: the
 * simulator, serve, a real qemu-storage-daemon or qemu-system, an attached QEMU) and decides each probe from
 * its transcript. A run that breaks (the target dies, or hangs where the runbook does not expect it) makes
 * that probe inconclusive, with the reason as evidence; the other probes still run.
 */
export interface ProbeOptions {
  /** only the probes whose id contains this */
  only?: string;
  /** simulator targets: features switched the other way (the flip of a bug switch) */
  switched?: Feature[];
  onResult?: (r: ProbeResult) => void;
}

export function runbookOf(p: Probe): ParsedRunbook {
  const rb = RUNBOOKS.find((r) => r.id === p.runbook);
  if (!rb) throw new Error(`probe ${p.id}: no runbook ${p.runbook}`);
  return rb;
}

function result(p: Probe, d: Decision, durationMs: number): ProbeResult {
  return {
    id: p.id,
    bug: p.bug,
    kind: p.kind,
    fix: p.fix,
    affected: p.affected,
    runbook: p.runbook,
    status: d.status,
    evidence: d.evidence,
    durationMs,
  };
}

function selected(only?: string): Probe[] {
  return PROBES.filter((p) => !only || p.id.includes(only) || p.runbook.includes(only));
}

export async function runProbes(target: ResolvedTarget, opts: ProbeOptions = {}): Promise<ProbeResults> {
  const switched = opts.switched ?? [];
  if (switched.length > 0 && target.kind !== 'sim')
    throw new Error(`switched features need a simulator target (sim:PROFILE), not ${target.label}`);
  const started = Date.now();
  const probes: ProbeResult[] = [];
  for (const p of selected(opts.only)) {
    const t0 = Date.now();
    const rb = runbookOf(p);
    const base = target.spec(rb.flavour);
    const spec = base.kind === 'sim' ? { ...base, switched } : base;
    let d: Decision;
    try {
      d = p.decide(await runRunbook(rb, spec, target.label));
    } catch (e) {
      d = undecided(
        'the run broke before the probe could decide',
        e instanceof Error ? e.message : String(e),
      );
    }
    const r = result(p, d, Date.now() - t0);
    probes.push(r);
    opts.onResult?.(r);
  }
  return {
    tool: 'fleece-lab',
    kind: 'probes',
    target: target.label,
    qemu: target.qemu,
    switched,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    probes,
  };
}

/**
 * The probes decided from transcripts a conformance run already has (`conform --traces`, the main job):
 * nothing runs again. A probe whose runbook has no transcript there is inconclusive.
 */
export function probesFromTranscripts(
  run: { target: string; qemu: { version: string; package: string }; startedAt: string; durationMs: number },
  transcript: (runbook: string) => ProbeTranscript | undefined,
): ProbeResults {
  const probes = PROBES.map((p) => {
    const t = transcript(p.runbook);
    return result(p, t ? p.decide(t) : undecided(`no transcript of ${p.runbook} in this run`), 0);
  });
  // only the run's own fields: a results object passed as `run` must not bring its kind and checks along
  const { target, qemu, startedAt, durationMs } = run;
  return { tool: 'fleece-lab', kind: 'probes', target, qemu, switched: [], startedAt, durationMs, probes };
}
