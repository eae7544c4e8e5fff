/** QEMU's number parsing for option values (util/cutils.c), pure. */

const SPACE = /^[ \t\n\v\f\r]*/;

/** strtoll/strtoull with base 0 over the whole string (qemu_strtoi64 / qemu_strtou64) */
export function strtoInt(s: string, unsigned: boolean): bigint | undefined {
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
export function strtosz(s: string): bigint | undefined {
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
