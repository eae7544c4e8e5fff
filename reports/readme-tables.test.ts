import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MEASURED, measuredTables, updateReadme } from './readme-tables.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The README's measured tables are the committed reports' (fleece-lab readme --check, run by npm test). */
describe("the README's measured tables", () => {
  const tables = measuredTables(ROOT);

  it('are made from the committed reports, and the README has them as made', () => {
    for (const k of MEASURED) if (k !== 'bench') expect(tables[k], k).toBeDefined();
    const u = updateReadme(README, tables);
    expect(u.missing).toEqual([]);
    expect(u.changed).toEqual([]);
  });

  it('a number changed by hand in the README fails the check; making it again restores it', () => {
    const doctored = README.replace(
      /(<!-- measured:matrix -->[\s\S]*?\| 7\.2 \|[^\n]*?\| )389( \|)/,
      '$1388$2',
    );
    expect(doctored).not.toBe(README);
    const u = updateReadme(doctored, tables);
    expect(u.changed).toEqual(['matrix']);
    expect(u.text).toBe(README);
  });

  it('a report that changed fails the check until the README is made again', () => {
    const wrong = { ...tables, fuzz: tables.fuzz!.replace('| 0 | 0 |', '| 1 | 0 |') };
    expect(updateReadme(README, wrong).changed).toEqual(['fuzz']);
    const gone = README.replace('<!-- /measured:soak -->', '');
    expect(updateReadme(gone, tables).missing).toEqual(['soak']);
  });
});
