import { z } from 'zod';
import type { CommandName } from '../qapi/generated/commands.ts';

/**
 * What QEMU's own schemas cannot say about the QMP commands fleece-lab speaks: which ones the simulator
 * implements, and where it implements only part of one. Everything else about a command (its arguments,
 * the versions and flavours that have it, its deprecation) is in the introspected schema of each real
 * version (contract/qapi-schema), merged by `npm run gen:qapi` into contract/qapi/generated/commands.ts,
 * whose CommandArgs<C> types the simulator's handlers (sim/monitor/handlers.ts). docs/qmp-commands.md shows
 * both. A profile has a command when its captured query-commands lists it (the dispatcher reads that list).
 */
export const SIMULATED_COMMANDS = {
  qmp_capabilities: '',
  'query-version': '',
  'query-qmp-schema': '',
  'query-commands': '',
  quit: '',
  'blockdev-add':
    'drivers file, null-co, null-aio, raw, qcow2, copy-before-write, snapshot-access, throttle, blkdebug',
  'blockdev-del': '',
  'blockdev-create': 'drivers file and qcow2 (on a file node)',
  'blockdev-backup': '',
  'drive-backup': 'formats raw and qcow2',
  'blockdev-mirror': '',
  transaction:
    'actions abort, blockdev-backup, drive-backup and the block-dirty-bitmap ones (add, remove, clear, enable, disable, merge)',
  'block-job-cancel': '',
  'block-job-pause': '',
  'block-job-resume': '',
  'block-job-complete': '',
  'block-job-set-speed': '',
  'block-job-finalize': '',
  'block-job-dismiss': '',
  'block-job-change': 'mirror jobs',
  'job-cancel': '',
  'job-pause': '',
  'job-resume': '',
  'job-complete': '',
  'job-finalize': '',
  'job-dismiss': '',
  'query-jobs': '',
  'query-block-jobs': '',
  'query-named-block-nodes': '',
  'query-block': '',
  'nbd-server-start': 'no TLS',
  'nbd-server-stop': '',
  'nbd-server-add': '',
  'nbd-server-remove': '',
  'block-export-add': "type 'nbd'",
  'block-export-del': '',
  'query-block-exports': '',
  'block-dirty-bitmap-add': '',
  'block-dirty-bitmap-remove': '',
  'block-dirty-bitmap-clear': '',
  'block-dirty-bitmap-enable': '',
  'block-dirty-bitmap-disable': '',
  'block-dirty-bitmap-merge': '',
  'object-add': "qom-types 'throttle-group' and 'iothread'",
  'object-del': '',
  'qom-set': "a device's drive",
  'human-monitor-command': "qemu-io [-d] DEVICE 'COMMAND'",
  'query-status': '',
  stop: '',
  cont: '',
  'blockdev-reopen':
    'drivers raw (and a new file child), file, null-co, null-aio, qcow2 (its own file and backing)',
  'x-blockdev-reopen': 'as blockdev-reopen',
} as const satisfies Partial<Record<CommandName, string>>;
/** `''`: all of it; otherwise the part the simulator implements */
export type SimulatedCommand = keyof typeof SIMULATED_COMMANDS;
export const SIMULATED_COMMAND_NAMES = Object.keys(SIMULATED_COMMANDS) as SimulatedCommand[];

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
