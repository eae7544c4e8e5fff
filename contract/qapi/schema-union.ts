import { PROFILES } from '../versions.ts';
import { Introspection, type ObjectEntry, type SchemaEntry } from './introspection.ts';
import { loadSnapshot } from './schema-data.ts';

/**
 * Every captured schema (contract/qapi-schema) merged into one: each command's argument type as the union
 * over the versions and flavours that have it. A member that some version has is present, optional where
 * QEMU makes it optional or where a version lacks it; enums take every value; a member whose type changed
 * kind (a string that became an alternate) takes every kind. Introspection masks type names, so which
 * object types of different schemas are one QAPI type is found from where they are reached (see `classes`);
 * each such type has one shape, so a type that holds itself (blockdev-add's BlockdevRef holds
 * BlockdevOptions) gives a cyclic shape. The generated types, the docs and the tests read this.
 */

export const FLAVOURS = ['qsd', 'system'] as const;

/** '<profile>-<flavour>', the name of a captured schema; newest first is the order members are listed in */
export const SCHEMA_KEYS = PROFILES.flatMap((p) => FLAVOURS.map((f) => `${p}-${f}`));

export type Builtin = 'str' | 'int' | 'number' | 'bool' | 'null' | 'any';

export interface Member {
  name: string;
  optional: boolean;
  type: Shape;
  /** the schemas (of those that have the enclosing type) that have this member */
  in: string[];
  /** QAPI features of the member in any schema (deprecated, unstable, ...) */
  features: string[];
}

export interface ObjectShape {
  kind: 'object';
  members: Member[];
  tag?: string;
  /** each case's own members (the tag's enum values without a branch have none) */
  variants?: { case: string; type: ObjectShape }[];
}

export type Shape =
  | { kind: 'builtin'; name: Builtin }
  | { kind: 'enum'; values: string[] }
  | { kind: 'array'; element: Shape }
  | ObjectShape
  | { kind: 'alternate'; branches: Shape[] };

export interface MergedCommand {
  name: string;
  /** schemas whose query-commands lists it */
  registered: string[];
  /** schemas that describe it (5.2's qsd describes object-add without registering it) */
  described: string[];
  args: Shape;
  /** QAPI features of the command, per schema that has any */
  features: Record<string, string[]>;
}

interface Ref {
  key: string;
  intro: Introspection;
  type: string;
}

export interface Snapshot {
  key: string;
  intro: Introspection;
  commands: string[];
}

/** Every captured schema, newest first. */
export function loadAllSnapshots(): Snapshot[] {
  return [...PROFILES].reverse().flatMap((p) =>
    FLAVOURS.map((f) => {
      const s = loadSnapshot(p, f);
      return { key: `${p}-${f}`, intro: new Introspection(s.schema), commands: s.commands };
    }),
  );
}

type Group = 'object' | 'array' | 'string' | 'int' | 'number' | 'bool' | 'null';

function groupOf(t: SchemaEntry): Group | 'any' {
  switch (t['meta-type']) {
    case 'object':
      return 'object';
    case 'array':
      return 'array';
    case 'enum':
      return 'string';
    case 'builtin':
      return t.name === 'str' ? 'string' : (t.name as Group | 'any');
    default:
      throw new Error(`schema-union: ${t['meta-type']} ${t.name} cannot be a value`);
  }
}

const unionInto = (into: string[], more: Iterable<string>) => {
  for (const x of more) if (!into.includes(x)) into.push(x);
};

export class SchemaUnion {
  private readonly memo = new Map<string, Shape>();
  /**
   * Object types that are one QAPI type across schemas, as a union-find over '<schema>:<type>' ids. Two
   * types are joined where they are reached the same way, most-shared pairs first, and never so that a
   * class holds two types of one schema: copy-on-read's options were the generic {file} in 5.2 and their
   * own type later, which must not give every other generic-format driver copy-on-read's `bottom`.
   */
  private readonly classes = new Map<string, string>();
  private readonly classMembers = new Map<string, Ref[]>();

  private constructor(snapshots: Snapshot[]) {
    const seen = new Set<string>();
    const pairs = new Map<string, number>();
    const refOf = new Map<string, Ref>();
    const onPosition = (refs: Ref[]) => {
      const ids = [...new Set(refs.map(refId))].sort();
      for (const r of refs) refOf.set(refId(r), r);
      for (const [i, x] of ids.entries())
        for (const y of ids.slice(i + 1)) pairs.set(`${x} ${y}`, (pairs.get(`${x} ${y}`) ?? 0) + 1);
    };
    for (const name of commandNames(snapshots))
      this.walkObject(commandRefs(snapshots, name), seen, onPosition);
    for (const id of [...refOf.keys()].sort()) this.classes.set(id, id);
    const ranked = [...pairs].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    for (const [pair] of ranked) {
      const [x, y] = pair.split(' ').map((id) => this.find(id));
      if (x === y) continue;
      const schemasOf = (root: string) =>
        [...this.classes.keys()].filter((id) => this.find(id) === root).map((id) => splitId(id)[0]);
      const sx = new Set(schemasOf(x));
      if (schemasOf(y).some((k) => sx.has(k))) continue;
      this.classes.set(y, x);
    }
    const order = (id: string) => snapshots.findIndex((s) => s.key === splitId(id)[0]);
    const ids = [...refOf.keys()].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
    for (const id of ids) {
      const root = this.find(id);
      if (!this.classMembers.has(root)) this.classMembers.set(root, []);
      this.classMembers.get(root)!.push(refOf.get(id)!);
    }
  }

  /** Every command of every schema (all of them when none are given), by name, merged. */
  static commands(snapshots: Snapshot[] = loadAllSnapshots()): MergedCommand[] {
    const u = new SchemaUnion(snapshots);
    return commandNames(snapshots).map((name) => {
      const have = snapshots.filter((s) => s.intro.commands.has(name));
      const features: Record<string, string[]> = {};
      for (const s of have) {
        const f = s.intro.commands.get(name)!.features;
        if (f?.length) features[s.key] = f;
      }
      return {
        name,
        registered: inKeyOrder(snapshots.filter((s) => s.commands.includes(name)).map((s) => s.key)),
        described: inKeyOrder(have.map((s) => s.key)),
        args: u.mergeObject(commandRefs(snapshots, name)),
        features,
      };
    });
  }

  private find(id: string): string {
    let r = id;
    while (this.classes.has(r) && this.classes.get(r) !== r) r = this.classes.get(r)!;
    return r;
  }

  /** phase one: every position where object types are reached, once */
  private walk(refs: Ref[], seen: Set<string>, onPosition: (refs: Ref[]) => void): void {
    const groups = groupBranches(refs);
    if (groups === 'any') return;
    for (const [g, rs] of groups) {
      if (g === 'object') this.walkObject(rs, seen, onPosition);
      else if (g === 'array')
        this.walk(
          rs.map((r) => ({ ...r, type: elementOf(r) })),
          seen,
          onPosition,
        );
    }
  }

  private walkObject(all: Ref[], seen: Set<string>, onPosition: (refs: Ref[]) => void): void {
    // the empty object is one type shared by every command without arguments: it joins nothing
    const refs = all.filter((r) => !isEmpty(r));
    const k = refKey(refs);
    if (refs.length === 0 || seen.has(k)) return;
    seen.add(k);
    onPosition(refs);
    const entries = refs.map((r) => ({ r, t: objectOf(r) }));
    for (const name of memberNames(entries.map((e) => e.t)))
      this.walk(
        membersNamed(entries, name).map((h) => ({ ...h.r, type: h.m.type })),
        seen,
        onPosition,
      );
    for (const c of caseNames(entries.map((e) => e.t)))
      this.walkObject(variantRefs(entries, c), seen, onPosition);
  }

  /** The merged shape of the types these refs name (one per schema, all reached the same way). */
  private merge(refs: Ref[]): Shape {
    const groups = groupBranches(refs);
    if (groups === 'any') return { kind: 'builtin', name: 'any' };
    const shapes = [...groups].map(([g, rs]) => this.mergeGroup(g, rs));
    if (shapes.length === 1) return shapes[0];
    const key = `alt:${refKey(refs)}`;
    const known = this.memo.get(key);
    if (known) return known;
    const alt: Shape = { kind: 'alternate', branches: shapes };
    this.memo.set(key, alt);
    return alt;
  }

  private mergeGroup(g: Group, refs: Ref[]): Shape {
    switch (g) {
      case 'object':
        return this.mergeObject(refs);
      case 'array':
        return {
          kind: 'array',
          element: this.merge(refs.map((r) => ({ ...r, type: elementOf(r) }))),
        };
      case 'string': {
        const values: string[] = [];
        for (const r of refs) {
          const t = r.intro.type(r.type);
          if (t['meta-type'] !== 'enum') return { kind: 'builtin', name: 'str' };
          unionInto(values, t.values);
        }
        // one shape per list of values, so that the generated types can name an enum used in many places
        const key = `enum:${values.join(',')}`;
        if (!this.memo.has(key)) this.memo.set(key, { kind: 'enum', values });
        return this.memo.get(key)!;
      }
      default:
        return { kind: 'builtin', name: g };
    }
  }

  private mergeObject(position: Ref[]): ObjectShape {
    const refs = position.filter((r) => !isEmpty(r));
    // schemas where this position has the empty object: every member is missing there
    const empty = [...new Set(position.filter(isEmpty).map((r) => r.key))];
    if (refs.length === 0) return { kind: 'object', members: [] };
    // the classes found here (a position where QEMU changed a type spans two)
    const roots = [...new Set(refs.map((r) => this.find(refId(r))))].sort();
    const key = `obj:${roots.join(',')}|${empty.join(',')}`;
    const known = this.memo.get(key);
    if (known) return known as ObjectShape;
    const shape: ObjectShape = { kind: 'object', members: [] };
    // registered before its members are merged: a member reaching this type again gets this very object
    this.memo.set(key, shape);
    const all = roots.flatMap((root) => this.classMembers.get(root) ?? refs.filter((r) => refId(r) === root));
    const entries = all.map((r) => ({ r, t: objectOf(r) }));
    const schemas = new Set([...all.map((r) => r.key), ...empty]);
    for (const name of memberNames(entries.map((e) => e.t))) {
      const have = membersNamed(entries, name);
      const inSchemas = [...new Set(have.map((h) => h.r.key))];
      const features: string[] = [];
      for (const h of have) unionInto(features, h.m.features ?? []);
      shape.members.push({
        name,
        optional: inSchemas.length < schemas.size || have.some((h) => h.m.default === null),
        type: this.merge(have.map((h) => ({ ...h.r, type: h.m.type }))),
        in: inKeyOrder(inSchemas),
        features,
      });
    }
    const tags = [...new Set(entries.flatMap((e) => (e.t.tag === undefined ? [] : [e.t.tag])))];
    if (tags.length > 1) throw new Error(`schema-union: one type, tags ${tags.join(', ')}`);
    if (tags.length === 1) {
      shape.tag = tags[0];
      shape.variants = caseNames(entries.map((e) => e.t)).map((c) => ({
        case: c,
        type: this.mergeObject(variantRefs(entries, c)),
      }));
    }
    return shape;
  }
}

const inKeyOrder = (keys: string[]) => SCHEMA_KEYS.filter((k) => keys.includes(k));

function isEmpty(r: Ref): boolean {
  const t = objectOf(r);
  return t.members.length === 0 && !t.variants;
}

function commandNames(snapshots: Snapshot[]): string[] {
  const names = new Set<string>();
  for (const s of snapshots) for (const c of s.intro.commands.keys()) names.add(c);
  return [...names].sort();
}

function commandRefs(snapshots: Snapshot[], name: string): Ref[] {
  return snapshots.flatMap((s) => {
    const c = s.intro.commands.get(name);
    return c ? [{ key: s.key, intro: s.intro, type: c['arg-type'] }] : [];
  });
}

/** alternates flattened into their branches, grouped by JSON kind across schemas; 'any' takes everything */
function groupBranches(refs: Ref[]): Map<Group, Ref[]> | 'any' {
  const groups = new Map<Group, Ref[]>();
  for (const r of refs) {
    const t = r.intro.type(r.type);
    const branches = t['meta-type'] === 'alternate' ? t.members.map((m) => m.type) : [r.type];
    for (const b of branches) {
      const g = groupOf(r.intro.type(b));
      if (g === 'any') return 'any';
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push({ ...r, type: b });
    }
  }
  return groups;
}

function memberNames(types: ObjectEntry[]): string[] {
  const names: string[] = [];
  for (const t of types)
    unionInto(
      names,
      t.members.map((m) => m.name),
    );
  return names;
}

function membersNamed(entries: { r: Ref; t: ObjectEntry }[], name: string) {
  return entries.flatMap(({ r, t }) => {
    const m = t.members.find((x) => x.name === name);
    return m ? [{ r, m }] : [];
  });
}

function caseNames(types: ObjectEntry[]): string[] {
  const cases: string[] = [];
  for (const t of types)
    unionInto(
      cases,
      (t.variants ?? []).map((v) => v.case),
    );
  return cases;
}

function variantRefs(entries: { r: Ref; t: ObjectEntry }[], c: string): Ref[] {
  return entries.flatMap(({ r, t }) => {
    const v = t.variants?.find((x) => x.case === c);
    return v ? [{ ...r, type: v.type }] : [];
  });
}

const refId = (r: Ref) => `${r.key}:${r.type}`;
const splitId = (id: string): [string, string] => {
  const i = id.indexOf(':');
  return [id.slice(0, i), id.slice(i + 1)];
};

function refKey(refs: Ref[]): string {
  return [...new Set(refs.map(refId))].sort().join(',');
}

function objectOf(r: Ref): ObjectEntry {
  const t = r.intro.type(r.type);
  if (t['meta-type'] !== 'object') throw new Error(`schema-union: ${r.key} ${r.type} is not an object`);
  return t;
}

function elementOf(r: Ref): string {
  const t = r.intro.type(r.type);
  if (t['meta-type'] !== 'array') throw new Error(`schema-union: ${r.key} ${r.type} is not an array`);
  return t['element-type'];
}
