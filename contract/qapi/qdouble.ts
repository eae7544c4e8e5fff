/**
 * A JSON number QEMU's parser read as a double although its value is whole (65536.0, 1e3, or an integer
 * beyond int64). Plain JS numbers cannot say which it was, and QAPI cares: an 'int' member refuses a
 * double ("expected: integer"), a 'number' member takes both. The QMP server hands such values over boxed;
 * the argument visitor reads the box, and dispatch unboxes once the arguments are accepted.
 */
export class QDouble {
  constructor(readonly value: number) {}
}

/** the same value with every QDouble replaced by its number */
export function unboxDoubles(v: unknown): unknown {
  if (v instanceof QDouble) return v.value;
  if (Array.isArray(v)) return v.some(hasBox) ? v.map(unboxDoubles) : v;
  if (v && typeof v === 'object') {
    if (!hasBox(v)) return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unboxDoubles(x)]));
  }
  return v;
}

function hasBox(v: unknown): boolean {
  if (v instanceof QDouble) return true;
  if (Array.isArray(v)) return v.some(hasBox);
  if (v && typeof v === 'object') return Object.values(v).some(hasBox);
  return false;
}
