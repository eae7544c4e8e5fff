/**
 * The input visitor as qemu-system-x86_64's second pass runs it over -display (DisplayOptions),
 * -audiodev (Audiodev) and -object (ObjectOptions, 6.0+): JSON when the text starts with '{', keyval (or,
 * for -object, the QemuOpts the opts visitor reads) otherwise. Errors are QEMU's (QemuOptError).
 */
import type { Introspection } from '../../contract/qapi/introspection.ts';
import type { Profile } from '../../contract/versions.ts';
import { type KvDict, keyvalParse, QemuOptError } from './keyval.ts';
import type { QemuOpts } from './qemu-opts.ts';
import { qmpFormat } from './qmp-server.ts';
import type { QValue } from './qobject/qobject.ts';
import { qobjectFromJson } from './qobject/qobject-from-json.ts';
import { InputVisitor, type LocalType, type TypeRef } from './qobject-input-visitor.ts';
import { schemaContext } from './qsd-resolve.ts';

function retType(intro: Introspection, command: string): string {
  const c = intro.commands.get(command);
  if (!c) throw new Error(`no ${command} in the schema`);
  return c['ret-type'];
}

function argType(intro: Introspection, command: string): string {
  const c = intro.commands.get(command);
  if (!c) throw new Error(`no ${command} in the schema`);
  return c['arg-type'];
}

/** qobject_input_visitor_new_str(text, implied) + visit */
function visitStr(profile: Profile, intro: Introspection, type: TypeRef, text: string, implied: string) {
  const texts = schemaContext(profile, intro).texts;
  if (text.startsWith('{')) {
    const r = qobjectFromJson(text, qmpFormat(profile).generation);
    if ('error' in r) throw new QemuOptError(r.error);
    return new InputVisitor(intro, texts, 'json').visit(type, r.value);
  }
  return new InputVisitor(intro, texts, 'keyval').visit(type, keyvalParse(text, implied));
}

/** -display: DisplayOptions, the type query-display-options returns */
export function visitDisplay(profile: Profile, intro: Introspection, arg: string): Record<string, unknown> {
  return visitStr(profile, intro, retType(intro, 'query-display-options'), arg, 'type');
}

/** AudiodevDriver of the Debian builds before Audiodev reached the QMP schema (10.0 has query-audiodevs) */
const AUDIO_DRIVERS: Partial<Record<Profile, string[]>> = {
  '5.2': ['none', 'alsa', 'coreaudio', 'dsound', 'jack', 'oss', 'pa', 'sdl', 'spice', 'wav'],
  '7.2': ['none', 'alsa', 'coreaudio', 'dbus', 'dsound', 'jack', 'oss', 'pa', 'sdl', 'sndio', 'spice', 'wav'],
};

/** -audiodev: Audiodev (only its id and driver are checked before 10.0) */
export function visitAudiodev(profile: Profile, intro: Introspection, arg: string): Record<string, unknown> {
  const drivers = AUDIO_DRIVERS[profile];
  if (!drivers) {
    const list = intro.type(retType(intro, 'query-audiodevs'));
    if (list['meta-type'] !== 'array') throw new Error('query-audiodevs does not return a list');
    return visitStr(profile, intro, list['element-type'], arg, 'driver');
  }
  const local: LocalType = {
    kind: 'object',
    members: [
      { name: 'id', type: 'str', optional: false },
      { name: 'driver', type: { kind: 'enum', values: drivers }, optional: false },
      { name: 'timer-period', type: 'int', optional: true },
    ],
  };
  return visitStr(profile, intro, local, arg, 'driver');
}

/**
 * -object (6.0+): ObjectOptions, object-add's arguments. From JSON (qobject_input_visitor) or from the
 * QemuOpts of the keyval form (opts_visitor: every value a string, the last of a repeated name).
 */
export function visitObject(
  profile: Profile,
  intro: Introspection,
  opts: QemuOpts | undefined,
  json: QValue | undefined,
): Record<string, unknown> {
  const type = argType(intro, 'object-add');
  const texts = schemaContext(profile, intro).texts;
  if (json !== undefined) return new InputVisitor(intro, texts, 'json').visit(type, json);
  const dict: KvDict = new Map();
  for (const [k, v] of opts?.opts ?? []) dict.set(k, v);
  if (opts?.id !== undefined) dict.set('id', opts.id);
  return new InputVisitor(intro, texts, 'keyval').visit(type, dict);
}
