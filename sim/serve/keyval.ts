/**
 * QEMU's command-line value syntaxes, as qemu-storage-daemon reads them:
 *
 * - keyval (util/keyval.c): `driver=qcow2,file.driver=file,file.filename=x,bitmaps.0=b`, with an
 *   implied first key, ",," escapes, dotted keys into nested objects, numeric keys into lists;
 * - the QObject input visitor (qapi/qobject-input-visitor.c) over the introspected schema, in both its
 *   keyval mode (every scalar is a string: "size=0x10", "read-only=on") and its JSON mode (`--blockdev
 *   '{...}'`), with QEMU's error texts and order — including which unexpected member is named first,
 *   which follows GLib's hash table (g_str_hash, `hash * 11 % prime`, quadratic probing);
 * - QemuOpts (util/qemu-option.c), which `--chardev` still uses.
 *
 * Everything here is pure: strings in, values or QEMU's error text out.
 */

import { firstUnexpected } from '../../contract/qapi/glib-hash.ts';
import type { Introspection, SchemaEntry } from '../../contract/qapi/introspection.ts';
import { qdictOrder } from '../../contract/qjson.ts';
import { QNum, type QValue } from './qobject/qobject.ts';

export class QemuOptError extends Error {}

// ---------------------------------------------------------------- keyval

export type KvValue = string | KvDict | KvValue[];
export type KvDict = Map<string, KvValue>;

/** parse_qapi_name(s, false): length of the QAPI name at the start of s, or -1 */
function parseQapiName(s: string): number {
  let p = 0;
  const alnum = (c: string | undefined) => c !== undefined && /[A-Za-z0-9]/.test(c);
  if (s[p] === '_') {
    p++;
    if (s[p] !== '_') return -1;
    while (s[++p] !== undefined) {
      if (!alnum(s[p]) && s[p] !== '-' && s[p] !== '.') break;
    }
    if (s[p] !== '_') return -1;
    p++;
  }
  if (s[p] === undefined || !/[A-Za-z]/.test(s[p])) return -1;
  while (s[++p] !== undefined) {
    if (!alnum(s[p]) && s[p] !== '-' && s[p] !== '_') break;
  }
  return p;
}

/** key_to_index: leading digits as a number (capped), or -1 */
function keyToIndex(s: string): { index: number; len: number } | undefined {
  const m = /^[0-9]+/.exec(s);
  if (!m) return undefined;
  const n = Number(m[0]);
  return { index: Number.isSafeInteger(n) && n <= 0x7fffffff ? n : 0x7fffffff, len: m[0].length };
}

function startsWithHelp(s: string): number {
  if (s.startsWith('?')) return 1;
  if (s.startsWith('help')) return 4;
  return 0;
}

function kvPut(
  cur: KvDict,
  keyInCur: string,
  value: string | undefined,
  key: string,
  cursor: number,
): KvValue {
  const old = cur.get(keyInCur);
  if (old !== undefined) {
    const isStr = typeof old === 'string';
    if (isStr !== (value !== undefined))
      throw new QemuOptError(`Parameters '${key.slice(0, cursor)}.*' used inconsistently`);
    if (value === undefined) return old;
    cur.delete(keyInCur);
  }
  const v: KvValue = value ?? new Map();
  cur.set(keyInCur, v);
  return v;
}

/** keyval_parse with help not permitted (as every qsd option calls it) */
export function keyvalParse(params: string, impliedKey: string | undefined): KvDict {
  const root: KvDict = new Map();
  let s = 0;
  let help = false;
  let implied = impliedKey;
  while (s < params.length) {
    s = parseOne(root, params, s, implied, () => {
      help = true;
    });
    implied = undefined;
  }
  if (help) throw new QemuOptError('Help is not available for this option');
  listify(root, []);
  return root;
}

function parseOne(
  qdict: KvDict,
  params: string,
  start: number,
  implied: string | undefined,
  onHelp: () => void,
): number {
  const rest = params.slice(start);
  let key = rest;
  let len = rest.search(/[=,]/);
  if (len < 0) len = rest.length;
  let valEnd = -1;
  let usesImplied = false;
  if (len && rest[len] !== '=') {
    if (startsWithHelp(rest) === len) {
      onHelp();
      let s = start + len;
      if (params[s] === ',') s++;
      return s;
    }
    if (implied) {
      usesImplied = true;
      key = implied;
      valEnd = len;
      len = implied.length;
    }
  }
  const keyEnd = len;
  let cur = qdict;
  let s = 0;
  let keyInCur = '';
  for (;;) {
    let flen: number;
    const idx = s !== 0 ? keyToIndex(key.slice(s)) : undefined;
    if (idx) flen = idx.len;
    else {
      const r = parseQapiName(key.slice(s));
      flen = Math.max(r, 0);
    }
    if (!flen || (s + flen < keyEnd && key[s + flen] !== '.')) {
      throw new QemuOptError(`Invalid parameter '${key.slice(0, keyEnd)}'`);
    }
    if (flen >= 128) {
      const frag = s !== 0 || s + flen !== keyEnd ? ' fragment' : '';
      throw new QemuOptError(`Parameter${frag} '${key.slice(s, s + flen)}' is too long`);
    }
    if (s !== 0) {
      const next = kvPut(cur, keyInCur, undefined, key, s - 1);
      cur = next as KvDict;
    }
    keyInCur = key.slice(s, s + flen);
    s += flen;
    if (key[s] !== '.') break;
    s++;
  }
  let value: string;
  let after: number;
  if (usesImplied) {
    value = rest.slice(0, valEnd);
    after = start + valEnd;
    if (params[after] === ',') after++;
  } else {
    if (key[s] !== '=') throw new QemuOptError(`Expected '=' after parameter '${key.slice(0, s)}'`);
    let p = start + s + 1;
    value = '';
    for (;;) {
      if (p >= params.length) break;
      if (params[p] === ',') {
        p++;
        if (params[p] !== ',') break;
      }
      value += params[p++];
    }
    after = p;
  }
  kvPut(cur, keyInCur, value, key, keyEnd);
  return after;
}

/** keyval_listify: dicts whose keys are all indexes become lists */
function listify(cur: KvDict, keyOf: string[]): KvValue {
  let hasIndex = false;
  let hasMember = false;
  for (const k of qdictOrder([...cur.keys()])) {
    const v = cur.get(k)!;
    const isIndex = /^[0-9]/.test(k) && keyToIndex(k)!.len === k.length;
    if (isIndex) hasIndex = true;
    else hasMember = true;
    if (v instanceof Map) {
      const l = listify(v, [...keyOf, k]);
      if (l !== v) cur.set(k, l);
    }
  }
  const prefix = keyOf.map((k) => `${k}.`).join('');
  if (hasIndex && hasMember) throw new QemuOptError(`Parameters '${prefix}*' used inconsistently`);
  if (!hasIndex) return cur;
  const nelt = cur.size + 1;
  const elt: (KvValue | undefined)[] = new Array(nelt).fill(undefined);
  let maxIndex = -1;
  for (const k of qdictOrder([...cur.keys()])) {
    const index = keyToIndex(k)!.index;
    if (index > maxIndex) maxIndex = index;
    if (index >= nelt - 1) continue;
    elt[index] = cur.get(k);
  }
  const list: KvValue[] = [];
  for (let i = 0; i < Math.min(nelt, maxIndex + 1); i++) {
    if (elt[i] === undefined) throw new QemuOptError(`Parameter '${prefix}${i}' missing`);
    list.push(elt[i]!);
  }
  return list;
}

// ---------------------------------------------------------------- numbers (util/cutils.c)

const SPACE = /^[ \t\n\v\f\r]*/;

/** strtoll/strtoull with base 0 over the whole string (qemu_strtoi64 / qemu_strtou64) */
function strtoInt(s: string, unsigned: boolean): bigint | undefined {
  let p = SPACE.exec(s)![0].length;
  let neg = false;
  if (s[p] === '+' || s[p] === '-') {
    neg = s[p] === '-';
    p++;
  }
  let base = 10;
  if (s[p] === '0' && (s[p + 1] === 'x' || s[p + 1] === 'X') && /[0-9a-fA-F]/.test(s[p + 2] ?? '')) {
    base = 16;
    p += 2;
  } else if (s[p] === '0') {
    base = 8;
  }
  const digits = base === 16 ? /^[0-9a-fA-F]+/ : base === 8 ? /^[0-7]+/ : /^[0-9]+/;
  const m = digits.exec(s.slice(p));
  if (!m || p + m[0].length !== s.length) return undefined;
  let v = 0n;
  for (const ch of m[0]) v = v * BigInt(base) + BigInt(Number.parseInt(ch, 16));
  if (unsigned) {
    if (v >= 2n ** 64n) return undefined;
    return neg ? (2n ** 64n - v) % 2n ** 64n : v;
  }
  const sv = neg ? -v : v;
  if (sv < -(2n ** 63n) || sv >= 2n ** 63n) return undefined;
  return sv;
}

/** qemu_strtosz: a size with an optional B/K/M/G/T/P/E suffix */
function strtosz(s: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*(0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?)([bBkKmMgGtTpPeE]?)$/.exec(s);
  if (!m) return undefined;
  const units: Record<string, number> = { '': 0, B: 0, K: 10, M: 20, G: 30, T: 40, P: 50, E: 60 };
  const shift = BigInt(units[m[2].toUpperCase()]);
  let v: bigint;
  if (/^0[xX]/.test(m[1])) v = BigInt(m[1]) << shift;
  else if (m[1].includes('.')) {
    if (m[2] === '' || m[2].toUpperCase() === 'B') return undefined;
    v = BigInt(Math.round(Number(m[1]) * 2 ** Number(shift)));
  } else v = BigInt(m[1]) << shift;
  return v < 2n ** 64n ? v : undefined;
}

// ---------------------------------------------------------------- the visitor

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

// ---------------------------------------------------------------- QemuOpts

export type OptType = 'bool' | 'num' | 'size' | 'str';

export interface QemuOptsResult {
  id: string | undefined;
  /** options in the order given (the last of a repeated name wins in lookups) */
  opts: [string, string][];
  warnings: string[];
  help: boolean;
}

function idWellformed(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9\-._]*$/.test(id);
}

/** get_opt_value: up to a single ',' with ",," as an escaped comma */
function optValue(s: string, p: number): { value: string; end: number } {
  let v = '';
  while (p < s.length) {
    if (s[p] === ',') {
      if (s[p + 1] === ',') {
        v += ',';
        p += 2;
        continue;
      }
      break;
    }
    v += s[p++];
  }
  return { value: v, end: p };
}

function nameValue(
  s: string,
  p: number,
  firstname: string | undefined,
): { name: string; value: string; end: number; flag: 'on' | 'off' | undefined } {
  const rest = s.slice(p);
  let len = rest.search(/[=,]/);
  if (len < 0) len = rest.length;
  let name: string;
  let value: string;
  let end: number;
  let flag: 'on' | 'off' | undefined;
  if (rest[len] !== '=') {
    if (firstname) {
      name = firstname;
      const v = optValue(s, p);
      value = v.value;
      end = v.end;
    } else {
      name = rest.slice(0, len);
      end = p + len;
      if (name.startsWith('no')) {
        name = name.slice(2);
        value = 'off';
        flag = 'off';
      } else {
        value = 'on';
        flag = 'on';
      }
    }
  } else {
    name = rest.slice(0, len);
    const v = optValue(s, p + len + 1);
    value = v.value;
    end = v.end;
  }
  if (s[end] === ',') end++;
  return { name, value, end, flag };
}

/**
 * qemu_opts_parse_noisily(list, params, permit_abbrev=true): the id first (checked before anything
 * else), then each option in order against `desc`, with 6.0+'s warnings for short-form booleans.
 */
export function qemuOptsParse(
  params: string,
  impliedName: string,
  desc: Record<string, OptType>,
  warnOnFlag: boolean,
): QemuOptsResult {
  let id: string | undefined;
  for (let p = 0; p < params.length; ) {
    const nv = nameValue(params, p, undefined);
    if (nv.name === 'id') {
      id = nv.value;
      break;
    }
    p = nv.end;
  }
  if (id !== undefined && !idWellformed(id)) {
    throw new QemuOptError(
      "Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
    );
  }
  const opts: [string, string][] = [];
  const warnings: string[] = [];
  let first: string | undefined = impliedName;
  for (let p = 0; p < params.length; ) {
    const nv = nameValue(params, p, first);
    first = undefined;
    p = nv.end;
    if (nv.flag && (nv.name === 'help' || nv.name === '?')) return { id, opts, warnings, help: true };
    if (nv.flag && warnOnFlag) {
      const prefix = nv.flag === 'off' ? 'no' : '';
      const advice =
        nv.name === 'delay'
          ? `Please use nodelay=${prefix ? 'on' : 'off'} instead`
          : `Please use ${nv.name}=${nv.value} instead`;
      warnings.push(`short-form boolean option '${prefix}${nv.name}' deprecated\n${advice}`);
    }
    if (nv.name === 'id') continue;
    const type = desc[nv.name];
    if (!type) throw Object.assign(new QemuOptError(`Invalid parameter '${nv.name}'`), { warnings });
    if (type === 'bool' && !['on', 'yes', 'true', 'y', 'off', 'no', 'false', 'n'].includes(nv.value)) {
      throw Object.assign(new QemuOptError(`Parameter '${nv.name}' expects 'on' or 'off'`), { warnings });
    }
    if (type === 'num') {
      const v = strtoInt(nv.value, true);
      if (v === undefined)
        throw Object.assign(new QemuOptError(`Parameter '${nv.name}' expects a number`), { warnings });
    }
    opts.push([nv.name, nv.value]);
  }
  return { id, opts, warnings, help: false };
}

export function optGet(r: QemuOptsResult, name: string): string | undefined {
  let v: string | undefined;
  for (const [k, x] of r.opts) if (k === name) v = x;
  return v;
}

export function optBool(r: QemuOptsResult, name: string, dflt: boolean): boolean {
  const v = optGet(r, name);
  if (v === undefined) return dflt;
  return ['on', 'yes', 'true', 'y'].includes(v);
}
