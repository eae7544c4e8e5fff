import type { CheckResult, CheckStatus, Results } from '../contract/formats/results.ts';
import type { TranscriptData } from '../contract/formats/transcripts.ts';

/** Small results and transcripts for the reports' tests. */
/** a transcript of one step whose reply is an error text (or ok) */
export function tr(id: string, desc?: string, extra: Record<string, unknown> = {}): TranscriptData {
  return {
    runbook: id,
    steps: [
      {
        step: 0,
        request: { execute: 'blockdev-add', arguments: { 'node-name': 'src' } },
        reply: { return: {} },
      },
      {
        step: 1,
        request: { execute: 'blockdev-backup', arguments: { device: 'nope' } },
        reply: desc ? { error: { class: 'GenericError', desc } } : { return: {} },
      },
    ],
    events: [],
    ...extra,
  };
}

export function res(target: string, version: string, checks: [string, CheckStatus, string?][]): Results {
  return {
    tool: 'fleece-lab',
    kind: 'conformance',
    target,
    qemu: { version, package: target.startsWith('sim') ? 'fleece-lab simulator' : `Debian ${version}` },
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 10,
    checks: checks.map(
      ([id, status, reason]): CheckResult => ({ id, status, durationMs: 1, ...(reason ? { reason } : {}) }),
    ),
  };
}
