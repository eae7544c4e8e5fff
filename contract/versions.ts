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
  // query-named-block-nodes shape, read from each version's recordings:
  /** BlockDeviceInfo has encryption_key_missing, DirtyBitmapInfo has status (5.2) */
  'query-legacy-fields',
  /** BlockDeviceInfo has active; file nodes have format-specific {type: file} (10.0+) */
  'query-node-active',
  /** BlockDeviceInfo has children, ImageInfo has limits (11.1) */
  'query-node-children',
  // job behaviour (not visible in the schema), read from each version's recordings:
  /** job_pause() enters a sleeping job, so it reaches its pause point at once (not in 5.2) */
  'job-pause-enters',
  /**
   * a graph change takes the graph lock with every node drained: every other block job pauses and
   * resumes when an export attaches and three times while a backup drops its filter (seen in real
   * libvirt's conversations on 10.0 and 11.1; 7.2 drains only the nodes it changes)
   */
  'graph-change-drains-all',
  /** backup copies through block-copy, which rate-limits itself and re-checks the limit when woken */
  'backup-block-copy-ratelimit',
  /**
   * block_job_ratelimit_sleep: a rate-limited mirror woken early sleeps out the rest of its delay (8.1,
   * 018e5987b5 "blockjob: Adhere to rate limit even when reentered early"); before, each early wakeup copied on
   */
  'job-ratelimit-sleep',
  /**
   * qmp_transaction on util/transactions.c (8.1: 8187f63c9c, c85f34cf89): commit and clean run in reverse
   * order of the actions, and completion-mode=grouped is checked for every action before any is prepared
   */
  'transaction-tran-api',
  /** job_completed_txn_abort finishes every job of the transaction before it finalizes any */
  'job-txn-abort-finish-all',
  /** query-block-jobs shows mirror's actively-synced (BlockJobInfo became a union) */
  'mirror-actively-synced',
  /** BLOCK_JOB_COMPLETED's error is the job's own message (5.2 sent strerror of its return code) */
  'job-event-error-message',
  /**
   * base:allocation sets NBD_STATE_HOLE where no layer has data (6.0); 5.2 set it only where no layer
   * allocates, so a hole of a raw file was "zero" without "hole" there
   */
  'nbd-hole-without-data',
  /**
   * hbitmap_status() answered "not set" for a range that starts set and has an unset part later
   * (7.0 to 7.2, fixed in 8.0): a snapshot-access read from a copied cluster into an uncopied one reads
   * the copied part from the live disk
   */
  'hbitmap-status-first-dirty-bug',
  /** block-copy's copy bitmap lives on the copy-before-write node, not on the source */
  'block-copy-bitmap-on-filter',
  /**
   * nbd-server-start without max-connections takes 100 clients at once, the rest wait in the listen backlog
   * (CVE-2024-7409 fix, backported to 7.2.x; seen with 120 clients at once: 7.2.22, 10.0.13 and 11.1.2 greet
   * 100; 5.2.0 has no cap, but its listen backlog of 1 refuses part of such a burst, which the simulator does
   * not model); see soak/max-connections.ts
   */
  'nbd-default-max-connections-100',
  /**
   * a mirror job's dirty bitmap lives, disabled, on its mirror_top filter (mirror_top writes mark it); 5.2 and
   * 7.2 kept it recording on the source (seen in query-named-block-nodes)
   */
  'mirror-bitmap-on-filter',
  /**
   * mirror_dirty_init does not pre-zero a sync=full target that already reads as zeroes, so it copies only
   * what the source allocates (QEMU 10.1, "mirror: Skip pre-zeroing destination if it is already zero")
   */
  'mirror-skip-zeroed-target',
  /**
   * bdrv_attach_child_noperm refuses a child that would make a cycle ("Making 'X' a file child of 'X' would
   * create a cycle", 6.0); 5.2 crashes on such a blockdev-add
   */
  'attach-cycle-check',
  /**
   * a parent's children list is kept by the child's attach/detach callbacks (6.2, "block: Manipulate children
   * list in .attach/.detach"), so an edge pointed at another node (bdrv_replace_child_noperm) moves to the head
   * of its parent's children; 5.2 left it where it was (seen in 11.1's query-named-block-nodes children)
   */
  'children-list-on-attach',
  /**
   * qom-set of a realized virtio-blk device's 'drive' moves its BlockBackend to another node (6.0,
   * realized_set_allowed); 5.2 refuses: "Attempt to set property 'drive' on anonymous device ... after it was
   * realized"
   */
  'qom-set-drive',
  /** (x-)blockdev-reopen can give a node another 'file' child (6.0); 5.2: "Cannot change the option 'file'" */
  'reopen-file-child',
  /**
   * blockdev-reopen listing one node twice leaves that node drained (seen on 10.0.13 only): the reply is {} and
   * every later request through the node hangs; 7.2 and 11.1 merge the two entries (the later one wins)
   */
  'reopen-twice-drain-leak',
  // Known bugs and their fixes, each one switch read where the behaviour is (checks/probes tells them apart):
  /**
   * copy-before-write held cbw-timeout in nanoseconds as a uint32, so a timeout above 4 s wrapped (5 s fired
   * after 0.705 s); 7.1 to 9.0, fixed in 9.1 (10b1e09ed3, "block/copy-before-write: use uint64_t for timeout
   * in nanoseconds")
   */
  'cbw-timeout-uint32-bug',
  /**
   * nbd-server-stop closes the clients still in the handshake, not only those of the exports it removes
   * (CVE-2024-7409, 3e7ef738c8 "nbd/server: CVE-2024-7409: Close stray clients at server-stop"; 9.1.0, 9.0.3,
   * 8.2.7, 7.2.14)
   */
  'nbd-server-stop-closes-clients',
  /**
   * a client that has not finished the handshake within 10 s (nbd-server-start's handshake-max-seconds in
   * 10.0 and 11.1; 7.2 has no such option) is dropped (CVE-2024-7409, b9b72cb3ce "nbd/server: CVE-2024-7409: Drop non-negotiating clients"; 9.1.0,
   * 9.0.3, 8.2.7, 7.2.14)
   */
  'nbd-handshake-limit',
  /**
   * nbd-server-stop while a client is still in the handshake never returns: the monitor hangs and SIGTERM is
   * not handled (seen on Debian's 7.2.22). 7.2.14's backport of 3e7ef738c8 waits in nbd_server_free for the
   * clients it shut down, and on 7.2 a client in the handshake waits for its socket in the iohandler context,
   * which that wait does not poll. A broken backport: the closing is in, the DoS is not gone.
   */
  'nbd-server-stop-handshake-hang-bug',
] as const;
export type Feature = (typeof FEATURES)[number];

/** Message ids used by the simulator; every text is QEMU's own for that version. */
export const MESSAGE_IDS = [
  'qapi.missing',
  'qapi.badType',
  'qapi.badEnum',
  'qapi.unexpected',
  'qapi.intRange',
  'qapi.alternate.BlockDirtyBitmapOrStr',
  'qmp.notNegotiated',
  'qmp.alreadyNegotiated',
  'qmp.commandNotFound',
  'node.notFoundDeviceOrNode',
  'node.delNotFound',
  'node.duplicate',
  'node.busyJob',
  'node.invalidName',
  'node.notFound',
  'opt.sizeOutOfRange',
  'perm.conflict',
  'perm.conflictUses',
  'job.verb',
  'job.alreadyPaused',
  'job.notPaused',
  'job.idInUse',
  'job.invalidId',
  'job.notFound',
  'blockjob.notFound',
  'nbd.alreadyRunning',
  'nbd.exportNameInUse',
  'object.throttleGroupInUse',
  'export.notFound',
  'transaction.aborted',
  'transaction.groupedUnsupported',
  'mirror.granularityPowerOf2',
  'reopen.nodeNameMissing',
  'reopen.nodeNotFound',
  'perm.readOnlyWriters',
  'qdev.notADevice',
] as const;
export type MessageId = (typeof MESSAGE_IDS)[number];

const BASE_TEXTS: Record<MessageId, string> = {
  'qapi.missing': "Parameter '%s' is missing",
  'qapi.badType': "Invalid parameter type for '%s', expected: %s",
  'qapi.badEnum': "Parameter '%n' does not accept value '%v'",
  'qapi.unexpected': "Parameter '%s' is unexpected",
  'qapi.intRange': "Parameter '%s' expects %s",
  'qapi.alternate.BlockDirtyBitmapOrStr': 'BlockDirtyBitmapOrStr',
  'qmp.notNegotiated': "Expecting capabilities negotiation with 'qmp_capabilities'",
  'qmp.alreadyNegotiated': 'Capabilities negotiation is already complete, command ignored',
  'qmp.commandNotFound': 'The command %s has not been found',
  'node.notFoundDeviceOrNode': "Cannot find device='%s' nor node-name='%s'",
  'node.delNotFound': "Failed to find node with node-name='%s'",
  'node.duplicate': "Duplicate nodes with node-name='%s'",
  'node.busyJob': "Node '%s' is busy: block device is in use by block job: %s",
  'node.invalidName': "Invalid node-name: '%s'",
  'node.notFound': "Node '%s' not found",
  // a negative number for a QemuOpts size option (raw offset/size): %1 = option, %2 = value
  'opt.sizeOutOfRange': "Value '%2$s' is out of range for parameter '%1$s'",
  // bdrv_parent_perms_conflict: perms, b desc, b child, a desc, a child (node name filled in each place)
  'perm.conflict':
    "Permission conflict on node '%1$s': permissions '%2$s' are both required by %3$s (uses node '%1$s' as '%4$s' child) and unshared by %5$s (uses node '%1$s' as '%6$s' child).",
  // only where permCheck is 'update' (5.2's bdrv_check_update_perm); the other direction of perm.conflict
  'perm.conflictUses': "Conflicts with use by %1$s as '%2$s', which uses '%3$s' on %4$s",
  'job.verb': "Job '%s' in state '%s' cannot accept command verb '%s'",
  'job.alreadyPaused': 'Job is already paused',
  'job.notPaused': "Can't resume a job that was not paused",
  'job.idInUse': "Job ID '%s' already in use",
  'job.invalidId': "Invalid job ID '%s'",
  'job.notFound': 'Job not found',
  'blockjob.notFound': "Block job '%s' not found",
  'nbd.alreadyRunning': 'NBD server already running',
  'nbd.exportNameInUse': "NBD server already has export named '%s'",
  'object.throttleGroupInUse': "object '%s' is in use, can not be deleted",
  'export.notFound': "Export '%s' is not found",
  'transaction.aborted': 'Transaction aborted using Abort action',
  'transaction.groupedUnsupported':
    "Action '%s' does not support transaction property completion-mode = grouped",
  'mirror.granularityPowerOf2': "Parameter 'granularity' expects a power of 2",
  'reopen.nodeNameMissing': 'node-name not specified',
  'reopen.nodeNotFound': "Failed to find node with node-name='%s'",
  // bdrv_node_refresh_perm: a node a reopen makes read-only while a parent still writes through it
  'perm.readOnlyWriters': "Read-only block node '%s' cannot support read-write users",
  // find_device_state: the path names an object that is not a device
  'qdev.notADevice': '%s is not a hotpluggable device',
};

export interface VersionInfo {
  profile: Profile;
  qemu: { major: number; minor: number; micro: number };
  /** Debian suite the real binaries come from (FACTS §9). */
  debianSuite: string;
  features: ReadonlySet<Feature>;
  texts: Record<MessageId, string>;
  /**
   * How permission conflicts are found and worded: 'graph' = bdrv_parent_perms_conflict over all parents
   * (6.0+), 'update' = bdrv_check_update_perm of the newest user against each other user (5.2).
   */
  permCheck: 'graph' | 'update';
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
    permCheck: profile === '5.2' ? 'update' : 'graph',
  };
}

const CBW_FEATURES: Feature[] = [
  'job-event-error-message',
  'job-pause-enters',
  'backup-block-copy-ratelimit',
  'complete-in-standby',
  'copy-before-write',
  'snapshot-access',
  'cbw-on-cbw-error',
  'cbw-timeout',
  'nbd-hole-without-data',
  'attach-cycle-check',
  'children-list-on-attach',
];

export const VERSIONS: Record<Profile, VersionInfo> = {
  '5.2': version('5.2', { major: 5, minor: 2, micro: 0 }, 'bullseye', ['query-legacy-fields'], {
    'qapi.badEnum': "Invalid parameter '%v'",
    'qapi.unexpected': "Parameter '%s' is unexpected",
    'node.notFoundDeviceOrNode': 'Cannot find device=%s nor node_name=%s',
    'node.delNotFound': 'Cannot find node %s',
    'node.duplicate': 'Duplicate node name',
    'node.invalidName': 'Invalid node name',
    'qapi.alternate.BlockDirtyBitmapOrStr': 'BlockDirtyBitmapMergeSource',
    // for 'update': "does not allow" (the new user wants what an old one does not share)
    'perm.conflict': "Conflicts with use by %5$s as '%6$s', which does not allow '%2$s' on %1$s",
    'mirror.granularityPowerOf2': "Parameter 'granularity' expects power of 2",
    'transaction.groupedUnsupported':
      "Action '%s' does not support Transaction property completion-mode = grouped",
    'reopen.nodeNameMissing': 'Node name not specified',
    'reopen.nodeNotFound': "Cannot find node named '%s'",
    'perm.readOnlyWriters': 'Cannot make block node read-only, there is a writer on it',
  }),
  '7.2': version(
    '7.2',
    { major: 7, minor: 2, micro: 22 },
    'bookworm',
    [
      ...CBW_FEATURES,
      'nbd-default-max-connections-100',
      'hbitmap-status-first-dirty-bug',
      'qom-set-drive',
      'reopen-file-child',
      'cbw-timeout-uint32-bug',
      'nbd-server-stop-closes-clients',
      'nbd-handshake-limit',
      'nbd-server-stop-handshake-hang-bug',
    ],
    {
      'opt.sizeOutOfRange': "Parameter '%1$s' expects a non-negative number below 2^64",
      'transaction.groupedUnsupported':
        "Action '%s' does not support Transaction property completion-mode = grouped",
    },
  ),
  '10.0': version(
    '10.0',
    { major: 10, minor: 0, micro: 7 },
    'trixie',
    [
      ...CBW_FEATURES,
      'cbw-min-cluster-size',
      'block-job-change',
      'backup-discard-source',
      'nbd-extended-headers',
      'query-node-active',
      'job-ratelimit-sleep',
      'transaction-tran-api',
      'job-txn-abort-finish-all',
      'block-copy-bitmap-on-filter',
      'mirror-actively-synced',
      'nbd-default-max-connections-100',
      'mirror-bitmap-on-filter',
      'qom-set-drive',
      'reopen-file-child',
      'reopen-twice-drain-leak',
      'nbd-server-stop-closes-clients',
      'nbd-handshake-limit',
      'graph-change-drains-all',
    ],
    { 'qdev.notADevice': '%s is not a device' },
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
      'query-node-active',
      'query-node-children',
      'job-ratelimit-sleep',
      'transaction-tran-api',
      'job-txn-abort-finish-all',
      'block-copy-bitmap-on-filter',
      'mirror-actively-synced',
      'nbd-default-max-connections-100',
      'mirror-bitmap-on-filter',
      'mirror-skip-zeroed-target',
      'qom-set-drive',
      'reopen-file-child',
      'nbd-server-stop-closes-clients',
      'nbd-handshake-limit',
      'graph-change-drains-all',
    ],
    {
      'object.throttleGroupInUse': "Cannot delete throttle group '%s' with active references",
      'qdev.notADevice': '%s is not a device',
    },
  ),
};

/** printf-like fill of a version's text: %s in order, %N$s by position (and %n/%v for enum texts). */
export function text(v: VersionInfo, id: MessageId, ...args: string[]): string {
  let i = 0;
  return v.texts[id].replace(/%(?:(\d)\$)?s/g, (_, pos: string | undefined) =>
    pos === undefined ? (args[i++] ?? '') : (args[Number(pos) - 1] ?? ''),
  );
}

export function hasFeature(v: VersionInfo, f: Feature): boolean {
  return v.features.has(f);
}

export function versionInfo(p: Profile): VersionInfo {
  return VERSIONS[p];
}

/**
 * A profile with some features switched the other way: a known bug put into a version that has its fix, or a
 * fix into one that has the bug (the probes' flip tests, `fleece-lab probe --switch`).
 */
export function withSwitched(v: VersionInfo, switched: readonly Feature[]): VersionInfo {
  if (switched.length === 0) return v;
  const features = new Set(v.features);
  for (const f of switched) {
    if (features.has(f)) features.delete(f);
    else features.add(f);
  }
  return { ...v, features };
}

// The table checks itself when loaded: every profile has every text, and the ordered feature sets only grow
// where FACTS §7 says they do.
for (const p of PROFILES) {
  for (const id of MESSAGE_IDS) {
    if (!VERSIONS[p].texts[id]) throw new Error(`version table: profile ${p} lacks text ${id}`);
  }
}
