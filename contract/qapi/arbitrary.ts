import fc from 'fast-check';
import { cIntRange, INT_MEMBER_TYPES } from './int-types.ts';
import type { Introspection, ObjectEntry, SchemaEntry } from './introspection.ts';

/**
 * fast-check arbitraries for any QAPI type of one introspected schema: objects with their required members
 * and some optional ones, flat unions (the tag first, then that case's members), enums, alternates,
 * arrays, integers within the C type QEMU reads them into (contract/qapi/int-types.ts), strings. What they
 * generate is what QEMU's argument visitor accepts for that schema, unless a hook says otherwise. Hooks
 * bias a position toward a vocabulary (node names, job ids, files that exist, so that commands hit live
 * objects) or a value QEMU should refuse, and set how often an optional member is present.
 */

/** A position in a command's arguments: the members from the top (`[]` for an array's element). */
export interface At {
  command: string;
  path: readonly string[];
  /** the nearest member name (an array's elements have their member's) */
  name: string;
  type: SchemaEntry;
  /** the union cases chosen on the way, by tag member name */
  cases: Readonly<Record<string, string>>;
}

export interface ArbitraryHooks {
  /**
   * an arbitrary for this position instead of its type's (undefined: the type's); `schema` builds the type's
   * own, to transform or to fall back to
   */
  value?(at: At, schema: () => fc.Arbitrary<unknown>): fc.Arbitrary<unknown> | undefined;
  /**
   * how likely a member is present, 0 to 1 (undefined: `optional` for an optional member, always for a
   * required one; below 1 for a required member generates arguments QEMU refuses, on purpose)
   */
  presence?(at: At): number | undefined;
  /** how many elements an array here has (undefined: 0 to `maxArrayLength`) */
  length?(at: At): { min: number; max: number } | undefined;
}

export interface ArbitraryOptions extends ArbitraryHooks {
  /** how likely an optional member is present (default 1/2) */
  optional?: number;
  /** below this many nested objects, optional members are left out and alternates take a scalar branch */
  maxDepth?: number;
  maxArrayLength?: number;
}

type Gen = fc.Arbitrary<unknown>;

/** present with probability p; shrinks to absent */
function sometimes(p: number, a: Gen): Gen {
  const w = Math.round(Math.min(1, Math.max(0, p)) * 100);
  if (w === 0) return fc.constant(undefined);
  if (w === 100) return a;
  return fc.oneof({ weight: 100 - w, arbitrary: fc.constant(undefined) }, { weight: w, arbitrary: a });
}

const defaultString = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_'.split('')),
  minLength: 1,
  maxLength: 8,
});
const anyJson: Gen = fc.oneof(
  defaultString,
  fc.integer({ min: -1, max: 1 << 20 }),
  fc.boolean(),
  fc.constant(null),
);

export class SchemaArbitraries {
  private readonly maxDepth: number;
  private readonly maxArrayLength: number;
  private readonly cache = new Map<string, Gen>();

  constructor(
    private readonly intro: Introspection,
    private readonly opts: ArbitraryOptions = {},
  ) {
    this.maxDepth = opts.maxDepth ?? 3;
    this.maxArrayLength = opts.maxArrayLength ?? 2;
  }

  /** A command's arguments, as an object (members left out are absent, never undefined). */
  command(command: string): fc.Arbitrary<Record<string, unknown>> {
    const cmd = this.intro.commands.get(command);
    if (!cmd) throw new Error(`the schema has no command ${command}`);
    const t = this.intro.type(cmd['arg-type']);
    if (t['meta-type'] !== 'object') throw new Error(`${command} takes no object`);
    // the hooks see the arguments themselves too (path [])
    return this.value({ command, path: [], name: '', type: t, cases: {} }, -1) as fc.Arbitrary<
      Record<string, unknown>
    >;
  }

  /** Any value of a type, at a position (the hooks see it). */
  value(at: At, depth: number): Gen {
    const hooked = this.opts.value?.(at, () => this.typed(at, depth));
    return hooked ?? this.typed(at, depth);
  }

  /** the value of a position's type, as the schema says */
  private typed(at: At, depth: number): Gen {
    const t = at.type;
    switch (t['meta-type']) {
      case 'builtin':
        return this.builtin(t.name, at);
      case 'enum':
        return t.values.length > 0 ? fc.constantFrom(...t.values) : fc.constant('');
      case 'array': {
        const el = this.intro.type(t['element-type']);
        // deeper than maxDepth an array is empty: a type that holds a list of itself ends there
        if (depth > this.maxDepth) return fc.constant([]);
        const n = this.opts.length?.(at) ?? { min: 0, max: this.maxArrayLength };
        return fc.array(this.value({ ...at, path: [...at.path, '[]'], type: el }, depth), {
          minLength: n.min,
          maxLength: n.max,
        });
      }
      case 'alternate': {
        const branches = t.members.map((m) => this.intro.type(m.type));
        const scalar = branches.filter((b) => b['meta-type'] !== 'object' && b['meta-type'] !== 'array');
        const use = depth >= this.maxDepth && scalar.length > 0 ? scalar : branches;
        return fc.oneof(...use.map((b) => this.value({ ...at, type: b }, depth)));
      }
      case 'object':
        return this.object(t, at, depth + 1);
      default:
        throw new Error(`${t['meta-type']} ${t.name} is no value`);
    }
  }

  private builtin(name: string, at: At): Gen {
    switch (name) {
      case 'str':
        return defaultString;
      case 'bool':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'number':
        return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 });
      case 'int': {
        const c = INT_MEMBER_TYPES[at.command]?.[at.name];
        if (c) {
          const [min, max] = cIntRange(c);
          return fc.bigInt(min, max).map(Number);
        }
        // int64, uint64 and size take every JSON integer: mostly small ones, now and then a large one
        return fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 0, max: 1 << 20 }) },
          { weight: 1, arbitrary: fc.maxSafeInteger() },
        );
      }
      default:
        return anyJson;
    }
  }

  /** An object type's members (and a flat union's: the tag's value first, then its case's members). */
  private object(t: ObjectEntry, at: At, depth: number): Gen {
    const key = `${t.name}@${depth}@${at.path.join('.')}@${JSON.stringify(at.cases)}`;
    const known = this.cache.get(key);
    if (known) return known;
    const tagMember = t.tag ? t.members.find((m) => m.name === t.tag) : undefined;
    let gen: Gen;
    if (!tagMember) gen = this.members(t.members, at, depth);
    else {
      const tagAt = this.memberAt(at, tagMember.name, tagMember.type);
      const tag = this.value(tagAt, depth) as fc.Arbitrary<string>;
      gen = tag.chain((value) => {
        const cases = { ...at.cases, [tagMember.name]: value };
        const base = this.members(
          t.members.filter((m) => m !== tagMember),
          { ...at, cases },
          depth,
        );
        // the case's members, flat beside the base's; a case that is a union itself chooses again
        const v = t.variants?.find((x) => x.case === value);
        const vt = v ? this.intro.type(v.type) : undefined;
        const own =
          vt?.['meta-type'] === 'object' ? this.object(vt, { ...at, cases }, depth) : fc.constant({});
        return fc.tuple(base, own).map(([b, o]) => ({ [tagMember.name]: value, ...b, ...(o as object) }));
      });
    }
    this.cache.set(key, gen);
    return gen;
  }

  private memberAt(at: At, name: string, type: string): At {
    return { ...at, path: [...at.path, name], name, type: this.intro.type(type) };
  }

  private members(
    members: ObjectEntry['members'],
    at: At,
    depth: number,
  ): fc.Arbitrary<Record<string, unknown>> {
    const record: Record<string, Gen> = {};
    for (const m of members) {
      const mat = this.memberAt(at, m.name, m.type);
      const hooked = this.opts.presence?.(mat);
      const p =
        m.default !== null
          ? (hooked ?? 1)
          : depth > this.maxDepth
            ? 0
            : (hooked ?? this.opts.optional ?? 0.5);
      if (p > 0) record[m.name] = sometimes(p, this.value(mat, depth));
    }
    return fc
      .record(record)
      .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
  }
}

/**
 * A value hook from member names to arbitraries, for string members (and strings in arrays and
 * alternates): `{ 'node-name': nodes, device: nodes, 'job-id': jobs }`.
 */
export function vocabulary(
  words: Readonly<Record<string, fc.Arbitrary<string>>>,
): (at: At) => Gen | undefined {
  return (at) =>
    at.type['meta-type'] === 'builtin' && at.type.name === 'str' && Object.hasOwn(words, at.name)
      ? words[at.name]
      : undefined;
}
