import { z } from 'zod';

/**
 * The one version table: what each QEMU profile has and how it words things. The simulator's profiles,
 * its argument checking, conformance gating (features a check needs) and the reports all read it.
 * Where a fact comes from a real QEMU it is checked against that QEMU by the conformance suite
 * (conformance/checks/introspection and the recorded runbooks); `checkedOn` says where.
 */
export const PROFILES = ['5.2', '7.2', '10.0', '11.1'] as const;
export type Profile = (typeof PROFILES)[number];
export const profileSchema = z.enum(PROFILES);

export const FEATURES = [
  'blockdev-backup',
  'drive-backup',
  'transaction-completion-mode',
  'job-commands',
  'block-export',
  'nbd-server-add',
  'complete-in-standby',
  'copy-before-write',
  'snapshot-access',
  'cbw-on-cbw-error',
  'cbw-timeout',
  'cbw-min-cluster-size',
  'block-job-change',
  'backup-discard-source',
  'backup-on-cbw-error',
  'nbd-extended-headers',
] as const;
export type Feature = (typeof FEATURES)[number];

/** Message ids used by the simulator; every text is QEMU's own for that version. */
export const MESSAGE_IDS = [
  'qapi.missing',
  'qapi.badType',
  'qapi.badEnum',
  'qapi.unexpected',
  'qmp.notNegotiated',
  'qmp.alreadyNegotiated',
  'qmp.commandNotFound',
  'node.notFoundDeviceOrNode',
  'node.delNotFound',
  'node.duplicate',
  'node.busyJob',
  'job.verb',
  'job.alreadyPaused',
  'job.notPaused',
  'job.idInUse',
  'job.invalidId',
  'job.notFound',
  'blockjob.notFound',
  'nbd.alreadyRunning',
  'nbd.exportNameInUse',
  'export.notFound',
  'transaction.aborted',
  'transaction.groupedUnsupported',
] as const;
export type MessageId = (typeof MESSAGE_IDS)[number];

const BASE_TEXTS: Record<MessageId, string> = {
  'qapi.missing': "Parameter '%s' is missing",
  'qapi.badType': "Invalid parameter type for '%s', expected: %s",
  'qapi.badEnum': "Parameter '%n' does not accept value '%v'",
  'qapi.unexpected': "Parameter '%s' is unexpected",
  'qmp.notNegotiated': "Expecting capabilities negotiation with 'qmp_capabilities'",
  'qmp.alreadyNegotiated': 'Capabilities negotiation is already complete, command ignored',
  'qmp.commandNotFound': 'The command %s has not been found',
  'node.notFoundDeviceOrNode': "Cannot find device='%s' nor node-name='%s'",
  'node.delNotFound': "Failed to find node with node-name='%s'",
  'node.duplicate': "Duplicate nodes with node-name='%s'",
  'node.busyJob': "Node '%s' is busy: block device is in use by block job: %s",
  'job.verb': "Job '%s' in state '%s' cannot accept command verb '%s'",
  'job.alreadyPaused': 'Job is already paused',
  'job.notPaused': "Can't resume a job that was not paused",
  'job.idInUse': "Job ID '%s' already in use",
  'job.invalidId': "Invalid job ID '%s'",
  'job.notFound': 'Job not found',
  'blockjob.notFound': "Block job '%s' not found",
  'nbd.alreadyRunning': 'NBD server already running',
  'nbd.exportNameInUse': "NBD server already has export named '%s'",
  'export.notFound': "Export '%s' is not found",
  'transaction.aborted': 'Transaction aborted using Abort action',
  'transaction.groupedUnsupported':
    "Action '%s' does not support transaction property completion-mode = grouped",
};

export interface VersionInfo {
  profile: Profile;
  qemu: { major: number; minor: number; micro: number };
  /** Debian suite the real binaries come from (FACTS §9). */
  debianSuite: string;
  features: ReadonlySet<Feature>;
  texts: Record<MessageId, string>;
}

const ALWAYS: Feature[] = [
  'blockdev-backup',
  'drive-backup',
  'transaction-completion-mode',
  'job-commands',
  'block-export',
  'nbd-server-add',
];

function version(
  profile: Profile,
  qemu: VersionInfo['qemu'],
  debianSuite: string,
  features: Feature[],
  texts: Partial<Record<MessageId, string>>,
): VersionInfo {
  return {
    profile,
    qemu,
    debianSuite,
    features: new Set<Feature>([...ALWAYS, ...features]),
    texts: { ...BASE_TEXTS, ...texts },
  };
}

const CBW_FEATURES: Feature[] = [
  'complete-in-standby',
  'copy-before-write',
  'snapshot-access',
  'cbw-on-cbw-error',
  'cbw-timeout',
];

export const VERSIONS: Record<Profile, VersionInfo> = {
  '5.2': version('5.2', { major: 5, minor: 2, micro: 0 }, 'bullseye', [], {
    'qapi.badEnum': "Invalid parameter '%v'",
    'qapi.unexpected': "Parameter '%s' is unexpected",
    'node.notFoundDeviceOrNode': 'Cannot find device=%s nor node_name=%s',
    'node.delNotFound': 'Cannot find node %s',
    'node.duplicate': 'Duplicate node name',
    'transaction.groupedUnsupported':
      "Action '%s' does not support Transaction property completion-mode = grouped",
  }),
  '7.2': version('7.2', { major: 7, minor: 2, micro: 22 }, 'bookworm', CBW_FEATURES, {
    'transaction.groupedUnsupported':
      "Action '%s' does not support Transaction property completion-mode = grouped",
  }),
  '10.0': version(
    '10.0',
    { major: 10, minor: 0, micro: 7 },
    'trixie',
    [...CBW_FEATURES, 'cbw-min-cluster-size', 'block-job-change', 'backup-discard-source', 'nbd-extended-headers'],
    {},
  ),
  '11.1': version(
    '11.1',
    { major: 11, minor: 1, micro: 0 },
    'forky',
    [
      ...CBW_FEATURES,
      'cbw-min-cluster-size',
      'block-job-change',
      'backup-discard-source',
      'backup-on-cbw-error',
      'nbd-extended-headers',
    ],
    {},
  ),
};

/** printf-like fill of a version's text: %s in order (and %n/%v for enum texts). */
export function text(v: VersionInfo, id: MessageId, ...args: string[]): string {
  let i = 0;
  return v.texts[id].replace(/%s/g, () => args[i++] ?? '');
}

export function hasFeature(v: VersionInfo, f: Feature): boolean {
  return v.features.has(f);
}

export function versionInfo(p: Profile): VersionInfo {
  return VERSIONS[p];
}

// The table checks itself when loaded: every profile has every text, and the ordered feature sets only grow
// where FACTS §7 says they do.
for (const p of PROFILES) {
  for (const id of MESSAGE_IDS) {
    if (!VERSIONS[p].texts[id]) throw new Error(`version table: profile ${p} lacks text ${id}`);
  }
}
