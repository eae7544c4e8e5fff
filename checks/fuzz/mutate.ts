/**
 * Mutations as data: an input is a plan (which seed, which edits), applied to the seed when the input
 * runs, so a failing input prints as a short plan and replays exactly.
 */
import fc from 'fast-check';

/** Values a structure-aware mutation puts where something else was. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    1e308,
    -0,
    '',
    ' ',
    'x',
    '\n',
    'a\nb',
    'pass',
    'fail',
    'skip',
    'xfail',
    'conformance',
    'matrix',
    'fleece-lab',
    '__proto__',
    'constructor',
    'toString',
    [],
    {},
    [null],
    { id: 'x' },
    { step: 1 },
    { event: 'X' },
  ),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), {
    maxKeys: 3,
  }),
);

export type JsonEdit =
  | { kind: 'delete'; at: number }
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'add'; at: number; key: string; value: unknown }
  | { kind: 'dup'; at: number }
  | { kind: 'wrap'; at: number };

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  {
    arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: oddValue }),
    weight: 3,
  },
  fc.record({
    kind: fc.constant('add' as const),
    at: fc.nat(),
    key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra', 'id', 'status', '\n'), fc.string()),
    value: oddValue,
  }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('wrap' as const), at: fc.nat() }),
);

type Path = (string | number)[];

/** every path in a JSON value (the root is []), depth first; at most `max` of them */
export function pathsOf(v: unknown, max = 5000): Path[] {
  const out: Path[] = [];
  const walk = (x: unknown, p: Path) => {
    if (out.length >= max) return;
    out.push(p);
    if (Array.isArray(x)) for (const [i, y] of x.entries()) walk(y, [...p, i]);
    else if (x !== null && typeof x === 'object')
      for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], [...p, k]);
  };
  walk(v, []);
  return out;
}

function parentOf(root: unknown, p: Path): unknown {
  let cur = root;
  for (const k of p.slice(0, -1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** Applies the edits to a deep copy of `seed`; returns the new root. */
export function applyJsonEdits(seed: unknown, edits: JsonEdit[], paths?: Path[]): unknown {
  let root: unknown = structuredClone(seed);
  const all = paths ?? pathsOf(seed);
  for (const e of edits) {
    const p = all[e.at % all.length];
    if (p.length === 0) {
      if (e.kind === 'replace') root = e.value;
      else if (e.kind === 'wrap') root = [root];
      else if (e.kind === 'delete') root = undefined;
      continue;
    }
    const parent = parentOf(root, p) as Record<string | number, unknown> | unknown[] | undefined;
    if (parent === null || typeof parent !== 'object') continue;
    const k = p[p.length - 1];
    if (!(k in parent)) continue;
    try {
      editAt(parent, k, e);
    } catch {
      // an edit JavaScript itself refuses (an array grown past its limit): the mutation's, not the file's
    }
  }
  return root;
}

function editAt(parent: Record<string | number, unknown> | unknown[], k: string | number, e: JsonEdit): void {
  switch (e.kind) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(Number(k), 1);
      else delete (parent as Record<string, unknown>)[k];
      break;
    case 'replace':
      (parent as Record<string | number, unknown>)[k] = structuredClone(e.value);
      break;
    case 'add': {
      const target = (parent as Record<string | number, unknown>)[k];
      if (Array.isArray(target)) target.push(structuredClone(e.value));
      else if (target !== null && typeof target === 'object')
        Object.defineProperty(target, e.key, {
          value: structuredClone(e.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else (parent as Record<string | number, unknown>)[k] = { [e.key]: target };
      break;
    }
    case 'dup':
      if (Array.isArray(parent)) parent.splice(Number(k), 0, structuredClone(parent[Number(k)]));
      else (parent as Record<string | number, unknown>)[k] = [(parent as Record<string, unknown>)[k]];
      break;
    case 'wrap':
      (parent as Record<string | number, unknown>)[k] = { value: (parent as Record<string, unknown>)[k] };
      break;
  }
}

export type ByteEdit =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'cut'; at: number; len: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'dup'; at: number; len: number };

const token = fc.constantFrom(
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '\n',
  '\r\n',
  '\u0000',
  '\u2028',
  '\ufeff',
  'null',
  'NaN',
  '1e999',
  '-',
  '"\n"',
  '{"a":',
  '\\u00',
  '\\ud800',
  '\ud800',
  '\xff',
);

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 6 }) }),
  {
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.oneof(token, fc.string({ maxLength: 6 })),
    }),
    weight: 2,
  },
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.nat({ max: 40 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.nat({ max: 40 }) }),
);

/** Applies byte-level edits to a text (as UTF-16 code units: flips stay in the text's own alphabet). */
export function applyByteEdits(text: string, edits: ByteEdit[]): string {
  let t = text;
  for (const e of edits) {
    const at = t.length === 0 ? 0 : e.at % (t.length + 1);
    switch (e.kind) {
      case 'flip':
        if (at < t.length)
          t = t.slice(0, at) + String.fromCharCode(t.charCodeAt(at) ^ (1 << e.bit)) + t.slice(at + 1);
        break;
      case 'insert':
        t = t.slice(0, at) + e.text + t.slice(at);
        break;
      case 'cut':
        t = t.slice(0, at) + t.slice(at + e.len);
        break;
      case 'truncate':
        t = t.slice(0, at);
        break;
      case 'dup':
        t = t.slice(0, at + e.len) + t.slice(at, at + e.len) + t.slice(at + e.len);
        break;
    }
  }
  return t;
}
