import { QDouble, unboxDoubles } from '../../contract/qapi/qdouble.ts';
import { QapiVisitor, visitorTexts } from '../../contract/qapi/visitor.ts';
import { COMMANDS, type CommandName } from '../../contract/qmp/commands.ts';
import { text } from '../../contract/versions.ts';
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
import { humanMonitorCommand, qomSet } from '../commands/hmp.ts';
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
import { queryBlock, queryNamedBlockNodes } from '../commands/query.ts';
import { transaction } from '../commands/transaction.ts';
import type { SimCore } from '../core/core.ts';
import { CreateJob } from '../jobs/create.ts';
import { generic, QmpError } from '../util/qmp-error.ts';

/**
 * The QMP dispatcher (qapi/qmp-dispatch.c + monitor/qmp.c): request checks, negotiation, the command
 * table, QEMU's argument visitor, then the handler. Nothing throws out of `dispatch`: every bad input gets
 * the reply QEMU would give.
 */
export type QmpReply =
  | { return: unknown; id?: unknown }
  | { error: { class: string; desc: string }; id?: unknown };

type Handler = (core: SimCore, args: Record<string, unknown>) => unknown;

const s = (v: unknown) => v as string;

const HANDLERS: Partial<Record<CommandName, Handler>> = {
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
    if (core.flavour === 'system') core.events.emit('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    core.quitRequested = true;
    return {};
  },
  'blockdev-add': (core, a) => {
    blockdevAdd(core, a);
    return {};
  },
  'blockdev-del': (core, a) => {
    blockdevDel(core, s(a['node-name']));
    return {};
  },
  'blockdev-create': (core, a) => {
    const id = s(a['job-id']);
    checkJobId(core, id);
    const job = new CreateJob(core, id, a.options as Record<string, unknown>);
    job.create();
    job.start();
    return {};
  },
  'blockdev-backup': (core, a) => {
    transactionOf(core, 'blockdev-backup', a);
    return {};
  },
  'drive-backup': (core, a) => {
    transactionOf(core, 'drive-backup', a);
    return {};
  },
  'blockdev-mirror': (core, a) => {
    blockdevMirror(core, COMMANDS['blockdev-mirror'].args.parse(a));
    return {};
  },
  transaction: (core, a) => {
    transaction(core, COMMANDS.transaction.args.parse(a));
    return {};
  },
  'block-job-cancel': (core, a) => {
    blockJobCancel(core, s(a.device), a.force === true);
    return {};
  },
  'block-job-change': (core, a) => {
    blockJobChange(core, a);
  },
  'block-job-set-speed': (core, a) => {
    blockJobSetSpeed(core, s(a.device), a.speed as number);
    return {};
  },
  'block-job-pause': (core, a) => {
    jobVerbs['block-job-pause'](core, s(a.device));
  },
  'block-job-resume': (core, a) => {
    jobVerbs['block-job-resume'](core, s(a.device));
  },
  'block-job-complete': (core, a) => {
    jobVerbs['block-job-complete'](core, s(a.device));
  },
  'block-job-finalize': (core, a) => {
    jobVerbs['block-job-finalize'](core, s(a.id));
  },
  'block-job-dismiss': (core, a) => {
    jobVerbs['block-job-dismiss'](core, s(a.id));
  },
  'job-cancel': (core, a) => {
    jobVerbs['job-cancel'](core, s(a.id));
  },
  'job-pause': (core, a) => {
    jobVerbs['job-pause'](core, s(a.id));
  },
  'job-resume': (core, a) => {
    jobVerbs['job-resume'](core, s(a.id));
  },
  'job-complete': (core, a) => {
    jobVerbs['job-complete'](core, s(a.id));
  },
  'job-finalize': (core, a) => {
    jobVerbs['job-finalize'](core, s(a.id));
  },
  'job-dismiss': (core, a) => {
    jobVerbs['job-dismiss'](core, s(a.id));
  },
  'object-add': (core, a) => {
    objectAdd(core, a);
  },
  'object-del': (core, a) => {
    objectDel(core, s(a.id));
  },
  'query-jobs': (core) => queryJobs(core),
  'query-block-jobs': (core) => queryBlockJobs(core),
  'query-named-block-nodes': (core, a) => queryNamedBlockNodes(core, a.flat === true),
  'query-block': (core) => queryBlock(core),
  'nbd-server-start': (core, a) => {
    nbdServerStart(
      core,
      a.addr as { type: string; data: Record<string, unknown> },
      a['max-connections'] as number | undefined,
      a['tls-creds'] as string | undefined,
    );
    return {};
  },
  'nbd-server-stop': (core) => {
    nbdServerStop(core);
  },
  'nbd-server-add': (core, a) => {
    nbdServerAdd(core, COMMANDS['nbd-server-add'].args.parse(a));
  },
  'nbd-server-remove': (core, a) => {
    nbdServerRemove(core, s(a.name), a.mode as 'safe' | 'hard' | undefined);
  },
  'block-export-add': (core, a) => {
    if (a.type !== 'nbd') throw generic(`fleece-lab: export type '${String(a.type)}' is not simulated`);
    blockExportAdd(core, {
      id: s(a.id),
      nodeName: s(a['node-name']),
      name: a.name as string | undefined,
      description: a.description as string | undefined,
      writable: a.writable as boolean | undefined,
      bitmaps: a.bitmaps as (string | { node: string; name: string })[] | undefined,
      allocationDepth: a['allocation-depth'] as boolean | undefined,
      iothread: a.iothread as string | undefined,
      legacy: false,
    });
    return {};
  },
  'block-export-del': (core, a) => {
    blockExportDel(core, s(a.id), a.mode as 'safe' | 'hard' | undefined);
  },
  'query-block-exports': (core) => queryBlockExports(core),
  'block-dirty-bitmap-add': (core, a) => {
    bitmapAdd(core, COMMANDS['block-dirty-bitmap-add'].args.parse(a));
  },
  'block-dirty-bitmap-remove': (core, a) => {
    bitmapRemove(core, s(a.node), s(a.name)).commit();
  },
  'block-dirty-bitmap-clear': (core, a) => {
    bitmapClear(core, s(a.node), s(a.name));
  },
  'block-dirty-bitmap-enable': (core, a) => {
    bitmapEnable(core, s(a.node), s(a.name), true);
  },
  'block-dirty-bitmap-disable': (core, a) => {
    bitmapEnable(core, s(a.node), s(a.name), false);
  },
  'block-dirty-bitmap-merge': (core, a) => {
    bitmapMerge(core, COMMANDS['block-dirty-bitmap-merge'].args.parse(a));
  },
  'qom-set': (core, a) => {
    qomSet(core, s(a.path), s(a.property), a.value);
  },
  'human-monitor-command': (core, a) => humanMonitorCommand(core, s(a['command-line'])),
};

/** blockdev-backup and drive-backup run as a one-action transaction in QEMU (hence the drain events). */
function transactionOf(
  core: SimCore,
  type: 'blockdev-backup' | 'drive-backup',
  a: Record<string, unknown>,
): void {
  transaction(core, { actions: [{ type, data: a }] });
}

/**
 * The argument visitor with every text of the core's version (integer ranges, alternate names), one per
 * core. (core.visitor knows only the four basic texts.)
 */
const visitors = new WeakMap<SimCore, QapiVisitor>();
function visitorOf(core: SimCore): QapiVisitor {
  let v = visitors.get(core);
  if (!v) {
    v = new QapiVisitor(core.intro, visitorTexts(core.version.texts));
    visitors.set(core, v);
  }
  return v;
}

const registered = new WeakMap<SimCore, ReadonlySet<string>>();
function registeredOf(core: SimCore): ReadonlySet<string> {
  let r = registered.get(core);
  if (!r) {
    r = new Set(core.snapshot.commands);
    registered.set(core, r);
  }
  return r;
}

/** One monitor connection's state: capabilities negotiation is per monitor. */
export class Monitor {
  negotiated = false;
  /** out-of-band execution, enabled by qmp_capabilities {enable: ['oob']} */
  oob = false;
  constructor(readonly core: SimCore) {
    // permission errors are worded per version; the graph learns its version from the first monitor
    core.graph.version = core.version;
  }

  /**
   * Handle one parsed request object; returns the reply object (with the request's id echoed). This is
   * qmp_dispatch() and monitor_qmp_dispatch(): the members are checked in the order QEMU's dictionary
   * yields them, "exec-oob" is a member only once OOB is enabled, and while capabilities are being
   * negotiated every command but qmp_capabilities is "not found", reworded.
   */
  dispatch(req: unknown): QmpReply {
    const core = this.core;
    if (req === null || typeof req !== 'object' || Array.isArray(req) || req instanceof QDouble) {
      return { error: { class: 'GenericError', desc: 'QMP input must be a JSON object' } };
    }
    const r = req as Record<string, unknown>;
    const hasId = Object.hasOwn(r, 'id');
    const reply = (x: { return: unknown } | { error: { class: string; desc: string } }): QmpReply =>
      hasId ? ({ ...x, id: r.id } as QmpReply) : x;
    const fail = (e: QmpError) => {
      // monitor_qmp_dispatch: before negotiation, a missing command is reported as "negotiate first"
      if (!this.negotiated && e.errorClass === 'CommandNotFound')
        return reply({ error: { class: e.errorClass, desc: text(core.version, 'qmp.notNegotiated') } });
      return reply({ error: { class: e.errorClass, desc: e.desc } });
    };
    let execKey: string | undefined;
    for (const key of Object.keys(r)) {
      if (key === 'execute' || (key === 'exec-oob' && this.oob)) {
        if (typeof r[key] !== 'string') return fail(generic(`QMP input member '${key}' must be a string`));
        if (execKey) return fail(generic(`QMP input member '${key}' clashes with '${execKey}'`));
        execKey = key;
      } else if (key === 'arguments') {
        const a = r.arguments;
        if (a === null || typeof a !== 'object' || Array.isArray(a) || a instanceof QDouble)
          return fail(generic("QMP input member 'arguments' must be an object"));
      } else if (key !== 'id') {
        return fail(generic(`QMP input member '${key}' is unexpected`));
      }
    }
    if (!execKey) return fail(generic("QMP input lacks member 'execute'"));
    const name = r[execKey] as string;
    // the negotiation command list holds qmp_capabilities only; the full list holds it too
    // registered is what query-commands lists; the schema can know more (5.2's qsd has no object-add)
    const known = (this.negotiated || name === 'qmp_capabilities') && registeredOf(core).has(name);
    const cmd = known ? core.intro.commands.get(name) : undefined;
    if (!cmd) return fail(new QmpError('CommandNotFound', text(core.version, 'qmp.commandNotFound', name)));
    if (execKey === 'exec-oob' && !cmd['allow-oob'])
      return fail(generic(`The command ${name} does not support OOB`));
    const argError = visitorOf(core).checkCommand(name, (r.arguments ?? {}) as Record<string, unknown>);
    if (argError) return fail(generic(argError));
    const args = unboxDoubles(r.arguments ?? {}) as Record<string, unknown>;
    if (name === 'qmp_capabilities') {
      if (this.negotiated)
        return fail(new QmpError('CommandNotFound', text(core.version, 'qmp.alreadyNegotiated')));
      const enable = (args.enable as string[] | undefined) ?? [];
      const offered = new Set<string>(core.snapshot.greeting.QMP.capabilities);
      const unavailable = enable.filter((c) => !offered.has(c));
      if (unavailable.length > 0) return fail(generic(`Capability ${unavailable.join(', ')} not available`));
      this.oob = enable.includes('oob');
      this.negotiated = true;
      return reply({ return: {} });
    }
    const handler = HANDLERS[name as CommandName];
    if (!handler) return fail(generic(`fleece-lab: command '${name}' is not simulated`));
    try {
      const ret = handler(core, args);
      return reply({ return: ret ?? {} });
    } catch (e) {
      if (e instanceof QmpError) return fail(e);
      // A simulator bug must not take the monitor down: report it like QEMU reports errors.
      return fail(
        generic(`fleece-lab internal error in ${name}: ${e instanceof Error ? e.message : String(e)}`),
      );
    } finally {
      // The main loop runs what became ready (a drain): jobs that complete at once do so before the reply.
      try {
        core.clock.advance(0);
      } catch {
        // a runaway job is reported by the clock's own bound on the next advance
      }
    }
  }
}
