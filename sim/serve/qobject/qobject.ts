/**
 * JSON values as QEMU's QObject holds them (qobject/qnum.c, qdict.c): what JavaScript would lose is
 * kept — dictionary insertion order (any key, even "1"), and whether a number is an int64, a uint64 or
 * a double, so an `id` is echoed exactly.
 */
import { QDouble } from '../../../contract/qapi/qdouble.ts';

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
