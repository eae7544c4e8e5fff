/**
 * QEMU's JSON writer (qobject/json-writer.c, qobject_to_json(_pretty) of qjson.c) for QObject values or
 * plain data: compact and `pretty=on`, with each version's number formatting.
 */
import { qdictOrder, toQemuJson } from '../../../contract/qjson.ts';
import { QNum } from './qobject.ts';

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
