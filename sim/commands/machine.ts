import { ghashOrder } from '../../contract/qapi/glib-hash.ts';
import {
  type CannedReply,
  loadSystemData,
  type ReplyContext,
  requestKey,
} from '../../contract/qemu-system/system-data.ts';
import type { Profile } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import type { MachineState } from '../core/machine.ts';
import { IoThread, objectsOf } from '../core/objects.ts';
import { type ErrorClass, generic, QmpError } from '../util/qmp-error.ts';

/**
 * qemu-system's machine queries: what the command line set (name, uuid, run state, chardevs, iothreads,
 * migration capabilities) answered from the machine the serve process made, and what a real binary says
 * about its build and its guest's CPU (machines, QOM types, device properties, CPU models and expansions,
 * the CPU's QOM properties) answered from what was captured from that version under the same command line
 * (contract/qemu-system, harness/qemu/capture-system.ts). A request the captures do not hold is refused
 * as not simulated rather than guessed.
 */

/** replies that do not depend on the machine or the accelerator (any captured context will do) */
const BUILD_WIDE = new Set([
  'query-machines',
  'qom-list-types',
  'device-list-properties',
  'qom-list-properties',
  'query-target',
  'query-tpm-models',
  'query-tpm-types',
  'query-command-line-options',
  'query-sev-capabilities',
  'query-sgx-capabilities',
]);

/** replies that depend on the accelerator only (a probe with the same one will do) */
const ACCEL_WIDE = new Set(['query-cpu-definitions', 'query-cpu-model-expansion']);

const indexes = new Map<Profile, Map<ReplyContext, Map<string, CannedReply>>>();
function indexOf(profile: Profile): Map<ReplyContext, Map<string, CannedReply>> {
  let ix = indexes.get(profile);
  if (!ix) {
    ix = new Map();
    for (const r of loadSystemData(profile).replies) {
      let m = ix.get(r.context);
      if (!m) {
        m = new Map();
        ix.set(r.context, m);
      }
      m.set(requestKey(r.request.execute, r.request.arguments), r.reply);
    }
    indexes.set(profile, ix);
  }
  return ix;
}

/**
 * A captured object comes in QEMU's wire order; the JSON writer puts QAPI insertion order into wire
 * order, so the keys go back in reverse (qdictOrder of the reversed keys is the wire order again).
 */
function fromWire(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromWire);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, fromWire(x)]),
    );
  return v;
}

function answer(r: CannedReply): unknown {
  if ('error' in r) throw new QmpError(r.error.class as ErrorClass, r.error.desc);
  return fromWire(r.return);
}

/** The captured reply to exactly this request under this machine's command line, if there is one. */
export function cannedReply(
  core: SimCore,
  name: string,
  args: Record<string, unknown>,
): { found: true; value: unknown } | { found: false } {
  const ms = core.machineState;
  const ix = indexOf(core.profile);
  const key = requestKey(name, Object.keys(args).length ? args : undefined);
  const contexts: ReplyContext[] = [];
  if (ms?.context) contexts.push(ms.context);
  if (ACCEL_WIDE.has(name) || BUILD_WIDE.has(name))
    contexts.push(ms?.accel === 'kvm' ? 'probe-kvm' : 'probe-tcg');
  if (BUILD_WIDE.has(name)) contexts.push('probe-kvm', 'probe-tcg', 'q35-tcg');
  for (const c of contexts) {
    const r = ix.get(c)?.get(key);
    if (r) return { found: true, value: answer(r) };
  }
  return { found: false };
}

function machine(core: SimCore): MachineState {
  if (!core.machineState)
    throw generic('fleece-lab: this simulator has no machine (serve --flavour system makes one)');
  return core.machineState;
}

/** the capability list query-migrate-capabilities starts from (captured: the build's own list) */
function migrateCapsBase(core: SimCore): { state: boolean; capability: string }[] {
  const r = cannedReply(core, 'query-migrate-capabilities', {});
  if (!r.found) throw generic('fleece-lab: query-migrate-capabilities was not captured for this version');
  return r.value as { state: boolean; capability: string }[];
}

/** qom-list of a container: its children's names in QOM's hash order, reversed by qom-list, and 'type' */
function containerList(children: readonly { name: string; type: string }[]): unknown {
  const byName = new Map(children.map((c) => [c.name, c.type]));
  const order = ghashOrder(children.map((c) => c.name)).reverse();
  return [
    { name: 'type', type: 'string' },
    ...order.map((n) => ({ name: n, type: `child<${byName.get(n)}>` })),
  ];
}

type Handler = (core: SimCore, args: Record<string, unknown>) => unknown;

export const MACHINE_HANDLERS: Record<string, Handler> = {
  'query-name': (core) => {
    const n = machine(core).name;
    return n === undefined ? {} : { name: n };
  },
  'query-uuid': (core) => ({ UUID: machine(core).uuid ?? '00000000-0000-0000-0000-000000000000' }),
  'query-kvm': (core) => ({ enabled: machine(core).accel === 'kvm', present: true }),
  'query-chardev': (core) => machine(core).chardevs(),
  'query-iothreads': (core) =>
    [...objectsOf(core).entries()]
      .filter(([, o]) => o instanceof IoThread)
      .map(([id]) => ({
        id,
        'thread-id': process.pid,
        'poll-max-ns': 32768,
        'poll-grow': 0,
        'poll-shrink': 0,
        'aio-max-batch': 0,
      })),
  'query-migrate-capabilities': (core) => {
    const caps = machine(core).migrateCaps;
    return migrateCapsBase(core).map((c) => ({ ...c, state: caps.get(c.capability) ?? c.state }));
  },
  'migrate-set-capabilities': (core, a) => {
    const known = new Set(migrateCapsBase(core).map((c) => c.capability));
    const list = (a.capabilities ?? []) as { capability: string; state: boolean }[];
    for (const c of list)
      if (!known.has(c.capability))
        throw generic(`fleece-lab: migration capability '${c.capability}' is not simulated`);
    for (const c of list) machine(core).migrateCaps.set(c.capability, c.state);
    return {};
  },
  'qom-list': (core, a) => {
    const ms = machine(core);
    if (a.path === '/machine/peripheral') {
      const named = ms.peripherals.filter((d) => d.id !== undefined);
      return containerList(named.map((d) => ({ name: d.id!, type: d.type })));
    }
    return fromCaptures(core, 'qom-list', a);
  },
};

/** a request answered only from the captures */
export function fromCaptures(core: SimCore, name: string, args: Record<string, unknown>): unknown {
  const r = cannedReply(core, name, args);
  if (r.found) return r.value;
  if (name === 'qom-get') missingCpuProperty(core, args);
  if (name === 'device-list-properties') unknownDeviceType(core, args);
  throw generic(`fleece-lab: ${name} ${JSON.stringify(args)} is not simulated on this machine`);
}

/**
 * qom-get of a property the CPU does not have (libvirt asks another version's list of them): where its
 * qom-list was captured and lacks the name, QEMU's object_property_find error (the same on real 5.2, 7.2,
 * 10.0 and 11.1; seen replaying libvirt's conversations with other versions, fleece-lab replay).
 */
function missingCpuProperty(core: SimCore, args: Record<string, unknown>): void {
  const { path, property } = args;
  if (path !== CPU_PATH || typeof property !== 'string') return;
  const list = cannedReply(core, 'qom-list', { path });
  if (!list.found || !Array.isArray(list.value)) return;
  if (list.value.some((p: { name?: unknown }) => p?.name === property)) return;
  const type = `${core.machineState?.cpuModel ?? 'qemu64'}-x86_64-cpu`;
  throw generic(`Property '${type}.${property}' not found`);
}

/**
 * device-list-properties of a type this build does not have (libvirt 9.0 asks for qxl, a module the
 * Debian roots of 10.0 and 11.1 lack): QEMU's DeviceNotFound, where the build's type list was captured.
 */
function unknownDeviceType(core: SimCore, args: Record<string, unknown>): void {
  const { typename } = args;
  if (typeof typename !== 'string') return;
  const types = cannedReply(core, 'qom-list-types', {});
  if (!types.found || !Array.isArray(types.value)) return;
  if (types.value.some((t: { name?: unknown }) => t?.name === typename)) return;
  throw new QmpError('DeviceNotFound', `Device '${typename}' not found`);
}

/** where libvirt finds the first CPU */
const CPU_PATH = '/machine/unattached/device[0]';

/**
 * The handler qemu-system's extra commands get: a machine query, or the captured reply when the serve
 * process made a machine; undefined where the simulator has no machine (in process).
 */
export function machineHandler(core: SimCore, name: string): Handler | undefined {
  if (core.flavour !== 'system' || !core.machineState) return undefined;
  return MACHINE_HANDLERS[name] ?? ((c, a) => fromCaptures(c, name, a));
}
