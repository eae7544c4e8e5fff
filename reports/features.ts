import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SchemaEntry } from '../contract/qapi/introspection.ts';

/**
 * Features of one QEMU version as its own introspection shows them (spec/qapi-schema/<v>-qsd.json, the
 * answer of real QEMU to query-qmp-schema): commands, events, BlockdevDriver members (blockdev-add's
 * `driver`), the members of the objects reachable from each command's arguments and return type, and the
 * values of the enums among them. Each carries the `deprecated` and `unstable` feature flags QEMU gives it.
 * Introspection hides type names, so a member is named by the path from its command, e.g.
 * `blockdev-backup.on-cbw-error` or `blockdev-add[driver=copy-before-write].min-cluster-size`.
 */
export type FeatureKind = 'command' | 'event' | 'driver' | 'member' | 'value';

export interface FeatureInfo {
  kind: FeatureKind;
  deprecated: boolean;
  unstable: boolean;
}

const MAX_DEPTH = 5;

export function schemaFeatures(entries: SchemaEntry[]): Map<string, FeatureInfo> {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const out = new Map<string, FeatureInfo>();
  const add = (key: string, kind: FeatureKind, f: string[] | undefined) => {
    if (!out.has(key))
      out.set(key, {
        kind,
        deprecated: f?.includes('deprecated') ?? false,
        unstable: f?.includes('unstable') ?? false,
      });
  };
  // BlockdevDriver: the enum of blockdev-add's `driver`, reported as `driver X`
  const ba = byName.get('blockdev-add');
  const args = ba && ba['meta-type'] === 'command' ? byName.get(ba['arg-type']) : undefined;
  const drv =
    args && args['meta-type'] === 'object' ? args.members.find((m) => m.name === 'driver') : undefined;
  const en = drv ? byName.get(drv.type) : undefined;
  // Each type is expanded once, where a breadth-first walk over the commands in name order first meets
  // it: a type used in many places (BlockdevOptions under every BlockdevRef) is listed once.
  const expanded = new Set<string>();
  if (en && en['meta-type'] === 'enum') {
    expanded.add(en.name);
    const mf = new Map((en.members ?? []).map((m) => [m.name, m.features]));
    for (const v of en.values) add(`driver ${v}`, 'driver', mf.get(v));
  }
  const queue: { type: string; prefix: string; depth: number }[] = [];
  const sorted = [...entries].sort((a, b) => a.name.localeCompare(b.name));
  for (const e of sorted) {
    if (e['meta-type'] === 'command') {
      add(`command ${e.name}`, 'command', e.features);
      queue.push({ type: e['arg-type'], prefix: e.name, depth: 0 });
      queue.push({ type: e['ret-type'], prefix: `${e.name} ->`, depth: 0 });
    } else if (e['meta-type'] === 'event') {
      add(`event ${e.name}`, 'event', e.features);
      queue.push({ type: e['arg-type'], prefix: e.name, depth: 0 });
    }
  }
  for (let i = 0; i < queue.length; i++) {
    const { type, prefix, depth } = queue[i];
    const t = byName.get(type);
    if (!t || expanded.has(type) || depth > MAX_DEPTH) continue;
    expanded.add(type);
    switch (t['meta-type']) {
      case 'array':
        expanded.delete(type);
        queue.push({ type: t['element-type'], prefix, depth });
        break;
      case 'alternate':
        expanded.delete(type);
        for (const m of t.members) queue.push({ type: m.type, prefix, depth });
        break;
      case 'enum': {
        const mf = new Map((t.members ?? []).map((m) => [m.name, m.features]));
        for (const v of t.values) add(`${prefix} = ${v}`, 'value', mf.get(v));
        break;
      }
      case 'object':
        for (const m of t.members) {
          add(`${prefix}.${m.name}`, 'member', m.features);
          queue.push({ type: m.type, prefix: `${prefix}.${m.name}`, depth: depth + 1 });
        }
        for (const v of t.variants ?? [])
          queue.push({ type: v.type, prefix: `${prefix}[${t.tag}=${v.case}]`, depth });
        break;
      default:
        break;
    }
  }
  return out;
}

export interface FeatureChange {
  key: string;
  kind: FeatureKind;
}

export interface FeatureDiff {
  from: string;
  to: string;
  added: FeatureChange[];
  removed: FeatureChange[];
  /** newly marked deprecated (present in both, or new and deprecated at once) */
  deprecated: FeatureChange[];
  /** deprecation dropped */
  undeprecated: FeatureChange[];
  /** newly marked unstable */
  unstable: FeatureChange[];
}

const KIND_ORDER: FeatureKind[] = ['command', 'event', 'driver', 'member', 'value'];
const byKind = (a: FeatureChange, b: FeatureChange) =>
  KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.key.localeCompare(b.key);

export function diffFeatures(
  from: string,
  a: Map<string, FeatureInfo>,
  to: string,
  b: Map<string, FeatureInfo>,
): FeatureDiff {
  const d: FeatureDiff = { from, to, added: [], removed: [], deprecated: [], undeprecated: [], unstable: [] };
  for (const [key, fb] of b) {
    const fa = a.get(key);
    if (!fa) d.added.push({ key, kind: fb.kind });
    if (fb.deprecated && !fa?.deprecated) d.deprecated.push({ key, kind: fb.kind });
    if (!fb.deprecated && fa?.deprecated) d.undeprecated.push({ key, kind: fb.kind });
    if (fb.unstable && !fa?.unstable) d.unstable.push({ key, kind: fb.kind });
  }
  for (const [key, fa] of a) if (!b.has(key)) d.removed.push({ key, kind: fa.kind });
  for (const l of [d.added, d.removed, d.deprecated, d.undeprecated, d.unstable]) l.sort(byKind);
  return d;
}

/**
 * Keep only the top of each change: a member added together with its command is part of "command X
 * added", a value added with its member part of the member. Shorter reports, nothing hidden.
 */
export function topLevel(changes: FeatureChange[]): FeatureChange[] {
  const keys = new Set(changes.map((c) => c.key));
  const cmds = new Set(
    changes.filter((c) => c.kind === 'command' || c.kind === 'event').map((c) => c.key.split(' ')[1]),
  );
  return changes.filter((c) => {
    if (c.kind !== 'member' && c.kind !== 'value') return true;
    const root = /^([^.[ ]+)/.exec(c.key)?.[1] ?? '';
    if (cmds.has(root)) return false;
    const parent =
      c.kind === 'value'
        ? c.key.slice(0, c.key.lastIndexOf(' = '))
        : c.key.slice(0, Math.max(c.key.lastIndexOf('.'), 0));
    for (let p = parent; p.length > 0; ) {
      if (keys.has(p)) return false;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) break;
      p = p.slice(0, cut);
    }
    return true;
  });
}

const SCHEMA_DIR = fileURLToPath(new URL('../contract/qapi-schema/', import.meta.url));

/** the introspected schema of a profile's qemu-storage-daemon, if there is one */
export function loadSchemaFeatures(profile: string): Map<string, FeatureInfo> | undefined {
  const file = `${SCHEMA_DIR}${profile}-qsd.json`;
  if (!fs.existsSync(file)) return undefined;
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as { schema: SchemaEntry[] };
  return schemaFeatures(snap.schema);
}
