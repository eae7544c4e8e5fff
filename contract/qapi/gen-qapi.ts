import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDocs } from './render-docs.ts';
import { renderTypes } from './render-types.ts';
import { SCHEMA_KEYS, SchemaUnion } from './schema-union.ts';

/**
 * `npm run gen:qapi` (`fleece-lab gen-qapi`): reads every captured schema (contract/qapi-schema) and writes
 * the merged command types (contract/qapi/generated/commands.ts) and the command docs
 * (docs/qmp-commands.md). contract/qapi/generated.test.ts checks that both are what this writes.
 */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** the generated files, by path from the repository root */
export function generate(): Record<string, string> {
  const commands = SchemaUnion.commands();
  return {
    'contract/qapi/generated/commands.ts': renderTypes(commands, SCHEMA_KEYS),
    'docs/qmp-commands.md': renderDocs(commands),
  };
}

/** Writes the generated files; one line per file. */
export function writeGenerated(): string[] {
  return Object.entries(generate()).map(([file, text]) => {
    const to = path.join(ROOT, file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, text);
    return `wrote ${file} (${text.split('\n').length - 1} lines)`;
  });
}
