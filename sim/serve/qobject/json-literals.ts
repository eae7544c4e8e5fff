/**
 * Turning a string or number token into its value, as json-parser.c's parse_string and parse_literal
 * do, with QEMU's checks and error texts; shared by the classic and the push parser.
 */
import type { Token } from './json-lexer.ts';
import { QNum } from './qobject.ts';
import { modUtf8Codepoint, validCodepoint } from './unicode.ts';

export class ParseError extends Error {}

/** parse_string: QEMU's checks, in its order; returns the JS string or the error text. */
export function parseString(b: Uint8Array): string | ParseError {
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

export function parseNumber(t: Token): QNum {
  const s = Buffer.from(t.bytes).toString('latin1');
  if (t.type === 'integer') {
    const v = BigInt(s);
    if (v >= -(2n ** 63n) && v < 2n ** 63n) return new QNum('i64', v);
    if (!s.startsWith('-') && v < 2n ** 64n) return new QNum('u64', v);
  }
  return new QNum('double', Number(s));
}
