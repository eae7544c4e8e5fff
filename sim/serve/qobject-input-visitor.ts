/**
 * The QObject input visitor (qapi/qobject-input-visitor.c) over the introspected schema, in both its
 * keyval mode (every scalar is a string: "size=0x10", "read-only=on") and its JSON mode (`--blockdev
 * '{...}'`), with QEMU's error texts and order — including which unexpected member is named first,
 * which follows GLib's hash table (g_str_hash, `hash * 11 % prime`, quadratic probing).
 *
 * Pure: values in, plain data for the simulator or QEMU's error text out.
 */
import { firstUnexpected } from '../../contract/qapi/glib-hash.ts';
import type { Introspection, SchemaEntry } from '../../contract/qapi/introspection.ts';
import { strtoInt, strtosz } from './cutils.ts';
import { type KvValue, QemuOptError } from './keyval.ts';
import { QNum, type QValue } from './qobject/qobject.ts';

/** Integer kinds introspection hides (it says "int" for all of them), by member name. */
const INT_KINDS: Record<string, IntKind> = {
  'latency-ns': 'uint64',
  'cbw-timeout': 'uint32',
  'min-cluster-size': 'size',
  'max-connections': 'uint32',
  'handshake-max-seconds': 'uint32',
  to: 'uint16',
  'max-transfer': 'int32',
  'opt-write-zero': 'int32',
  'max-write-zero': 'int32',
  'opt-discard': 'int32',
  'max-discard': 'int32',
  'num-queues': 'uint16',
  'queue-size': 'uint16',
  'logical-block-size': 'size',
  'poll-max-ns': 'int64',
};
type IntKind = 'int64' | 'uint64' | 'int32' | 'uint32' | 'uint16' | 'uint8' | 'int16' | 'int8' | 'size';

const RANGES: Partial<Record<IntKind, [bigint, bigint, string]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n, 'int32_t'],
  int16: [-(2n ** 15n), 2n ** 15n - 1n, 'int16_t'],
  int8: [-128n, 127n, 'int8_t'],
  uint32: [0n, 2n ** 32n - 1n, 'uint32_t'],
  uint16: [0n, 65535n, 'uint16_t'],
  uint8: [0n, 255n, 'uint8_t'],
};

export interface VisitorTexts {
  missing: string;
  badType: string;
  badEnum: string;
  unexpected: string;
}

type In = QValue | KvValue;
type Path = (string | number)[];

function fmt(t: string, ...a: string[]): string {
  let i = 0;
  return t.replace(/%s/g, () => a[i++] ?? '');
}

function alternateName(intro: Introspection, members: { type: string }[]): string {
  const kinds = members.map((m) => {
    const t = intro.type(m.type);
    return t['meta-type'] === 'builtin' ? t.name : t['meta-type'];
  });
  const known: Record<string, string> = {
    'object,str': 'BlockdevRef',
    'object,str,null': 'BlockdevRefOrNull',
    'str,null': 'StrOrNull',
    'str,object': 'BlockDirtyBitmapOrStr',
  };
  return known[kinds.join(',')] ?? 'alternate';
}

/** A type the introspection does not have (MonitorOptions, NbdServerOptions): built here. */
export type LocalType =
  | {
      kind: 'object';
      members: { name: string; type: TypeRef; optional: boolean }[];
      tag?: string;
      variants?: { case: string; type: TypeRef }[];
    }
  | { kind: 'enum'; values: string[] };
export type TypeRef = string | LocalType;

/**
 * qobject_input_visitor over the introspected schema. `keyval` mode takes keyval_parse's strings,
 * `json` mode a parsed JSON value; both return plain data for the simulator, or throw QemuOptError.
 */
export class InputVisitor {
  constructor(
    private readonly intro: Introspection,
    private readonly texts: VisitorTexts,
    private readonly mode: 'keyval' | 'json',
  ) {}

  visit(type: TypeRef, root: In): Record<string, unknown> {
    return this.visitStruct(type, root, []) as Record<string, unknown>;
  }

  private fullName(path: Path): string {
    let s = '';
    for (const p of path) {
      if (typeof p === 'number') s += this.mode === 'keyval' ? `.${p}` : `[${p}]`;
      else s += s ? `.${p}` : p;
    }
    return s;
  }

  private fail(msg: string): never {
    throw new QemuOptError(msg);
  }

  private resolve(t: TypeRef): SchemaEntry | LocalType {
    return typeof t === 'string' ? this.intro.type(t) : t;
  }

  private visitStruct(tref: TypeRef, value: In | undefined, path: Path): unknown {
    if (!(value instanceof Map)) this.fail(fmt(this.texts.badType, this.fullName(path), 'object'));
    const dict = value as Map<string, In>;
    const out: Record<string, unknown> = {};
    const visited: string[] = [];
    const visitMembers = (t: SchemaEntry | LocalType): void => {
      const members =
        'kind' in t
          ? t.kind === 'object'
            ? t.members
            : []
          : t['meta-type'] === 'object'
            ? t.members.map((m) => ({ name: m.name, type: m.type as TypeRef, optional: m.default === null }))
            : [];
      for (const m of members) {
        if (!dict.has(m.name)) {
          if (m.optional) continue;
          this.fail(fmt(this.texts.missing, this.fullName([...path, m.name])));
        }
        visited.push(m.name);
        out[m.name] = this.visitValue(m.type, dict.get(m.name)!, [...path, m.name], m.name);
      }
      const tag =
        'kind' in t
          ? t.kind === 'object'
            ? t.tag
            : undefined
          : t['meta-type'] === 'object'
            ? t.tag
            : undefined;
      const variants =
        'kind' in t
          ? t.kind === 'object'
            ? t.variants
            : undefined
          : t['meta-type'] === 'object'
            ? t.variants
            : undefined;
      if (tag && variants) {
        const v = variants.find((x) => x.case === out[tag]);
        if (v) visitMembers(this.resolve(v.type));
      }
    };
    visitMembers(this.resolve(tref));
    const extra = firstUnexpected([...dict.keys()], visited);
    if (extra !== undefined) this.fail(fmt(this.texts.unexpected, this.fullName([...path, extra])));
    return out;
  }

  private scalarString(value: In, path: Path): string {
    if (typeof value === 'string') return value;
    if (value instanceof Map || Array.isArray(value))
      this.fail(`Parameters '${this.fullName(path)}.*' are unexpected`);
    this.fail(fmt(this.texts.badType, this.fullName(path), 'string'));
  }

  private visitValue(tref: TypeRef, value: In, path: Path, name: string | undefined): unknown {
    const t = this.resolve(tref);
    const full = this.fullName(path);
    if ('kind' in t) {
      if (t.kind === 'enum') return this.visitEnum(t.values, value, path, name);
      return this.visitStruct(t, value, path);
    }
    switch (t['meta-type']) {
      case 'builtin':
        return this.visitBuiltin(t.name, value, path, name);
      case 'enum':
        return this.visitEnum(t.values, value, path, name);
      case 'object':
        return this.visitStruct(tref, value, path);
      case 'array': {
        if (!Array.isArray(value)) this.fail(fmt(this.texts.badType, full, 'array'));
        return (value as In[]).map((el, i) =>
          this.visitValue(t['element-type'], el, [...path, i], undefined),
        );
      }
      case 'alternate': {
        const kind =
          value instanceof Map
            ? 'object'
            : Array.isArray(value)
              ? 'array'
              : typeof value === 'string'
                ? 'string'
                : value instanceof QNum
                  ? 'number'
                  : typeof value === 'boolean'
                    ? 'bool'
                    : 'null';
        for (const m of t.members) {
          const mt = this.intro.type(m.type);
          const fits =
            (kind === 'object' && mt['meta-type'] === 'object') ||
            (kind === 'array' && mt['meta-type'] === 'array') ||
            (kind === 'string' &&
              (mt['meta-type'] === 'enum' || (mt['meta-type'] === 'builtin' && mt.name === 'str'))) ||
            (kind === 'number' &&
              mt['meta-type'] === 'builtin' &&
              (mt.name === 'int' || mt.name === 'number')) ||
            (kind === 'bool' && mt['meta-type'] === 'builtin' && mt.name === 'bool') ||
            (kind === 'null' && mt['meta-type'] === 'builtin' && mt.name === 'null');
          if (fits) return this.visitValue(m.type, value, path, name);
        }
        this.fail(fmt(this.texts.badType, name ?? 'null', alternateName(this.intro, t.members)));
        break;
      }
      default:
        return undefined;
    }
    return undefined;
  }

  private visitEnum(values: string[], value: In, path: Path, name: string | undefined): string {
    let s: string;
    if (this.mode === 'keyval') s = this.scalarString(value, path);
    else {
      if (typeof value !== 'string') this.fail(fmt(this.texts.badType, this.fullName(path), 'string'));
      s = value as string;
    }
    if (!values.includes(s)) this.fail(this.texts.badEnum.replace('%n', name ?? 'null').replace('%v', s));
    return s;
  }

  private visitBuiltin(type: string, value: In, path: Path, name: string | undefined): unknown {
    const full = this.fullName(path);
    const kind = (name && INT_KINDS[name]) || 'int64';
    if (type === 'any') return toPlainIn(value);
    if (this.mode === 'keyval') {
      if (type === 'null') this.fail(fmt(this.texts.badType, full, 'null'));
      const s = this.scalarString(value, path);
      switch (type) {
        case 'str':
          return s;
        case 'bool':
          if (['on', 'yes', 'true', 'y'].includes(s)) return true;
          if (['off', 'no', 'false', 'n'].includes(s)) return false;
          return this.fail(`Parameter '${full}' expects 'on' or 'off'`);
        case 'number': {
          const n = Number(s.trim());
          if (s.trim() === '' || !Number.isFinite(n)) this.fail(`Parameter '${full}' expects number`);
          return n;
        }
        case 'int': {
          let v: bigint | undefined;
          if (kind === 'size') {
            v = strtosz(s);
            if (v === undefined) this.fail(`Parameter '${full}' expects size`);
          } else {
            v = strtoInt(s, kind.startsWith('u'));
            if (v === undefined) this.fail(`Parameter '${full}' expects integer`);
          }
          return this.ranged(v!, kind, name);
        }
        default:
          return s;
      }
    }
    // JSON mode: the value's JSON type must fit
    const word: Record<string, string> = {
      str: 'string',
      int: 'integer',
      number: 'number',
      bool: 'boolean',
      null: 'null',
    };
    const bad = () => this.fail(fmt(this.texts.badType, full, word[type] ?? type));
    switch (type) {
      case 'str':
        if (typeof value !== 'string') bad();
        return value;
      case 'bool':
        if (typeof value !== 'boolean') bad();
        return value;
      case 'null':
        if (value !== null) bad();
        return null;
      case 'number':
        if (!(value instanceof QNum)) bad();
        return Number((value as QNum).value);
      case 'int': {
        const unsigned = kind.startsWith('u') || kind === 'size';
        // qobject_input_type_uint64: anything but an integer is a bad value; a negative int64 wraps
        if (unsigned && (!(value instanceof QNum) || value.kind === 'double'))
          this.fail(`Parameter '${full}' expects uint64`);
        if (!(value instanceof QNum)) bad();
        const q = value as QNum;
        if (unsigned) {
          const v = q.value as bigint;
          return this.ranged(v < 0n ? v + 2n ** 64n : v, kind, name);
        }
        if (q.kind !== 'i64') bad();
        return this.ranged(q.value as bigint, kind, name);
      }
      default:
        return toPlainIn(value);
    }
  }

  private ranged(v: bigint, kind: IntKind, name: string | undefined): number | bigint {
    const r = RANGES[kind];
    if (r && (v < r[0] || v > r[1])) this.fail(`Parameter '${name ?? 'null'}' expects ${r[2]}`);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}

function toPlainIn(v: In): unknown {
  if (v instanceof QNum) return v.kind === 'double' ? v.value : Number(v.value);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [k, toPlainIn(x)]));
  if (Array.isArray(v)) return v.map(toPlainIn);
  return v;
}
