import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The architecture, held: six layers, each a folder, and an import may point only to its own layer or one
 * below. Folders inside a layer may not import each other in a loop either, so that each folder can be read
 * with only what is under it. process.argv is read in bin/ alone.
 */
const LAYERS = ['contract', 'sim', 'harness', 'checks', 'reports', 'bin'] as const;
const ROOT = path.resolve(import.meta.dirname, '..');
// fixtures that stand in for a child process read their own argv, as any program does
const ARGV_ALLOWED = new Set(['harness/targets/fixtures/registry-child.ts']);

function sources(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const l of LAYERS) walk(l);
  return out;
}

const IMPORT =
  /(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
const layerOf = (f: string): number => LAYERS.indexOf(f.split('/')[0] as (typeof LAYERS)[number]);
const isTest = (f: string): boolean => /\.test\.ts$/.test(f);

interface Edge {
  from: string;
  to: string;
}

function edges(files: string[]): Edge[] {
  const out: Edge[] = [];
  for (const f of files) {
    const src = fs.readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of src.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec?.startsWith('.')) continue;
      out.push({ from: f, to: path.posix.normalize(path.posix.join(path.posix.dirname(f), spec)) });
    }
  }
  return out;
}

/** Strongly connected folders (Tarjan), each cycle of two or more. */
function folderCycles(es: Edge[]): string[][] {
  const g = new Map<string, Set<string>>();
  for (const { from, to } of es) {
    const a = path.posix.dirname(from);
    const b = path.posix.dirname(to);
    if (a === b) continue;
    if (!g.has(a)) g.set(a, new Set());
    g.get(a)?.add(b);
  }
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) cycles.push(c.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

describe('layers: contract → sim → harness → checks → reports → bin', () => {
  const files = sources();
  const all = edges(files);

  it('finds the tree (a walk that reads nothing would pass anything)', () => {
    for (const l of LAYERS) expect(files.some((f) => f.startsWith(`${l}/`))).toBe(true);
    expect(all.length).toBeGreaterThan(500);
  });

  it('no import points up a layer, tests included', () => {
    const up = all.filter((e) => layerOf(e.to) > layerOf(e.from)).map((e) => `${e.from} -> ${e.to}`);
    expect(up).toEqual([]);
  });

  it('no import leaves the six layers (every relative import lands in one)', () => {
    const out = all.filter((e) => layerOf(e.to) < 0).map((e) => `${e.from} -> ${e.to}`);
    expect(out).toEqual([]);
  });

  it('no two folders import each other, directly or in a loop', () => {
    expect(folderCycles(all.filter((e) => !isTest(e.from)))).toEqual([]);
  });

  it('only bin/ reads process.argv', () => {
    const readers = files.filter(
      (f) =>
        !f.startsWith('bin/') &&
        !isTest(f) &&
        !ARGV_ALLOWED.has(f) &&
        /process\.argv/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(readers).toEqual([]);
  });

  it('the checker catches what it is for', () => {
    const bad: Edge[] = [
      { from: 'sim/a/x.ts', to: 'checks/b/y.ts' },
      { from: 'sim/b/y.ts', to: 'sim/a/x.ts' },
      { from: 'sim/a/z.ts', to: 'sim/b/w.ts' },
    ];
    expect(bad.filter((e) => layerOf(e.to) > layerOf(e.from))).toHaveLength(1);
    expect(folderCycles(bad)).toEqual([['sim/a', 'sim/b']]);
  });
});
