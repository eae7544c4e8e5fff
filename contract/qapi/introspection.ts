import { z } from 'zod';

/**
 * The shape of `query-qmp-schema` (qapi/introspect.json). A real QEMU's answer is the table the
 * simulator checks arguments against, so it is validated when loaded.
 */
const featureList = z.array(z.string()).optional();

const member = z.object({
  name: z.string(),
  type: z.string(),
  default: z.null().optional(),
  features: featureList,
});
const variant = z.object({ case: z.string(), type: z.string() });

export const schemaEntry = z.discriminatedUnion('meta-type', [
  z.object({
    name: z.string(),
    'meta-type': z.literal('builtin'),
    'json-type': z.string(),
    features: featureList,
  }),
  z.object({
    name: z.string(),
    'meta-type': z.literal('enum'),
    values: z.array(z.string()),
    members: z.array(z.object({ name: z.string(), features: featureList })).optional(),
    features: featureList,
  }),
  z.object({
    name: z.string(),
    'meta-type': z.literal('array'),
    'element-type': z.string(),
    features: featureList,
  }),
  z.object({
    name: z.string(),
    'meta-type': z.literal('object'),
    members: z.array(member),
    tag: z.string().optional(),
    variants: z.array(variant).optional(),
    features: featureList,
  }),
  z.object({
    name: z.string(),
    'meta-type': z.literal('alternate'),
    members: z.array(z.object({ type: z.string() })),
    features: featureList,
  }),
  z.object({
    name: z.string(),
    'meta-type': z.literal('command'),
    'arg-type': z.string(),
    'ret-type': z.string(),
    'allow-oob': z.boolean().optional(),
    features: featureList,
  }),
  z.object({
    name: z.string(),
    'meta-type': z.literal('event'),
    'arg-type': z.string(),
    features: featureList,
  }),
]);
export type SchemaEntry = z.infer<typeof schemaEntry>;
export type ObjectEntry = Extract<SchemaEntry, { 'meta-type': 'object' }>;
export type EnumEntry = Extract<SchemaEntry, { 'meta-type': 'enum' }>;
export type CommandEntry = Extract<SchemaEntry, { 'meta-type': 'command' }>;

export const schemaSnapshot = z.object({
  greeting: z.object({
    QMP: z.object({
      version: z.object({
        qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
        package: z.string(),
      }),
      capabilities: z.array(z.string()),
    }),
  }),
  version: z.unknown(),
  schema: z.array(schemaEntry),
  /** query-commands' answer, in QEMU's order */
  commands: z.array(z.string()),
});
export type SchemaSnapshot = z.infer<typeof schemaSnapshot>;

/** Lookups over one version's introspected schema. */
export class Introspection {
  readonly byName = new Map<string, SchemaEntry>();
  readonly commands = new Map<string, CommandEntry>();
  readonly events = new Map<string, Extract<SchemaEntry, { 'meta-type': 'event' }>>();

  constructor(readonly entries: SchemaEntry[]) {
    for (const e of entries) {
      this.byName.set(e.name, e);
      if (e['meta-type'] === 'command') this.commands.set(e.name, e);
      if (e['meta-type'] === 'event') this.events.set(e.name, e);
    }
    // The table checks itself: every referenced type must exist.
    for (const e of entries) {
      for (const ref of referencedTypes(e)) {
        if (!this.byName.has(ref))
          throw new Error(`introspected schema: ${e.name} refers to missing type ${ref}`);
      }
    }
  }

  type(name: string): SchemaEntry {
    const t = this.byName.get(name);
    if (!t) throw new Error(`introspected schema has no type ${name}`);
    return t;
  }

  /** Members of an object type plus those of one variant (flat unions). */
  objectMembers(obj: ObjectEntry, tagValue?: string): ObjectEntry['members'] {
    if (!obj.variants || tagValue === undefined) return obj.members;
    const v = obj.variants.find((x) => x.case === tagValue);
    if (!v) return obj.members;
    const vt = this.type(v.type);
    return vt['meta-type'] === 'object' ? [...obj.members, ...this.objectMembers(vt)] : obj.members;
  }

  /** Does an object/union type (reached from a command's arguments by member path) have this member? */
  hasMember(command: string, path: string[], tagValues: Record<string, string> = {}): boolean {
    const cmd = this.commands.get(command);
    if (!cmd) return false;
    let t = this.type(cmd['arg-type']);
    for (const [i, name] of path.entries()) {
      t = this.unwrap(t);
      if (t['meta-type'] !== 'object') return false;
      const m = this.objectMembers(t, tagValues[path.slice(0, i).join('.')]).find((x) => x.name === name);
      if (!m) return false;
      t = this.type(m.type);
    }
    return true;
  }

  enumValues(command: string, path: string[], tagValues: Record<string, string> = {}): string[] {
    const cmd = this.commands.get(command);
    if (!cmd) return [];
    let t = this.type(cmd['arg-type']);
    for (const [i, name] of path.entries()) {
      t = this.unwrap(t);
      if (t['meta-type'] !== 'object') return [];
      const m = this.objectMembers(t, tagValues[path.slice(0, i).join('.')]).find((x) => x.name === name);
      if (!m) return [];
      t = this.type(m.type);
    }
    t = this.unwrap(t);
    return t['meta-type'] === 'enum' ? t.values : [];
  }

  private unwrap(t: SchemaEntry): SchemaEntry {
    // Alternates and arrays are looked through to the object/enum they can hold.
    for (let depth = 0; depth < 8; depth++) {
      if (t['meta-type'] === 'array') t = this.type(t['element-type']);
      else if (t['meta-type'] === 'alternate') {
        const inner = t.members.map((m) => this.type(m.type)).find((x) => x['meta-type'] !== 'builtin');
        if (!inner) return t;
        t = inner;
      } else return t;
    }
    return t;
  }
}

function referencedTypes(e: SchemaEntry): string[] {
  switch (e['meta-type']) {
    case 'array':
      return [e['element-type']];
    case 'object':
      return [...e.members.map((m) => m.type), ...(e.variants ?? []).map((v) => v.type)];
    case 'alternate':
      return e.members.map((m) => m.type);
    case 'command':
      return [e['arg-type'], e['ret-type']];
    case 'event':
      return [e['arg-type']];
    default:
      return [];
  }
}
