/**
 * Checks known to have no recording of real QEMU for a version, and why. The conformance runner (conform.ts)
 * skips exactly these with their reason; any other check without a recording for a version it applies to
 * fails, with "record it" (a new check counts for nothing until real QEMU has answered it).
 * Record one with `fleece-lab record-golden VERSION --only ID` (real QEMU VERSION installed: `fleece-lab
 * qemu list`; `fleece-lab qemu install VERSION` puts 5.2, 10.0 or 11.1 in the cache, 7.2 comes from apt).
 * Empty today: every runbook is recorded on every version that has the features it needs.
 */
export interface RecordingGap {
  profile: string;
  id: string;
  /** why it cannot be recorded yet */
  reason: string;
}

export const RECORDING_GAPS: readonly RecordingGap[] = [];

/** how to record a check of a version, as the failing check says it */
export function recordItText(profile: string, id: string): string {
  return `no recording of real QEMU ${profile} for this check: record it (fleece-lab record-golden ${profile} --only ${id}), or list it in checks/conformance/recording-gaps.ts with the reason it cannot be`;
}
