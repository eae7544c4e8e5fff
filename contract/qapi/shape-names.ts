import type { MergedCommand, ObjectShape, Shape } from './schema-union.ts';

/**
 * Which merged shapes get a name of their own in the generated types, and what name. Introspection masks
 * QAPI's type names, so a named shape is called after the first place it is reached from, in command
 * order: `BlockdevBackupArgs` (blockdev-backup's arguments, which transaction's blockdev-backup action
 * takes too), `BlockdevAddArgs` (which BlockdevRef members refer back to). Named: a shape reached again
 * while it is being walked (a recursive type), an object reached from two places and an enum of
 * more than three values reached from two places.
 */
export function nameShapes(commands: MergedCommand[]): Map<Shape, string> {
  const uses = new Map<Shape, number>();
  const recursive = new Set<Shape>();
  const firstPath = new Map<Shape, string[]>();
  const onStack = new Set<Shape>();
  const walk = (s: Shape, path: string[]): void => {
    if (s.kind === 'object' || s.kind === 'alternate' || s.kind === 'enum') {
      uses.set(s, (uses.get(s) ?? 0) + 1);
      if (onStack.has(s)) {
        recursive.add(s);
        return;
      }
      if (firstPath.has(s)) return;
      firstPath.set(s, path);
    }
    onStack.add(s);
    for (const [child, seg] of children(s)) walk(child, seg === undefined ? path : [...path, seg]);
    onStack.delete(s);
  };
  for (const c of commands) walk(c.args, [c.name]);

  const names = new Map<Shape, string>();
  const taken = new Set<string>();
  const give = (s: Shape, base: string) => {
    let n = base;
    for (let i = 2; taken.has(n); i++) n = `${base}${i}`;
    taken.add(n);
    names.set(s, n);
  };
  const shared = (s: Shape) => (uses.get(s) ?? 0) > 1;
  const wanted = (s: Shape) =>
    recursive.has(s) ||
    (s.kind === 'object' && shared(s)) ||
    (s.kind === 'enum' && s.values.length > 3 && shared(s));
  // a command's own arguments are named after it first, whatever reached them before
  for (const c of commands) if (wanted(c.args) && !names.has(c.args)) give(c.args, `${pascal(c.name)}Args`);
  for (const [s, path] of firstPath) {
    if (names.has(s) || !wanted(s)) continue;
    give(s, pascal(path.join('-')));
  }
  return names;
}

/** The shapes a shape holds, each with the path segment that reaches it (none for array elements). */
export function children(s: Shape): [Shape, string | undefined][] {
  switch (s.kind) {
    case 'array':
      return [[s.element, undefined]];
    case 'alternate':
      return s.branches.map((b) => [b, undefined]);
    case 'object':
      return [
        ...s.members.map((m): [Shape, string] => [m.type, m.name]),
        ...(s.variants ?? []).map((v): [ObjectShape, string] => [v.type, v.case]),
      ];
    default:
      return [];
  }
}

/** 'blockdev-add' -> 'BlockdevAdd', 'x-blockdev-change' -> 'XBlockdevChange' */
export function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
}
