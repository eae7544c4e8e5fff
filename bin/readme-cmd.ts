import fs from 'node:fs';
import path from 'node:path';
import { measuredTables, updateReadme } from '../reports/readme-tables.ts';

/** `fleece-lab readme [--check]` (options: bin/dev-commands.ts) */
export function cmdReadme(values: { check: boolean; file: string }): number {
  const file = path.resolve(values.file);
  const root = path.dirname(file);
  const before = fs.readFileSync(file, 'utf8');
  const u = updateReadme(before, measuredTables(root));
  for (const k of u.missing)
    console.error(
      `${values.file}: no <!-- measured:${k} --> … <!-- /measured:${k} --> markers for the ${k} table`,
    );
  if (values.check) {
    for (const k of u.changed)
      console.error(
        `${values.file}: the ${k} table differs from its report: run 'fleece-lab readme' and commit the result`,
      );
    const bad = u.missing.length + u.changed.length;
    if (bad === 0) console.log(`${values.file}: every measured table matches its report`);
    return bad > 0 ? 1 : 0;
  }
  if (u.text !== before) fs.writeFileSync(file, u.text);
  console.log(
    `${values.file}: ${u.changed.length > 0 ? `made again: ${u.changed.join(', ')}` : 'every measured table already matched'}`,
  );
  return u.missing.length > 0 ? 1 : 0;
}
