/**
 * keyval (util/keyval.c), as qemu-storage-daemon reads `--blockdev`, `--export`, `--nbd-server`,
 * `--monitor` and `--object`: `driver=qcow2,file.driver=file,file.filename=x,bitmaps.0=b`, with an
 * implied first key, ",," escapes, dotted keys into nested objects, numeric keys into lists. The values
 * then go through the input visitor (qobject-input-visitor.ts); `--chardev` uses QemuOpts
 * (qemu-option.ts) instead.
 *
 * Everything here is pure: strings in, values or QEMU's error text out.
 */
import { qdictOrder } from '../../contract/qjson.ts';

/** QEMU's error text for a bad option value (keyval, QemuOpts, the input visitor). */
export class QemuOptError extends Error {}

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

/**
 * keyval_parse_into (6.0+'s -machine): parse into an existing dictionary, later keys replacing earlier
 * ones; no listify; `help` is reported, not refused.
 */
export function keyvalParseInto(root: KvDict, params: string, impliedKey: string | undefined): boolean {
  let s = 0;
  let help = false;
  let implied = impliedKey;
  while (s < params.length) {
    s = parseOne(root, params, s, implied, () => {
      help = true;
    });
    implied = undefined;
  }
  return help;
}

/** keyval_parse with help permitted: the dictionary, or 'help' */
export function keyvalParseHelp(params: string, impliedKey: string | undefined): KvDict | 'help' {
  const root: KvDict = new Map();
  if (keyvalParseInto(root, params, impliedKey)) return 'help';
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
