/** The UTF-8 rules of QEMU's util/unicode.c, which its JSON parser and writer follow. */

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

export function validCodepoint(cp: number): boolean {
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
