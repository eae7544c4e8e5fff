import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Profile } from '../versions.ts';
import { type SchemaSnapshot, schemaSnapshot } from './introspection.ts';

/**
 * The introspection a real QEMU of each profile gave (contract/qapi-schema, captured by
 * conformance/qemu/capture-schema.ts): greeting, query-version, query-qmp-schema and
 * query-commands. Loaded once, checked by zod and against itself.
 */
const cache = new Map<string, SchemaSnapshot>();

export function loadSnapshot(profile: Profile, flavour: 'qsd' | 'system'): SchemaSnapshot {
  const key = `${profile}-${flavour}`;
  let s = cache.get(key);
  if (!s) {
    const file = fileURLToPath(new URL(`../qapi-schema/${key}.json`, import.meta.url));
    const parsed = schemaSnapshot.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`contract/qapi-schema/${key}.json: ${issue.path.join('.')}: ${issue.message}`);
    }
    s = parsed.data;
    // the table checks itself: a command QEMU lists must have a schema to check its arguments against
    const inSchema = new Set(s.schema.filter((e) => e['meta-type'] === 'command').map((e) => e.name));
    const stray = s.commands.find((c) => !inSchema.has(c));
    if (stray) throw new Error(`contract/qapi-schema/${key}.json: commands: '${stray}' is not in the schema`);
    cache.set(key, s);
  }
  return s;
}
