/**
 * QEMU's JSON reader, byte for byte: the lexer (qobject/json-lexer.c), the streamer that splits a byte
 * stream into messages (json-streamer.c) and the parser (json-parser.c), in the two generations the
 * profiles need:
 *
 * - classic (5.2, 7.2, 10.0): the streamer queues tokens until brackets balance, then a recursive-descent
 *   parser reads the queue; errors have no position ("JSON parse error, expecting value").
 * - push (11.1): every token goes straight into a state machine; errors carry "LINE:COL: " and wording
 *   changed ("expecting key", "expected ',' or '}'", "premature end of input").
 *
 * The classic parser is run incrementally here (token by token, same first error), so a message never
 * has to be held as a token list: memory is bounded by one token (64 MiB, QEMU's MAX_TOKEN_SIZE).
 * Values keep what QEMU keeps and JavaScript would lose: dictionary insertion order (any key, even
 * "1"), and whether a number is an int64, a uint64 or a double, so an `id` is echoed exactly.
 * Also here: QEMU's JSON writer for such values (compact and `pretty=on`), with each version's number
 * formatting.
 */

import { QDouble } from '../../contract/qapi/qdouble.ts';
import { qdictOrder, toQemuJson } from '../../contract/qjson.ts';

// ---------------------------------------------------------------- values

/** A JSON number as QEMU's QNum holds it. */
export class QNum {
  constructor(
    readonly kind: 'i64' | 'u64' | 'double',
    readonly value: bigint | number,
  ) {}
}

export type QValue = null | boolean | string | QNum | QValue[] | QDict;
/** A QDict: keys in insertion order (a Map keeps "1" where it was put, unlike an object). */
export type QDict = Map<string, QValue>;

export function isQDict(v: unknown): v is QDict {
  return v instanceof Map;
}

/**
 * The plain JavaScript value the simulator's dispatcher takes. Integers outside 2^53 become bigints (the
 * visitor counts those as integers); doubles stay numbers.
 */
export function toPlain(v: QValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof QNum) {
    if (v.kind === 'double') {
      const x = v.value as number;
      // a whole double must still look like a double to the argument visitor
      return Number.isInteger(x) ? new QDouble(x) : x;
    }
    const b = v.value as bigint;
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  if (Array.isArray(v)) return v.map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [k, x] of v) out[k] = toPlain(x);
  return out;
}

// ---------------------------------------------------------------- writer

export type NumberStyle = 'f' | 'g17';

/** %f with trailing zeros (and a bare '.') dropped: qnum_to_string up to 5.2. */
function formatF(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  // toFixed switches to exponents from 1e21 on; such doubles are integers, printed in full by %f
  let s = Math.abs(x) >= 1e21 ? `${BigInt(x)}.000000` : x.toFixed(6);
  if (Object.is(x, -0) || (x < 0 && !s.startsWith('-'))) s = `-${s}`;
  s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

/** printf("%.17g"): qnum_to_string from 6.0 on. */
export function formatG17(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const P = 17;
  const e = x.toExponential(P - 1); // d.dddddddddddddddde±X
  const [mant, expText] = e.split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= P) {
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const sign = exp < 0 ? '-' : '+';
    const digits = String(Math.abs(exp)).padStart(2, '0');
    return `${m}e${sign}${digits}`;
  }
  const fixed = x.toFixed(P - 1 - exp);
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

function formatNumber(n: QNum | number | bigint, style: NumberStyle): string {
  if (n instanceof QNum) {
    if (n.kind !== 'double') return (n.value as bigint).toString();
    const x = n.value as number;
    return style === 'f' ? formatF(x) : formatG17(x);
  }
  if (typeof n === 'bigint') return n.toString();
  if (Number.isInteger(n) && !Object.is(n, -0)) return n.toFixed(0);
  return style === 'f' ? formatF(n) : formatG17(n);
}

/**
 * qobject_to_json(_pretty): a parsed QValue (or plain data) as QEMU writes it. Dict keys go in QDict
 * order (spec/qjson.ts); `pretty` is QEMU's 4-space layout, with "\n" (the monitor turns it into CRLF).
 */
export function formatQValue(v: unknown, style: NumberStyle, pretty = false, level = 0): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return toQemuJson(v);
  if (v instanceof QNum || typeof v === 'number' || typeof v === 'bigint') return formatNumber(v, style);
  const indent = (n: number) => '    '.repeat(n);
  if (Array.isArray(v)) {
    if (!pretty) return `[${v.map((x) => formatQValue(x, style)).join(', ')}]`;
    const items = v.map((x) => `\n${indent(level + 1)}${formatQValue(x, style, true, level + 1)}`);
    return `[${items.join(',')}\n${indent(level)}]`;
  }
  let entries: [string, unknown][];
  if (v instanceof Map) entries = [...v.entries()];
  else entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  const byKey = new Map(entries);
  const keys = qdictOrder(entries.map(([k]) => k));
  if (!pretty) {
    if (keys.length === 0) return '{}';
    return `{${keys.map((k) => `${toQemuJson(k)}: ${formatQValue(byKey.get(k), style)}`).join(', ')}}`;
  }
  const items = keys.map(
    (k) => `\n${indent(level + 1)}${toQemuJson(k)}: ${formatQValue(byKey.get(k), style, true, level + 1)}`,
  );
  return `{${items.join(',')}\n${indent(level)}}`;
}

// ---------------------------------------------------------------- unicode (util/unicode.c)

/** mod_utf8_codepoint: the code point at `i` (or -1 when invalid) and where the next one starts. */
export function modUtf8Codepoint(b: Uint8Array, i: number, n = 6): { cp: number; end: number } {
  const limit = Math.min(b.length, i + n);
  if (i >= limit || b[i] === 0) return { cp: -1, end: i };
  let p = i;
  let byte = b[p++];
  let cp: number;
  if (byte < 0x80) {
    cp = byte;
  } else if (byte >= 0xfe) {
    cp = -1;
  } else if ((byte & 0x40) === 0) {
    cp = -1;
  } else {
    let len = 0;
    let mask = 0x80;
    for (; byte & mask; mask >>= 1) len++;
    cp = byte & (mask - 1);
    for (let k = 1; k < len; k++) {
      byte = i + k < limit ? b[p] : 0;
      if ((byte & 0xc0) !== 0x80) return { cp: -1, end: p };
      p++;
      cp = (cp << 6) | (byte & 0x3f);
    }
    const minCp = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];
    if (cp > 0x10ffff) cp = -1;
    else if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) cp = -1;
    else if (cp >= 0xd800 && cp <= 0xdfff) cp = -1;
    else if (cp < minCp[len - 2] && !(cp === 0 && len === 2)) cp = -1;
  }
  return { cp, end: p };
}

function validCodepoint(cp: number): boolean {
  if (cp > 0x10ffff || cp < 0) return false;
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  return true;
}

/**
 * A C string (bytes up to the first NUL) as the JavaScript string whose toQemuJson() is what QEMU's
 * to_json() writes for it: invalid sequences become U+FFFD, "\xC0\x80" is U+0000.
 */
export function cStringToJs(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length && b[i] !== 0) {
    const { cp, end } = modUtf8Codepoint(b, i);
    out += String.fromCodePoint(cp < 0 ? 0xfffd : cp);
    i = end > i ? end : i + 1;
  }
  return out;
}

// ---------------------------------------------------------------- lexer

export const MAX_TOKEN_SIZE = 64 * 1024 * 1024;
export const MAX_TOKEN_COUNT = 2 * 1024 * 1024;
export const MAX_NESTING = 1024;

export type TokType =
  | 'lcurly'
  | 'rcurly'
  | 'lsquare'
  | 'rsquare'
  | 'colon'
  | 'comma'
  | 'integer'
  | 'float'
  | 'keyword'
  | 'string'
  | 'error'
  | 'eoi'
  /** a token cut at MAX_TOKEN_SIZE: QEMU passes the lexer state as its type */
  | 'oversize';

export interface Token {
  type: TokType;
  bytes: Uint8Array;
  x: number;
  y: number;
}

enum S {
  START,
  RECOVERY,
  DQ,
  DQ_ESC,
  SQ,
  SQ_ESC,
  ZERO,
  EXP_DIGITS,
  EXP_SIGN,
  EXP_E,
  MANTISSA,
  MANTISSA_DIGITS,
  DIGITS,
  SIGN,
  KEYWORD,
}

/** A transition: a state (S.*), or a token to emit (string), with LOOK when the byte is not consumed. */
type Next = { state: S; look: boolean } | { tok: TokType | 'error'; look: boolean };

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

function next(state: S, c: number): Next {
  const st = (s: S, look = false): Next => ({ state: s, look });
  const tok = (t: TokType | 'error', look = false): Next => ({ tok: t, look });
  switch (state) {
    case S.RECOVERY:
      if (c === 0x09) return st(S.RECOVERY);
      if (c < 0x20 || c >= 0xfe) return st(S.START, true);
      if (c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === 0x3a || c === 0x2c)
        return st(S.START, true);
      return st(S.RECOVERY);
    case S.DQ:
      if (c === 0x5c) return st(S.DQ_ESC);
      if (c === 0x22) return tok('string');
      return c >= 0x20 && c <= 0xfd ? st(S.DQ) : tok('error');
    case S.DQ_ESC:
      return c >= 0x20 && c <= 0xfd ? st(S.DQ) : tok('error');
    case S.SQ:
      if (c === 0x5c) return st(S.SQ_ESC);
      if (c === 0x27) return tok('string');
      return c >= 0x20 && c <= 0xfd ? st(S.SQ) : tok('error');
    case S.SQ_ESC:
      return c >= 0x20 && c <= 0xfd ? st(S.SQ) : tok('error');
    case S.ZERO:
      if (isDigit(c)) return tok('error');
      if (c === 0x2e) return st(S.MANTISSA);
      return tok('integer', true);
    case S.EXP_DIGITS:
      return isDigit(c) ? st(S.EXP_DIGITS) : tok('float', true);
    case S.EXP_SIGN:
      return isDigit(c) ? st(S.EXP_DIGITS) : tok('error');
    case S.EXP_E:
      if (c === 0x2d || c === 0x2b) return st(S.EXP_SIGN);
      return isDigit(c) ? st(S.EXP_DIGITS) : tok('error');
    case S.MANTISSA_DIGITS:
      if (isDigit(c)) return st(S.MANTISSA_DIGITS);
      if (c === 0x65 || c === 0x45) return st(S.EXP_E);
      return tok('float', true);
    case S.MANTISSA:
      return isDigit(c) ? st(S.MANTISSA_DIGITS) : tok('error');
    case S.DIGITS:
      if (isDigit(c)) return st(S.DIGITS);
      if (c === 0x65 || c === 0x45) return st(S.EXP_E);
      if (c === 0x2e) return st(S.MANTISSA);
      return tok('integer', true);
    case S.SIGN:
      if (c === 0x30) return st(S.ZERO);
      return c >= 0x31 && c <= 0x39 ? st(S.DIGITS) : tok('error');
    case S.KEYWORD:
      return c >= 0x61 && c <= 0x7a ? st(S.KEYWORD) : tok('keyword', true);
    default:
      // START
      switch (c) {
        case 0x22:
          return st(S.DQ);
        case 0x27:
          return st(S.SQ);
        case 0x30:
          return st(S.ZERO);
        case 0x2d:
          return st(S.SIGN);
        case 0x7b:
          return tok('lcurly');
        case 0x7d:
          return tok('rcurly');
        case 0x5b:
          return tok('lsquare');
        case 0x5d:
          return tok('rsquare');
        case 0x2c:
          return tok('comma');
        case 0x3a:
          return tok('colon');
        case 0x20:
        case 0x09:
        case 0x0d:
        case 0x0a:
          return st(S.START);
        default:
          if (c >= 0x31 && c <= 0x39) return st(S.DIGITS);
          if (c >= 0x61 && c <= 0x7a) return st(S.KEYWORD);
          return tok('error');
      }
  }
}

/** A growable byte buffer for the token being lexed. */
class ByteBuf {
  private buf = new Uint8Array(64);
  len = 0;
  push(c: number): void {
    if (this.len === this.buf.length) {
      const b = new Uint8Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.len++] = c;
  }
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.clear();
    return out;
  }
  clear(): void {
    this.len = 0;
    if (this.buf.length > 4096) this.buf = new Uint8Array(64);
  }
}

/** json-lexer.c; `positions` tracks LINE:COL the way 11.1 reports them. */
export class JsonLexer {
  private state = S.START;
  private readonly tok = new ByteBuf();
  private curX = 1;
  private curY = 1;
  private x = 1;
  private y = 1;

  constructor(private readonly emit: (t: Token) => void) {}

  feed(data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.feedChar(data[i], false);
  }

  flush(): void {
    this.feedChar(0, true);
    this.emit({ type: 'eoi', bytes: this.tok.take(), x: this.x, y: this.y });
  }

  private emitTok(type: TokType): void {
    this.emit({ type, bytes: this.tok.take(), x: this.x, y: this.y });
  }

  private feedChar(c: number, flush: boolean): void {
    this.curX++;
    if (c === 0x0a) {
      this.curX = 1;
      this.curY++;
    }
    let consumed = false;
    while (flush ? this.state !== S.START : !consumed) {
      const n = next(this.state, c);
      consumed = !flush && !n.look;
      if (consumed) this.tok.push(c);
      if ('tok' in n) {
        if (n.tok === 'error') {
          this.emitTok('error');
          this.state = S.RECOVERY;
          continue;
        }
        this.emitTok(n.tok);
        this.toStart();
        continue;
      }
      if (n.state === S.START) {
        this.toStart();
        continue;
      }
      if (n.state === S.RECOVERY) this.tok.clear();
      this.state = n.state;
    }
    if (this.tok.len > MAX_TOKEN_SIZE) {
      // back to the start state without passing through it: the position is not updated (11.1)
      this.emitTok('oversize');
      this.tok.clear();
      this.state = S.START;
    }
  }

  private toStart(): void {
    this.tok.clear();
    this.state = S.START;
    this.x = this.curX;
    this.y = this.curY;
  }
}

// ---------------------------------------------------------------- literals

class ParseError extends Error {}

export type Generation = 'classic' | 'push';

/** parse_string: QEMU's checks, in its order; returns the JS string or the error text. */
function parseString(b: Uint8Array): string | ParseError {
  let p = 1;
  const quote = b[0];
  let out = '';
  const at = (i: number) => (i < b.length ? b[i] : 0);
  const hex4 = (i: number): number => {
    let cp = 0;
    for (let k = 0; k < 4; k++) {
      const ch = at(i + k);
      let d: number;
      if (ch >= 0x30 && ch <= 0x39) d = ch - 0x30;
      else if (ch >= 0x61 && ch <= 0x66) d = ch - 0x61 + 10;
      else if (ch >= 0x41 && ch <= 0x46) d = ch - 0x41 + 10;
      else return -1;
      cp = (cp << 4) | d;
    }
    return cp;
  };
  while (at(p) !== quote) {
    if (at(p) === 0x5c) {
      const beg = p++;
      const e = at(p++);
      switch (e) {
        case 0x22:
          out += '"';
          break;
        case 0x27:
          out += "'";
          break;
        case 0x5c:
          out += '\\';
          break;
        case 0x2f:
          out += '/';
          break;
        case 0x62:
          out += '\b';
          break;
        case 0x66:
          out += '\f';
          break;
        case 0x6e:
          out += '\n';
          break;
        case 0x72:
          out += '\r';
          break;
        case 0x74:
          out += '\t';
          break;
        case 0x75: {
          let cp = hex4(p);
          p += 4;
          if (cp >= 0xd800 && cp <= 0xdbff && at(p) === 0x5c && at(p + 1) === 0x75) {
            cp = 0x10000 + ((cp & 0x3ff) << 10);
            const trailing = hex4(p + 2);
            if (trailing >= 0xdc00 && trailing <= 0xdfff) {
              cp |= trailing & 0x3ff;
              p += 6;
            } else {
              cp = -1;
            }
          }
          if (!validCodepoint(cp)) {
            // %.*s of the escape: stops at the token's end (its NUL)
            const text = Buffer.from(b.subarray(beg, Math.min(p, b.length))).toString('latin1');
            return new ParseError(`${text} is not a valid Unicode character`);
          }
          out += String.fromCodePoint(cp);
          break;
        }
        default:
          return new ParseError('invalid escape sequence in string');
      }
      continue;
    }
    const { cp, end } = modUtf8Codepoint(b, p);
    if (cp < 0) return new ParseError('invalid UTF-8 sequence in string');
    out += String.fromCodePoint(cp);
    p = end;
  }
  return out;
}

function parseNumber(t: Token): QNum {
  const s = Buffer.from(t.bytes).toString('latin1');
  if (t.type === 'integer') {
    const v = BigInt(s);
    if (v >= -(2n ** 63n) && v < 2n ** 63n) return new QNum('i64', v);
    if (!s.startsWith('-') && v < 2n ** 64n) return new QNum('u64', v);
  }
  return new QNum('double', Number(s));
}

// ---------------------------------------------------------------- classic parser (incremental)

type CFrame =
  | {
      kind: 'dict';
      dict: QDict;
      phase: 'first' | 'key' | 'colon' | 'value' | 'sep';
      key?: string;
      colonTok?: Token;
    }
  | { kind: 'list'; list: QValue[]; phase: 'first' | 'value' | 'sep' };

/**
 * json_parser_parse of 5.2-10.0 run one token at a time: the same first error (and message) as the
 * recursive-descent parser over the whole queue. `end()` is the queue running out ("premature EOI").
 */
class ClassicParser {
  private stack: CFrame[] = [];
  private err: string | undefined;
  private result: QValue | undefined;
  private done = false;

  /** Feed one token (ignored once an error is recorded: QEMU reports the first). */
  push(t: Token): void {
    if (this.err !== undefined || this.done) return;
    try {
      this.step(t);
    } catch (e) {
      if (e instanceof ParseError) this.err = e.message;
      else throw e;
    }
  }

  /** The queue ends here: the value, or the first error. */
  end(): { value: QValue } | { error: string } {
    if (this.err === undefined && !this.done) this.err = 'premature EOI';
    const r =
      this.err !== undefined ? { error: `JSON parse error, ${this.err}` } : { value: this.result as QValue };
    this.reset();
    return r;
  }

  reset(): void {
    this.stack = [];
    this.err = undefined;
    this.result = undefined;
    this.done = false;
  }

  private fail(msg: string): never {
    throw new ParseError(msg);
  }

  private top(): CFrame | undefined {
    return this.stack[this.stack.length - 1];
  }

  private step(t: Token): void {
    const f = this.top();
    if (!f) {
      this.beginValue(t);
      return;
    }
    if (f.kind === 'dict') {
      switch (f.phase) {
        case 'first':
          if (t.type === 'rcurly') {
            this.stack.pop();
            this.complete(f.dict);
            return;
          }
          f.phase = 'key';
          {
            this.beginValue(t);
            return;
          }
        case 'key': {
          this.beginValue(t);
          return;
        }
        case 'colon':
          if (t.type !== 'colon') this.fail('missing : in object pair');
          f.phase = 'value';
          f.colonTok = t;
          return;
        case 'value': {
          this.beginValue(t);
          return;
        }
        case 'sep':
          if (t.type === 'rcurly') {
            this.stack.pop();
            this.complete(f.dict);
            return;
          }
          if (t.type !== 'comma') this.fail('expected separator in dict');
          f.phase = 'key';
          return;
      }
    }
    switch (f.phase) {
      case 'first':
        if (t.type === 'rsquare') {
          this.stack.pop();
          this.complete(f.list);
          return;
        }
        f.phase = 'value';
        {
          this.beginValue(t);
          return;
        }
      case 'value': {
        this.beginValue(t);
        return;
      }
      case 'sep':
        if (t.type === 'rsquare') {
          this.stack.pop();
          this.complete(f.list);
          return;
        }
        if (t.type !== 'comma') this.fail('expected separator in list');
        f.phase = 'value';
        return;
    }
  }

  /** parse_value at token t */
  private beginValue(t: Token): void {
    switch (t.type) {
      case 'lcurly':
        this.stack.push({ kind: 'dict', dict: new Map(), phase: 'first' });
        return;
      case 'lsquare':
        this.stack.push({ kind: 'list', list: [], phase: 'first' });
        return;
      case 'integer':
      case 'float': {
        this.complete(parseNumber(t));
        return;
      }
      case 'string': {
        const s = parseString(t.bytes);
        if (s instanceof ParseError) throw s;
        this.complete(s);
        return;
      }
      case 'keyword': {
        const k = Buffer.from(t.bytes).toString('latin1');
        if (k === 'true') {
          this.complete(true);
          return;
        }
        if (k === 'false') {
          this.complete(false);
          return;
        }
        if (k === 'null') {
          this.complete(null);
          return;
        }
        this.fail(`invalid keyword '${k}'`);
        break;
      }
      default:
        this.fail('expecting value');
    }
  }

  /** a value is complete: hand it to the frame that asked for it */
  private complete(v: QValue): void {
    const f = this.top();
    if (!f) {
      this.result = v;
      this.done = true;
      return;
    }
    if (f.kind === 'list') {
      f.list.push(v);
      f.phase = 'sep';
      return;
    }
    if (f.phase === 'key') {
      if (typeof v !== 'string') this.fail('key is not a string in object');
      f.key = v;
      f.phase = 'colon';
      return;
    }
    // value
    const key = f.key!;
    if (f.dict.has(key)) this.fail('duplicate key');
    f.dict.set(key, v);
    f.phase = 'sep';
  }
}

// ---------------------------------------------------------------- push parser (11.1)

type PState =
  | 'after_lcurly'
  | 'after_lsquare'
  | 'before_key'
  | 'before_value'
  | 'end_of_key'
  | 'end_of_value';
type PEntry = { partial: QDict | QValue[] | { key: string }; state: PState };

class PushParser {
  private stack: PEntry[] = [];
  private err: string | undefined;

  reset(): void {
    this.stack = [];
    this.err = undefined;
  }

  /** json_parser_feed: a complete top-level value, an error text, or nothing yet */
  feed(t: Token): { value: QValue } | { error: string } | undefined {
    if (this.err !== undefined) return undefined;
    try {
      if (t.type === 'error') {
        this.fail(t, `stray '${cStringToJs(t.bytes)}'`);
      } else if (t.type === 'eoi') {
        if (this.stack.length > 0) this.fail(t, 'premature end of input');
        return undefined;
      }
      const v = this.parseToken(t);
      return v === undefined ? undefined : { value: v };
    } catch (e) {
      if (e instanceof ParseError) {
        this.err = e.message;
        return { error: e.message };
      }
      throw e;
    }
  }

  private fail(t: Token, msg: string): never {
    throw new ParseError(`${t.y}:${t.x}: JSON parse error, ${msg}`);
  }

  private cur(): PEntry | undefined {
    return this.stack[this.stack.length - 1];
  }

  private parseToken(t: Token): QValue | undefined {
    let entry = this.cur();
    const state: PState = entry ? entry.state : 'before_value';
    let value: QValue | undefined;
    switch (state) {
      case 'after_lcurly':
      case 'before_key':
        if (state === 'after_lcurly') {
          if (t.type === 'rcurly') {
            value = this.stack.pop()!.partial as QDict;
            entry = this.cur();
            break;
          }
          entry!.state = 'before_key';
        }
        if (t.type === 'string') {
          const k = parseString(t.bytes);
          if (k instanceof ParseError) this.fail(t, k.message);
          this.stack.push({ partial: { key: k }, state: 'end_of_key' });
        } else {
          this.fail(t, 'expecting key');
        }
        return undefined;
      case 'end_of_key':
        if (t.type === 'colon') entry!.state = 'before_value';
        else this.fail(t, "expecting ':'");
        return undefined;
      case 'after_lsquare':
      case 'before_value':
        if (state === 'after_lsquare') {
          if (t.type === 'rsquare') {
            value = this.stack.pop()!.partial as QValue[];
            entry = this.cur();
            break;
          }
          entry!.state = 'before_value';
        }
        value = this.beginValue(t);
        if (value === undefined) return undefined;
        break;
      case 'end_of_value': {
        const partial = entry!.partial;
        if (Array.isArray(partial)) {
          if (t.type !== 'rsquare') {
            if (t.type === 'comma') entry!.state = 'before_value';
            else this.fail(t, "expected ',' or ']'");
            return undefined;
          }
        } else if (partial instanceof Map) {
          if (t.type !== 'rcurly') {
            if (t.type === 'comma') entry!.state = 'before_key';
            else this.fail(t, "expected ',' or '}'");
            return undefined;
          }
        }
        value = this.stack.pop()!.partial as QValue;
        entry = this.cur();
        break;
      }
    }
    if (!entry) return value;
    const p = entry.partial;
    if (!(p instanceof Map) && !Array.isArray(p)) {
      this.stack.pop();
      entry = this.cur()!;
      const dict = entry.partial as QDict;
      if (dict.has(p.key)) this.fail(t, 'duplicate key');
      dict.set(p.key, value as QValue);
    } else {
      (p as QValue[]).push(value as QValue);
    }
    entry.state = 'end_of_value';
    return undefined;
  }

  private beginValue(t: Token): QValue | undefined {
    switch (t.type) {
      case 'lcurly':
        this.stack.push({ partial: new Map(), state: 'after_lcurly' });
        return undefined;
      case 'lsquare':
        this.stack.push({ partial: [], state: 'after_lsquare' });
        return undefined;
      case 'integer':
      case 'float':
        return parseNumber(t);
      case 'string': {
        const s = parseString(t.bytes);
        if (s instanceof ParseError) this.fail(t, s.message);
        return s;
      }
      case 'keyword': {
        const k = Buffer.from(t.bytes).toString('latin1');
        if (k === 'true') return true;
        if (k === 'false') return false;
        if (k === 'null') return null;
        this.fail(t, `invalid keyword '${k}'`);
        break;
      }
      default:
        this.fail(t, 'expecting value');
    }
    return undefined;
  }
}

// ---------------------------------------------------------------- streamer

export type JsonMessage = { value: QValue } | { error: string };

/**
 * JSONMessageParser: feed bytes, get every complete message (value or error) in order. Bounded like
 * QEMU: a token is cut at 64 MiB, a message at 64 MiB / 2M tokens / nesting 1024.
 */
export class JsonMessageParser {
  private readonly lexer: JsonLexer;
  private brace = 0;
  private bracket = 0;
  private tokenSize = 0;
  private tokenCount = 0;
  private error = false;
  private readonly classic = new ClassicParser();
  private readonly pushp = new PushParser();

  constructor(
    generation: Generation,
    private readonly emit: (m: JsonMessage) => void,
  ) {
    this.lexer = new JsonLexer((t) => (generation === 'classic' ? this.classicToken(t) : this.pushToken(t)));
  }

  feed(data: Uint8Array): void {
    this.lexer.feed(data);
  }

  /** end of input (qobject_from_json); a monitor never flushes, it drops the parser on disconnect */
  flush(): void {
    this.lexer.flush();
  }

  private classicReset(): void {
    this.brace = 0;
    this.bracket = 0;
    this.tokenSize = 0;
    this.tokenCount = 0;
    this.classic.reset();
  }

  private classicToken(t: Token): void {
    switch (t.type) {
      case 'lcurly':
        this.brace++;
        break;
      case 'rcurly':
        this.brace--;
        break;
      case 'lsquare':
        this.bracket++;
        break;
      case 'rsquare':
        this.bracket--;
        break;
      case 'error':
        this.classicReset();
        this.emit({ error: `JSON parse error, stray '${cStringToJs(t.bytes)}'` });
        return;
      case 'eoi':
        if (this.tokenCount === 0) return;
        this.emitClassic();
        return;
      default:
        break;
    }
    let limit: string | undefined;
    if (this.tokenSize + t.bytes.length + 1 > MAX_TOKEN_SIZE) limit = 'JSON token size limit exceeded';
    else if (this.tokenCount + 1 > MAX_TOKEN_COUNT) limit = 'JSON token count limit exceeded';
    else if (this.bracket + this.brace > MAX_NESTING) limit = 'JSON nesting depth limit exceeded';
    if (limit) {
      this.classicReset();
      this.emit({ error: limit });
      return;
    }
    this.tokenSize += t.bytes.length;
    this.tokenCount++;
    this.classic.push(t);
    if ((this.brace > 0 || this.bracket > 0) && this.brace >= 0 && this.bracket >= 0) return;
    this.emitClassic();
  }

  private emitClassic(): void {
    const r = this.classic.end();
    this.classicReset();
    this.emit(r);
  }

  /**
   * 11.1's streamer. Counting and resetting are the classic ones (a closer with nothing open goes
   * negative and ends the message); what changed is that tokens go to the parser as they come, an error
   * is answered at once, and the rest of the message is then skipped up to where brackets balance. A
   * lexical error ends the message at once. (Read off the real 11.1 binary.)
   */
  private pushToken(t: Token): void {
    this.tokenSize += t.bytes.length;
    this.tokenCount++;
    switch (t.type) {
      case 'lcurly':
        this.brace++;
        break;
      case 'rcurly':
        this.brace--;
        break;
      case 'lsquare':
        this.bracket++;
        break;
      case 'rsquare':
        this.bracket--;
        break;
      default:
        break;
    }
    if (!this.error) {
      let limit: string | undefined;
      if (this.tokenSize > MAX_TOKEN_SIZE) limit = 'JSON token size limit exceeded';
      else if (this.tokenCount > MAX_TOKEN_COUNT) limit = 'JSON token count limit exceeded';
      else if (this.bracket + this.brace > MAX_NESTING) limit = 'JSON nesting depth limit exceeded';
      if (limit) {
        this.emit({ error: limit });
        this.error = true;
      } else {
        const r = this.pushp.feed(t);
        if (r) {
          this.emit(r);
          if ('error' in r) this.error = true;
        }
      }
    }
    const open = (this.brace > 0 || this.bracket > 0) && this.brace >= 0 && this.bracket >= 0;
    if (!open || t.type === 'eoi' || t.type === 'error') {
      this.error = false;
      this.brace = 0;
      this.bracket = 0;
      this.tokenCount = 0;
      this.tokenSize = 0;
      this.pushp.reset();
    }
  }
}

/**
 * qobject_from_json: exactly one value from a string, or QEMU's error ("Expecting at most one JSON
 * value" when more follow).
 */
export function qobjectFromJson(text: string, generation: Generation): { value: QValue } | { error: string } {
  let result: QValue | undefined;
  let err: string | undefined;
  const p = new JsonMessageParser(generation, (m) => {
    if (result !== undefined) {
      result = undefined;
      err = 'Expecting at most one JSON value';
    }
    if (err !== undefined) return;
    if ('error' in m) err = m.error;
    else result = m.value;
  });
  p.feed(Buffer.from(text, 'utf8'));
  p.flush();
  if (result === undefined && err === undefined) err = 'JSON parse error, expecting value';
  return err !== undefined ? { error: err } : { value: result as QValue };
}
