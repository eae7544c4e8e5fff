import { QDouble, unboxDoubles } from '../../contract/qapi/qdouble.ts';
import { QapiVisitor, visitorTexts } from '../../contract/qapi/visitor.ts';
import { text } from '../../contract/versions.ts';
import { machineHandler } from '../commands/machine.ts';
import type { SimCore } from '../core/core.ts';
import { generic, QmpError } from '../util/qmp-error.ts';
import { checkedArgs, isHandled, runHandler } from './handlers.ts';

/**
 * The QMP dispatcher (qapi/qmp-dispatch.c + monitor/qmp.c): request checks, negotiation, the command
 * table, QEMU's argument visitor, then the handler (sim/monitor/handlers.ts). Nothing throws out of
 * `dispatch`: every bad input gets the reply QEMU would give.
 */
export type QmpReply =
  | { return: unknown; id?: unknown }
  | { error: { class: string; desc: string }; id?: unknown };

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

/** the reply, with the request's id echoed when it had one */
function withId(
  r: Record<string, unknown>,
  x: { return: unknown } | { error: { class: string; desc: string } },
): QmpReply {
  return Object.hasOwn(r, 'id') ? ({ ...x, id: r.id } as QmpReply) : x;
}

function failure(m: Monitor, r: Record<string, unknown>, e: QmpError): QmpReply {
  // monitor_qmp_dispatch: before negotiation, a missing command is reported as "negotiate first"
  if (!m.negotiated && e.errorClass === 'CommandNotFound')
    return withId(r, { error: { class: e.errorClass, desc: text(m.core.version, 'qmp.notNegotiated') } });
  return withId(r, { error: { class: e.errorClass, desc: e.desc } });
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
    let execKey: string | undefined;
    for (const key of Object.keys(r)) {
      if (key === 'execute' || (key === 'exec-oob' && this.oob)) {
        if (typeof r[key] !== 'string')
          return failure(this, r, generic(`QMP input member '${key}' must be a string`));
        if (execKey) return failure(this, r, generic(`QMP input member '${key}' clashes with '${execKey}'`));
        execKey = key;
      } else if (key === 'arguments') {
        const a = r.arguments;
        if (a === null || typeof a !== 'object' || Array.isArray(a) || a instanceof QDouble)
          return failure(this, r, generic("QMP input member 'arguments' must be an object"));
      } else if (key !== 'id') {
        return failure(this, r, generic(`QMP input member '${key}' is unexpected`));
      }
    }
    if (!execKey) return failure(this, r, generic("QMP input lacks member 'execute'"));
    const name = r[execKey] as string;
    // the negotiation command list holds qmp_capabilities only; the full list holds it too
    // registered is what query-commands lists; the schema can know more (5.2's qsd has no object-add)
    const known = (this.negotiated || name === 'qmp_capabilities') && registeredOf(core).has(name);
    const cmd = known ? core.intro.commands.get(name) : undefined;
    if (!cmd)
      return failure(
        this,
        r,
        new QmpError('CommandNotFound', text(core.version, 'qmp.commandNotFound', name)),
      );
    if (execKey === 'exec-oob' && !cmd['allow-oob'])
      return failure(this, r, generic(`The command ${name} does not support OOB`));
    const argError = visitorOf(core).checkCommand(name, (r.arguments ?? {}) as Record<string, unknown>);
    if (argError) return failure(this, r, generic(argError));
    const args = unboxDoubles(r.arguments ?? {}) as Record<string, unknown>;
    if (name === 'qmp_capabilities') {
      if (this.negotiated)
        return failure(this, r, new QmpError('CommandNotFound', text(core.version, 'qmp.alreadyNegotiated')));
      const enable = checkedArgs('qmp_capabilities', args).enable ?? [];
      const offered = new Set<string>(core.snapshot.greeting.QMP.capabilities);
      const unavailable = enable.filter((c) => !offered.has(c));
      if (unavailable.length > 0)
        return failure(this, r, generic(`Capability ${unavailable.join(', ')} not available`));
      this.oob = enable.includes('oob');
      this.negotiated = true;
      return withId(r, { return: {} });
    }
    // qemu-system's machine queries, when serve --flavour system made a machine
    const machine = isHandled(name) ? undefined : machineHandler(core, name);
    if (!isHandled(name) && !machine)
      return failure(this, r, generic(`fleece-lab: command '${name}' is not simulated`));
    try {
      const ret = isHandled(name) ? runHandler(core, name, args) : machine!(core, args);
      return withId(r, { return: ret ?? {} });
    } catch (e) {
      if (e instanceof QmpError) return failure(this, r, e);
      // A simulator bug must not take the monitor down: report it like QEMU reports errors.
      return failure(
        this,
        r,
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
