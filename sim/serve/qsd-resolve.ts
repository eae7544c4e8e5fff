/**
 * Resolving the steps of a qsd command line into the arguments of the QMP commands they stand for
 * (qemu-storage-daemon.c's process_options): `--blockdev`, `--export`, `--nbd-server`, `--monitor` and
 * `--object` through keyval or JSON and QEMU's input visitor, with its error texts.
 */
import type { Introspection } from '../../contract/qapi/introspection.ts';
import { type Profile, VERSIONS } from '../../contract/versions.ts';
import { keyvalParse, QemuOptError } from './keyval.ts';
import { qmpFormat } from './qmp-server.ts';
import { qobjectFromJson } from './qobject/qobject-from-json.ts';
import { InputVisitor, type LocalType, type TypeRef, type VisitorTexts } from './qobject-input-visitor.ts';

const OBJECT_TYPES_52 = [
  'authz-list',
  'authz-list-file',
  'authz-simple',
  'iothread',
  'pr-manager-helper',
  'secret',
  'secret_keyring',
  'throttle-group',
  'tls-cipher-suites',
  'tls-creds-anon',
  'tls-creds-psk',
  'tls-creds-x509',
];

export interface SchemaContext {
  profile: Profile;
  intro: Introspection;
  texts: VisitorTexts;
}

export function schemaContext(profile: Profile, intro: Introspection): SchemaContext {
  const t = VERSIONS[profile].texts;
  return {
    profile,
    intro,
    texts: {
      missing: t['qapi.missing'],
      badType: t['qapi.badType'],
      badEnum: t['qapi.badEnum'],
      unexpected: t['qapi.unexpected'],
    },
  };
}

export type Resolved<T> = { ok: T } | { error: string };

function guard<T>(fn: () => T): Resolved<T> {
  try {
    return { ok: fn() };
  } catch (e) {
    if (e instanceof QemuOptError) return { error: e.message };
    throw e;
  }
}

/** qobject_input_visitor_new_str: JSON when the text starts with '{', keyval otherwise */
function visitStr(
  ctx: SchemaContext,
  text: string,
  implied: string | undefined,
  type: TypeRef,
): Record<string, unknown> {
  if (text.startsWith('{')) {
    const r = qobjectFromJson(text, qmpFormat(ctx.profile).generation);
    if ('error' in r) throw new QemuOptError(r.error);
    return new InputVisitor(ctx.intro, ctx.texts, 'json').visit(type, r.value);
  }
  return new InputVisitor(ctx.intro, ctx.texts, 'keyval').visit(type, keyvalParse(text, implied));
}

function argType(ctx: SchemaContext, command: string): string {
  const c = ctx.intro.commands.get(command);
  if (!c) throw new Error(`profile ${ctx.profile} has no ${command}`);
  return c['arg-type'];
}

/** --blockdev: the arguments blockdev-add gets */
export function resolveBlockdev(ctx: SchemaContext, arg: string): Resolved<Record<string, unknown>> {
  return guard(() => visitStr(ctx, arg, 'driver', argType(ctx, 'blockdev-add')));
}

/** --export: the arguments block-export-add gets */
export function resolveExport(ctx: SchemaContext, arg: string): Resolved<Record<string, unknown>> {
  return guard(() => visitStr(ctx, arg, 'type', argType(ctx, 'block-export-add')));
}

/**
 * --nbd-server: NbdServerOptions is nbd-server-start's arguments with a flat SocketAddress for `addr`
 * (built from SocketAddressLegacy's branches); returns nbd-server-start's arguments.
 */
export function resolveNbdServer(ctx: SchemaContext, arg: string): Resolved<Record<string, unknown>> {
  return guard(() => {
    const cmd = ctx.intro.type(argType(ctx, 'nbd-server-start'));
    if (cmd['meta-type'] !== 'object') throw new Error('nbd-server-start arguments are not an object');
    const addrMember = cmd.members.find((m) => m.name === 'addr')!;
    const legacy = ctx.intro.type(addrMember.type);
    if (legacy['meta-type'] !== 'object' || !legacy.tag || !legacy.variants)
      throw new Error('unexpected SocketAddressLegacy');
    const tagMember = legacy.members.find((m) => m.name === legacy.tag)!;
    const flat: LocalType = {
      kind: 'object',
      members: [{ name: 'type', type: tagMember.type, optional: false }],
      tag: 'type',
      variants: legacy.variants.map((v) => {
        const wrapper = ctx.intro.type(v.type);
        const data =
          wrapper['meta-type'] === 'object' ? wrapper.members.find((m) => m.name === 'data') : undefined;
        return { case: v.case, type: data ? data.type : v.type };
      }),
    };
    const opts: LocalType = {
      kind: 'object',
      members: cmd.members.map((m) => ({
        name: m.name,
        type: m.name === 'addr' ? flat : m.type,
        optional: m.default === null,
      })),
    };
    const v = visitStr(ctx, arg, undefined, opts);
    const addr = v.addr as Record<string, unknown>;
    const { type, ...data } = addr;
    return { ...v, addr: { type, data } };
  });
}

export interface MonitorSpec {
  chardev: string;
  mode: 'control' | 'readline' | undefined;
  pretty: boolean;
  id: string | undefined;
}

const MONITOR_OPTIONS: LocalType = {
  kind: 'object',
  members: [
    { name: 'id', type: 'str', optional: true },
    { name: 'mode', type: { kind: 'enum', values: ['readline', 'control'] }, optional: true },
    { name: 'pretty', type: 'bool', optional: true },
    { name: 'chardev', type: 'str', optional: false },
  ],
};

/** --monitor [chardev=]ID[,mode=control][,pretty=on|off] */
export function resolveMonitor(ctx: SchemaContext, arg: string): Resolved<MonitorSpec> {
  return guard(() => {
    const v = visitStr(ctx, arg, 'chardev', MONITOR_OPTIONS);
    if (v.mode === 'readline') throw new QemuOptError('Only QMP is supported');
    return {
      chardev: v.chardev as string,
      mode: v.mode as MonitorSpec['mode'],
      pretty: v.pretty === true,
      id: v.id as string | undefined,
    };
  });
}

/** --object: only iothread is taken (and changes nothing here); anything else is refused */
export function resolveObject(
  ctx: SchemaContext,
  arg: string,
): Resolved<{ qomType: string; id: string; args?: Record<string, unknown> }> {
  return guard(() => {
    if (ctx.profile === '5.2') {
      const kv = keyvalParse(arg, 'qom-type');
      const type = kv.get('qom-type');
      if (typeof type !== 'string' || !OBJECT_TYPES_52.includes(type))
        throw new QemuOptError(`invalid object type: ${String(type ?? '')}`);
      const id = kv.get('id');
      if (typeof id !== 'string') throw new QemuOptError("Parameter 'id' is missing");
      if (type === 'throttle-group') {
        // 5.2's object-add takes the properties in 'props'; keyval gives strings, the visitor numbers
        const props: Record<string, unknown> = {};
        for (const [k, val] of kv)
          if (k !== 'qom-type' && k !== 'id')
            props[k] = typeof val === 'string' && /^\d+$/.test(val) ? Number(val) : val;
        return { qomType: type, id, args: { 'qom-type': type, id, props } };
      }
      if (type !== 'iothread') throw new QemuOptError(`fleece-lab: --object ${type} is not simulated`);
      return { qomType: type, id };
    }
    const v = visitStr(ctx, arg, 'qom-type', argType(ctx, 'object-add'));
    const type = v['qom-type'] as string;
    if (type !== 'iothread' && type !== 'throttle-group')
      throw new QemuOptError(`fleece-lab: --object ${type} is not simulated`);
    return { qomType: type, id: v.id as string, args: v };
  });
}
