import { z } from 'zod';
import type { Feature } from '../versions.ts';

/**
 * The QMP subset fleece-lab speaks, one row per command: typed arguments (zod), the feature a profile needs
 * for it, and whether the simulator implements it. This table feeds the simulator's dispatch, the
 * generators of the property tests, the conformance matrix and the docs. QEMU's exact argument errors come
 * from the introspected schema of each real version (spec/qapi-schema), which a test checks this table against.
 */

const nodeName = z.string();
const jobId = z.string();

export const blockdevRef: z.ZodType<string | Record<string, unknown>> = z.union([
  z.string(),
  z.record(z.unknown()),
]);

export const blockdevOptions = z
  .object({
    driver: z.string(),
    'node-name': nodeName.optional(),
    'read-only': z.boolean().optional(),
    'auto-read-only': z.boolean().optional(),
    'force-share': z.boolean().optional(),
    discard: z.enum(['ignore', 'unmap']).optional(),
    'detect-zeroes': z.enum(['off', 'on', 'unmap']).optional(),
    cache: z.object({ direct: z.boolean().optional(), 'no-flush': z.boolean().optional() }).optional(),
    // driver-specific members
    filename: z.string().optional(),
    file: blockdevRef.optional(),
    backing: z.union([blockdevRef, z.null()]).optional(),
    target: blockdevRef.optional(),
    image: blockdevRef.optional(),
    size: z.number().int().optional(),
    offset: z.number().int().optional(),
    'read-zeroes': z.boolean().optional(),
    'latency-ns': z.number().int().optional(),
    bitmap: z.object({ node: z.string(), name: z.string() }).optional(),
    'on-cbw-error': z.enum(['break-guest-write', 'break-snapshot']).optional(),
    'cbw-timeout': z.number().int().optional(),
    'min-cluster-size': z.number().int().optional(),
    'inject-error': z
      .array(
        z.object({
          event: z.string(),
          state: z.number().int().optional(),
          iotype: z.string().optional(),
          errno: z.number().int().optional(),
          sector: z.number().int().optional(),
          once: z.boolean().optional(),
          immediately: z.boolean().optional(),
        }),
      )
      .optional(),
  })
  .passthrough();
export type BlockdevOptions = z.infer<typeof blockdevOptions>;

const backupCommon = {
  'job-id': jobId.optional(),
  device: z.string(),
  target: z.string(),
  sync: z.enum(['top', 'full', 'none', 'incremental', 'bitmap']),
  speed: z.number().int().optional(),
  bitmap: z.string().optional(),
  'bitmap-mode': z.enum(['on-success', 'never', 'always']).optional(),
  compress: z.boolean().optional(),
  'on-source-error': z.enum(['report', 'ignore', 'enospc', 'stop', 'auto']).optional(),
  'on-target-error': z.enum(['report', 'ignore', 'enospc', 'stop', 'auto']).optional(),
  'auto-finalize': z.boolean().optional(),
  'auto-dismiss': z.boolean().optional(),
  'filter-node-name': z.string().optional(),
  'discard-source': z.boolean().optional(),
  'x-perf': z.record(z.unknown()).optional(),
};
export const blockdevBackupArgs = z.object(backupCommon);
export const driveBackupArgs = z.object({
  ...backupCommon,
  format: z.string().optional(),
  mode: z.enum(['existing', 'absolute-paths']).optional(),
});
export type BackupArgs = z.infer<typeof driveBackupArgs>;

const mirrorCommon = {
  'job-id': jobId.optional(),
  device: z.string(),
  target: z.string(),
  replaces: z.string().optional(),
  sync: z.enum(['top', 'full', 'none', 'incremental', 'bitmap']),
  speed: z.number().int().optional(),
  granularity: z.number().int().optional(),
  'buf-size': z.number().int().optional(),
  'on-source-error': z.string().optional(),
  'on-target-error': z.string().optional(),
  'filter-node-name': z.string().optional(),
  'copy-mode': z.enum(['background', 'write-blocking']).optional(),
  'auto-finalize': z.boolean().optional(),
  'auto-dismiss': z.boolean().optional(),
};
export const blockdevMirrorArgs = z.object(mirrorCommon);
export const driveMirrorArgs = z.object({
  ...mirrorCommon,
  format: z.string().optional(),
  'node-name': z.string().optional(),
  mode: z.enum(['existing', 'absolute-paths']).optional(),
  unmap: z.boolean().optional(),
});
export type MirrorArgs = z.infer<typeof driveMirrorArgs>;

export const bitmapArgs = z.object({
  node: z.string(),
  name: z.string(),
  granularity: z.number().int().optional(),
  persistent: z.boolean().optional(),
  disabled: z.boolean().optional(),
});
export const bitmapMergeArgs = z.object({
  node: z.string(),
  target: z.string(),
  bitmaps: z.array(z.union([z.string(), z.object({ node: z.string(), name: z.string() })])),
});

export const transactionAction = z.object({ type: z.string(), data: z.record(z.unknown()) });
export const transactionArgs = z.object({
  actions: z.array(transactionAction),
  properties: z.object({ 'completion-mode': z.enum(['individual', 'grouped']).optional() }).optional(),
});

const nbdAddr = z.object({ type: z.enum(['unix', 'inet', 'vsock', 'fd']), data: z.record(z.unknown()) });

const deviceArg = z.object({ device: z.string() });
const idArg = z.object({ id: z.string() });
const none = z.object({});

export interface CommandSpec {
  args: z.ZodTypeAny;
  /** a profile lacking this feature has no such command */
  feature?: Feature;
  /** QEMU marks it deprecated in these profiles (still accepted) */
  deprecatedFrom?: string;
  /** Only qemu-system has it (devices, HMP) */
  systemOnly?: boolean;
}

export const COMMANDS = {
  qmp_capabilities: { args: z.object({ enable: z.array(z.string()).optional() }) },
  'query-version': { args: none },
  'query-qmp-schema': { args: none },
  'query-commands': { args: none },
  quit: { args: none },
  'blockdev-add': { args: blockdevOptions },
  'blockdev-del': { args: z.object({ 'node-name': z.string() }) },
  'blockdev-create': { args: z.object({ 'job-id': z.string(), options: z.record(z.unknown()) }) },
  'blockdev-backup': { args: blockdevBackupArgs, feature: 'blockdev-backup' },
  'drive-backup': { args: driveBackupArgs, feature: 'drive-backup', deprecatedFrom: '6.2' },
  'blockdev-mirror': { args: blockdevMirrorArgs },
  'drive-mirror': { args: driveMirrorArgs },
  transaction: { args: transactionArgs },
  'block-job-cancel': { args: z.object({ device: z.string(), force: z.boolean().optional() }) },
  'block-job-pause': { args: deviceArg },
  'block-job-resume': { args: deviceArg },
  'block-job-complete': { args: deviceArg },
  'block-job-set-speed': { args: z.object({ device: z.string(), speed: z.number().int() }) },
  'block-job-finalize': { args: idArg },
  'block-job-dismiss': { args: idArg },
  'block-job-change': {
    args: z.object({ id: z.string(), type: z.string() }).passthrough(),
    feature: 'block-job-change',
  },
  'job-cancel': { args: idArg },
  'job-pause': { args: idArg },
  'job-resume': { args: idArg },
  'job-complete': { args: idArg },
  'job-finalize': { args: idArg },
  'job-dismiss': { args: idArg },
  'query-jobs': { args: none },
  'query-block-jobs': { args: none },
  'query-named-block-nodes': { args: z.object({ flat: z.boolean().optional() }) },
  'query-block': { args: none },
  'nbd-server-start': {
    args: z.object({
      addr: nbdAddr,
      'tls-creds': z.string().optional(),
      'tls-authz': z.string().optional(),
      'max-connections': z.number().int().optional(),
    }),
  },
  'nbd-server-stop': { args: none },
  'nbd-server-add': {
    args: z.object({
      device: z.string(),
      name: z.string().optional(),
      description: z.string().optional(),
      writable: z.boolean().optional(),
      bitmap: z.string().optional(),
    }),
    deprecatedFrom: '5.2',
  },
  'nbd-server-remove': {
    args: z.object({ name: z.string(), mode: z.enum(['safe', 'hard']).optional() }),
    deprecatedFrom: '5.2',
  },
  'block-export-add': {
    args: z
      .object({
        type: z.string(),
        id: z.string(),
        'node-name': z.string(),
        writable: z.boolean().optional(),
        writethrough: z.boolean().optional(),
        'fixed-iothread': z.boolean().optional(),
        iothread: z.string().optional(),
        name: z.string().optional(),
        description: z.string().optional(),
        bitmaps: z.array(z.union([z.string(), z.object({ node: z.string(), name: z.string() })])).optional(),
        'allocation-depth': z.boolean().optional(),
      })
      .passthrough(),
    feature: 'block-export',
  },
  'block-export-del': {
    args: z.object({ id: z.string(), mode: z.enum(['safe', 'hard']).optional() }),
    feature: 'block-export',
  },
  'query-block-exports': { args: none, feature: 'block-export' },
  'block-dirty-bitmap-add': { args: bitmapArgs },
  'block-dirty-bitmap-remove': { args: z.object({ node: z.string(), name: z.string() }) },
  'block-dirty-bitmap-clear': { args: z.object({ node: z.string(), name: z.string() }) },
  'block-dirty-bitmap-enable': { args: z.object({ node: z.string(), name: z.string() }) },
  'block-dirty-bitmap-disable': { args: z.object({ node: z.string(), name: z.string() }) },
  'block-dirty-bitmap-merge': { args: bitmapMergeArgs },
  'object-add': { args: z.object({ 'qom-type': z.string(), id: z.string() }).passthrough() },
  'object-del': { args: idArg },
  'qom-set': { args: z.object({ path: z.string(), property: z.string(), value: z.unknown() }) },
  'human-monitor-command': {
    args: z.object({ 'command-line': z.string(), 'cpu-index': z.number().int().optional() }),
    systemOnly: true,
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];
export type CommandArgs<C extends CommandName> = z.infer<(typeof COMMANDS)[C]['args']>;

/** Transaction actions (qapi/transaction.json) and the commands whose arguments they take. */
export const TRANSACTION_ACTIONS = {
  abort: null,
  'block-dirty-bitmap-add': 'block-dirty-bitmap-add',
  'block-dirty-bitmap-clear': 'block-dirty-bitmap-clear',
  'block-dirty-bitmap-enable': 'block-dirty-bitmap-enable',
  'block-dirty-bitmap-disable': 'block-dirty-bitmap-disable',
  'block-dirty-bitmap-merge': 'block-dirty-bitmap-merge',
  'block-dirty-bitmap-remove': 'block-dirty-bitmap-remove',
  'blockdev-backup': 'blockdev-backup',
  'blockdev-snapshot': null,
  'blockdev-snapshot-internal-sync': null,
  'blockdev-snapshot-sync': null,
  'drive-backup': 'drive-backup',
} as const satisfies Record<string, CommandName | null>;
export type TransactionActionType = keyof typeof TRANSACTION_ACTIONS;

/** QMP events the simulator sends, with their data (FACTS §3). */
const jobInfoData = {
  type: z.string(),
  device: z.string(),
  len: z.number().int(),
  offset: z.number().int(),
  speed: z.number().int(),
};
/** JobStatus (qapi/job.json) */
export const JOB_STATUSES = [
  'undefined',
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
] as const;
const jobType = z.enum([
  'commit',
  'stream',
  'mirror',
  'backup',
  'create',
  'amend',
  'snapshot-load',
  'snapshot-save',
  'snapshot-delete',
]);
/** strict: a member QEMU sends that the table does not know is a difference, not noise */
export const EVENTS = {
  JOB_STATUS_CHANGE: z.object({ id: z.string(), status: z.enum(JOB_STATUSES) }).strict(),
  BLOCK_JOB_COMPLETED: z.object({ ...jobInfoData, type: jobType, error: z.string().optional() }).strict(),
  BLOCK_JOB_CANCELLED: z.object({ ...jobInfoData, type: jobType }).strict(),
  BLOCK_JOB_READY: z.object({ ...jobInfoData, type: jobType }).strict(),
  BLOCK_JOB_ERROR: z
    .object({
      device: z.string(),
      operation: z.enum(['read', 'write']),
      action: z.enum(['ignore', 'report', 'stop']),
    })
    .strict(),
  BLOCK_JOB_PENDING: z.object({ type: jobType, id: z.string() }).strict(),
  BLOCK_EXPORT_DELETED: z.object({ id: z.string() }).strict(),
} as const;
export type EventName = keyof typeof EVENTS;

export const timestampSchema = z.object({ seconds: z.number().int(), microseconds: z.number().int() });
export const eventMessage = z.object({
  event: z.string(),
  data: z.record(z.unknown()).optional(),
  timestamp: timestampSchema,
});
export type EventMessage = z.infer<typeof eventMessage>;
