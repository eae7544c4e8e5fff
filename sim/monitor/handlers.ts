import type { CommandArgs } from '../../contract/qapi/generated/commands.ts';
import type { SimulatedCommand } from '../../contract/qmp/commands.ts';
import { bitmapAdd, bitmapClear, bitmapEnable, bitmapMerge, bitmapRemove } from '../commands/bitmaps.ts';
import { blockdevAdd, blockdevDel } from '../commands/blockdev.ts';
import { checkJobId } from '../commands/common.ts';
import {
  blockExportAdd,
  blockExportDel,
  nbdServerAdd,
  nbdServerRemove,
  nbdServerStart,
  nbdServerStop,
  queryBlockExports,
} from '../commands/exports.ts';
import { humanMonitorCommand } from '../commands/hmp.ts';
import {
  blockJobCancel,
  blockJobChange,
  blockJobSetSpeed,
  jobVerbs,
  queryBlockJobs,
  queryJobs,
} from '../commands/jobs.ts';
import { blockdevMirror } from '../commands/mirror.ts';
import { objectAdd, objectDel } from '../commands/objects.ts';
import { qomSet } from '../commands/qom.ts';
import { queryBlock, queryNamedBlockNodes } from '../commands/query.ts';
import { blockdevReopen, xBlockdevReopen } from '../commands/reopen.ts';
import { cont, queryStatus, stop } from '../commands/runstate.ts';
import { transaction } from '../commands/transaction.ts';
import type { SimCore } from '../core/core.ts';
import { CreateJob } from '../jobs/create.ts';
import { generic } from '../util/qmp-error.ts';

/** Every simulated command but qmp_capabilities, which the monitor answers itself (it negotiates the monitor). */
export type HandledCommand = Exclude<SimulatedCommand, 'qmp_capabilities'>;

/**
 * The command table (QEMU's qmp_marshal_* functions): one handler per simulated command, given arguments of
 * the command's type (contract/qapi/generated/commands.ts). The table must have exactly the commands
 * contract/qmp/commands.ts says the simulator implements.
 */
export type Handlers = { [C in HandledCommand]: (core: SimCore, args: CommandArgs<C>) => unknown };

export const HANDLERS: Handlers = {
  // VersionInfo in QAPI member order (the captured copy is in wire order, which the writer would scramble)
  'query-version': (core) => {
    const v = core.snapshot.version as {
      qemu: { major: number; minor: number; micro: number };
      package: string;
    };
    return { qemu: { major: v.qemu.major, minor: v.qemu.minor, micro: v.qemu.micro }, package: v.package };
  },
  'query-qmp-schema': (core) => core.snapshot.schema,
  // in QEMU's own order, as captured from each version (registration order, reversed)
  'query-commands': (core) => core.snapshot.commands.map((name) => ({ name })),
  quit: (core) => {
    // 5.2 sends SHUTDOWN from its main loop after quit's reply (serve --flavour system does so too)
    if (core.flavour === 'system' && core.profile !== '5.2')
      core.events.emit('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    core.quitRequested = true;
    return {};
  },
  'blockdev-add': (core, a) => {
    blockdevAdd(core, a);
    return {};
  },
  'blockdev-del': (core, a) => {
    blockdevDel(core, a['node-name']);
    return {};
  },
  'blockdev-create': (core, a) => {
    checkJobId(core, a['job-id']);
    const job = new CreateJob(core, a['job-id'], a.options);
    job.create();
    job.start();
    return {};
  },
  // blockdev-backup and drive-backup run as a one-action transaction in QEMU (hence the drain events)
  'blockdev-backup': (core, a) => {
    transaction(core, { actions: [{ type: 'blockdev-backup', data: a }] });
    return {};
  },
  'drive-backup': (core, a) => {
    transaction(core, { actions: [{ type: 'drive-backup', data: a }] });
    return {};
  },
  'blockdev-mirror': (core, a) => {
    blockdevMirror(core, a);
    return {};
  },
  transaction: (core, a) => {
    transaction(core, a);
    return {};
  },
  'block-job-cancel': (core, a) => {
    blockJobCancel(core, a.device, a.force === true);
    return {};
  },
  'block-job-change': (core, a) => {
    blockJobChange(core, a);
  },
  'block-job-set-speed': (core, a) => {
    blockJobSetSpeed(core, a.device, a.speed);
    return {};
  },
  'block-job-pause': (core, a) => {
    jobVerbs['block-job-pause'](core, a.device);
  },
  'block-job-resume': (core, a) => {
    jobVerbs['block-job-resume'](core, a.device);
  },
  'block-job-complete': (core, a) => {
    jobVerbs['block-job-complete'](core, a.device);
  },
  'block-job-finalize': (core, a) => {
    jobVerbs['block-job-finalize'](core, a.id);
  },
  'block-job-dismiss': (core, a) => {
    jobVerbs['block-job-dismiss'](core, a.id);
  },
  'job-cancel': (core, a) => {
    jobVerbs['job-cancel'](core, a.id);
  },
  'job-pause': (core, a) => {
    jobVerbs['job-pause'](core, a.id);
  },
  'job-resume': (core, a) => {
    jobVerbs['job-resume'](core, a.id);
  },
  'job-complete': (core, a) => {
    jobVerbs['job-complete'](core, a.id);
  },
  'job-finalize': (core, a) => {
    jobVerbs['job-finalize'](core, a.id);
  },
  'job-dismiss': (core, a) => {
    jobVerbs['job-dismiss'](core, a.id);
  },
  'object-add': (core, a) => {
    objectAdd(core, a);
  },
  'object-del': (core, a) => {
    objectDel(core, a.id);
  },
  'query-jobs': (core) => queryJobs(core),
  'query-block-jobs': (core) => queryBlockJobs(core),
  'query-named-block-nodes': (core, a) => queryNamedBlockNodes(core, a.flat === true),
  'query-block': (core) => queryBlock(core),
  'nbd-server-start': (core, a) => {
    nbdServerStart(core, a.addr, a['max-connections'], a['tls-creds']);
    return {};
  },
  'nbd-server-stop': (core) => {
    nbdServerStop(core);
  },
  'nbd-server-add': (core, a) => {
    nbdServerAdd(core, a);
  },
  'nbd-server-remove': (core, a) => {
    nbdServerRemove(core, a.name, a.mode);
  },
  'block-export-add': (core, a) => {
    if (a.type !== 'nbd') throw generic(`fleece-lab: export type '${a.type}' is not simulated`);
    blockExportAdd(core, {
      id: a.id,
      nodeName: a['node-name'],
      name: a.name,
      description: a.description,
      writable: a.writable,
      bitmaps: a.bitmaps,
      allocationDepth: a['allocation-depth'],
      iothread: a.iothread,
      legacy: false,
    });
    return {};
  },
  'block-export-del': (core, a) => {
    blockExportDel(core, a.id, a.mode);
  },
  'query-block-exports': (core) => queryBlockExports(core),
  'block-dirty-bitmap-add': (core, a) => {
    bitmapAdd(core, a);
  },
  'block-dirty-bitmap-remove': (core, a) => {
    bitmapRemove(core, a.node, a.name).commit();
  },
  'block-dirty-bitmap-clear': (core, a) => {
    bitmapClear(core, a.node, a.name);
  },
  'block-dirty-bitmap-enable': (core, a) => {
    bitmapEnable(core, a.node, a.name, true);
  },
  'block-dirty-bitmap-disable': (core, a) => {
    bitmapEnable(core, a.node, a.name, false);
  },
  'block-dirty-bitmap-merge': (core, a) => {
    bitmapMerge(core, a);
  },
  'qom-set': (core, a) => {
    qomSet(core, a.path, a.property, a.value);
  },
  'human-monitor-command': (core, a) => humanMonitorCommand(core, a['command-line']),
  'query-status': (core) => queryStatus(core),
  stop: (core) => {
    stop(core);
  },
  cont: (core) => {
    cont(core);
  },
  'blockdev-reopen': (core, a) => {
    blockdevReopen(core, a.options as unknown as Record<string, unknown>[]);
  },
  'x-blockdev-reopen': (core, a) => {
    xBlockdevReopen(core, a as unknown as Record<string, unknown>);
  },
};

const handled: ReadonlySet<string> = new Set(Object.keys(HANDLERS));

export function isHandled(name: string): name is HandledCommand {
  return handled.has(name);
}

/**
 * The arguments of a command as its handler takes them. Dispatch calls this only after QEMU's argument
 * visitor (contract/qapi/visitor.ts) has accepted them against this profile's schema, and the generated
 * types are the union of every profile's schema: what the visitor accepted has the command's type. This is
 * the one place that says so to the type checker.
 */
export function checkedArgs<C extends SimulatedCommand>(
  _command: C,
  visited: Record<string, unknown>,
): CommandArgs<C> {
  return visited as CommandArgs<C>;
}

/** Run a command's handler on arguments the visitor accepted. */
export function runHandler<C extends HandledCommand>(
  core: SimCore,
  command: C,
  visited: Record<string, unknown>,
): unknown {
  const handler: Handlers[C] = HANDLERS[command];
  return handler(core, checkedArgs(command, visited));
}
