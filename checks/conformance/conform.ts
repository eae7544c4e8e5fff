import type { CheckResult, Results } from '../../contract/formats/results.ts';
import { writeTrace } from '../../contract/formats/transcripts.ts';
import { versionInfo } from '../../contract/versions.ts';
import { AttachRefused } from '../../harness/targets/attach.ts';
import type { ResolvedTarget } from '../../harness/targets/target-spec.ts';
import { pool } from '../differential/pool.ts';
import { type Golden, loadGolden, withoutTarget } from './golden.ts';
import { judge } from './known-difference.ts';
import { RECORDING_GAPS, recordItText } from './recording-gaps.ts';
import { runRunbook, type Transcript } from './run-runbook.ts';
import type { ParsedRunbook } from './runbooks/define.ts';
import { RUNBOOKS } from './runbooks/index.ts';
import { inShard, type Shard } from './shard.ts';

/**
 * Runs the suite on one target. A check passes when the target's transcript equals the recording of
 * real QEMU of the same version (conformance/golden): for the simulator that says "behaves like QEMU",
 * for a real QEMU "behaves like the QEMU we recorded" — what CI gates a QEMU version bump on.
 */
export interface ConformOptions {
  only?: string;
  onResult?: (r: CheckResult) => void;
  /** before the first check: how many will run */
  onStart?: (total: number) => void;
  /** system-flavour runbooks need qemu-system; a qsd target skips them unless allowed */
  allowSystem?: boolean;
  /** checks run at once (each on its own QEMU and scratch folder) */
  jobs?: number;
  /** write each check's transcript (every request, reply and event) as JSONL into this folder */
  traces?: string;
  /** run only this shard's part of the (filtered) runbook list: item k goes to shard (k mod n) + 1 */
  shard?: Shard;
  /**
   * real targets: bound on each QMP reply (default $FLEECE_LAB_QMP_TIMEOUT_MS, else 10 s); a target that
   * does not answer within it fails the check as stuck and is killed (SIGTERM, a grace, SIGKILL)
   */
  qmpTimeoutMs?: number;
  /** the runbooks (default: the suite, RUNBOOKS): tests give their own */
  runbooks?: readonly ParsedRunbook[];
  /** the recordings of real QEMU (default: conformance/golden): tests give a wrong one */
  recordings?: (profile: string, id: string) => Golden | undefined;
}

export async function conform(target: ResolvedTarget, opts: ConformOptions = {}): Promise<Results> {
  const started = Date.now();
  const checks: CheckResult[] = [];
  const info = versionInfo(target.profile);
  const list = inShard(
    (opts.runbooks ?? RUNBOOKS).filter(
      (r) => !opts.only || r.id.includes(opts.only) || new RegExp(opts.only).test(r.id),
    ),
    opts.shard,
  );
  const results: CheckResult[] = new Array(list.length);
  opts.onStart?.(list.length);
  // Attach mode runs one check at a time: each check removes what was not there when it began, which
  // would include a concurrent check's nodes.
  const attach = target.spec('qsd').kind === 'attach';
  await pool(list, attach ? 1 : Math.min(opts.jobs ?? 1, 16), async (rb, i) => {
    results[i] = await runOne(target, rb, info.features, opts);
    opts.onResult?.(results[i]);
  });
  checks.push(...results);
  return {
    tool: 'fleece-lab',
    kind: 'conformance',
    target: target.label,
    qemu: target.qemu,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    checks,
  };
}

async function runOne(
  target: ResolvedTarget,
  rb: ParsedRunbook,
  features: ReadonlySet<string>,
  opts: ConformOptions,
): Promise<CheckResult> {
  const t0 = Date.now();
  const base = { id: rb.id, title: rb.title };
  const missing = rb.needs.filter((f) => !features.has(f));
  if (missing.length > 0)
    return {
      ...base,
      status: 'skip',
      reason: `QEMU ${target.profile} lacks ${missing.join(', ')}`,
      durationMs: 0,
    };
  if (
    target.kind === 'qemu' &&
    target.label.startsWith('qsd') &&
    rb.flavour === 'system' &&
    !opts.allowSystem
  )
    return {
      ...base,
      status: 'skip',
      reason: 'needs qemu-system-x86_64 (HMP qemu-io, devices): use --target system',
      durationMs: 0,
    };
  const golden = (opts.recordings ?? loadGolden)(target.profile, rb.id);
  if (!golden) {
    const gap = RECORDING_GAPS.find((g) => g.profile === target.profile && g.id === rb.id);
    return gap
      ? {
          ...base,
          status: 'skip',
          reason: `no recording of real QEMU ${target.profile}: ${gap.reason}`,
          durationMs: 0,
        }
      : { ...base, status: 'fail', reason: recordItText(target.profile, rb.id), durationMs: 0 };
  }
  const known = target.simulator ? rb.known.find((k) => k.profile === target.profile) : undefined;
  const spec = target.spec(rb.flavour);
  if (opts.qmpTimeoutMs !== undefined && spec.kind !== 'sim') spec.qmpTimeoutMs = opts.qmpTimeoutMs;
  try {
    const t = await runRunbook(rb, spec, target.label);
    if (opts.traces) writeTrace(opts.traces, t);
    const verdict = judge(withoutTarget(t), golden.transcript, known);
    if (verdict.status === 'pass') return { ...base, status: 'pass', durationMs: Date.now() - t0 };
    if (verdict.status === 'xfail')
      return { ...base, status: 'xfail', reason: verdict.reason, durationMs: Date.now() - t0 };
    const diff = verdict.reason;
    if (target.kind === 'qemu' && !target.simulator) {
      // Real QEMU schedules its main loop by the wall clock: a rare event-order race is told apart from a
      // change of behaviour by running the check once more. A pass then says it was flaky, and why.
      // Only a difference is retried: a target that dies, hangs up or gets stuck (runRunbook throws a
      // TargetFailure, caught below) fails the check at once with that reason — a crashed or hung QEMU is a finding, not a race,
      // and a retry would turn it into a quiet pass. A crash on the retry fails it, naming both runs.
      let again: Transcript;
      try {
        again = await runRunbook(rb, spec, target.label);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        return {
          ...base,
          status: 'fail',
          reason: `second run: ${why}; first run: ${diff}`,
          durationMs: Date.now() - t0,
        };
      }
      if (judge(withoutTarget(again), golden.transcript).status === 'pass')
        return {
          ...base,
          status: 'pass',
          reason: `flaky: passed on the second run; first run: ${diff}`,
          durationMs: Date.now() - t0,
        };
    }
    return { ...base, status: 'fail', reason: diff, durationMs: Date.now() - t0 };
  } catch (e) {
    if (e instanceof AttachRefused)
      return { ...base, status: 'skip', reason: `attach mode: ${e.message}`, durationMs: Date.now() - t0 };
    return {
      ...base,
      status: 'fail',
      reason: e instanceof Error ? e.message : String(e),
      durationMs: Date.now() - t0,
    };
  }
}
