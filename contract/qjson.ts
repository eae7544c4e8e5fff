/**
 * QEMU's own JSON text (qobject/qjson.c): dictionaries are QDicts, whose iteration order is not insertion
 * order but hash-bucket order (qobject/qdict.c, tdb_hash modulo 512, newest first within a bucket).
 * Peers that compare bytes see that order, so the simulator writes it too. Callers build objects in QAPI
 * member order (QEMU's insertion order); this module turns that into QEMU's wire order.
 */

const BUCKETS = 512;

/** tdb_hash of qdict.c, in 32-bit unsigned arithmetic. */
export function qdictBucket(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    value = (value + ((bytes[i] << ((i * 5) % 24)) >>> 0)) >>> 0;
  }
  return ((Math.imul(1103515243, value) + 12345) >>> 0) % BUCKETS;
}

const bucketCache = new Map<string, number>();
function bucketOf(key: string): number {
  let b = bucketCache.get(key);
  if (b === undefined) {
    b = qdictBucket(key);
    bucketCache.set(key, b);
  }
  return b;
}

/** the order of each list of keys seen (the simulator's replies use a few shapes over and over) */
const orderCache = new Map<string, readonly string[]>();
const ORDER_CACHE_MAX = 4096;

/** Keys of an object (given in insertion order) in the order QEMU's QDict iterates them. */
export function qdictOrder(keys: readonly string[]): string[] {
  const id = JSON.stringify(keys);
  const hit = orderCache.get(id);
  if (hit) return [...hit];
  const order = computeOrder(keys);
  if (orderCache.size < ORDER_CACHE_MAX) orderCache.set(id, order);
  return [...order];
}

function computeOrder(keys: readonly string[]): string[] {
  const indexed = keys.map((k, i) => ({ k, i, b: bucketOf(k) }));
  // Same bucket: QLIST_INSERT_HEAD puts the newest first.
  indexed.sort((x, y) => x.b - y.b || y.i - x.i);
  return indexed.map((e) => e.k);
}

/** printable ASCII but '"' and '\\': written as it is */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function escapeString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (cp) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      default:
        if (cp > 0xffff) {
          const hi = 0xd800 + ((cp - 0x10000) >> 10);
          const lo = 0xdc00 + ((cp - 0x10000) & 0x3ff);
          out += `\\u${hex4(hi)}\\u${hex4(lo)}`;
        } else if (cp < 0x20 || cp >= 0x7f) {
          out += `\\u${hex4(cp)}`;
        } else {
          out += ch;
        }
    }
  }
  return `${out}"`;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}

function formatNumber(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  if (Number.isInteger(n)) return n.toFixed(0);
  // QEMU prints doubles with %.17g and trims to the shortest form that reads back the same.
  return String(n);
}

/** Serialise a value the way QEMU's qobject_to_json does (compact, ", " and ": " separators). */
export function toQemuJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return escapeString(value);
    case 'number':
    case 'bigint':
      return formatNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map(toQemuJson).join(', ')}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      if (keys.length === 0) return '{}';
      return `{${qdictOrder(keys)
        .map((k) => `${escapeString(k)}: ${toQemuJson(obj[k])}`)
        .join(', ')}}`;
    }
    default:
      throw new TypeError(`cannot encode ${typeof value} as QEMU JSON`);
  }
}
