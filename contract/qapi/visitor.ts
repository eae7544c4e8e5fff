import { firstUnexpected } from './glib-hash.ts';
import { fitsCInt, INT_MEMBER_TYPES } from './int-types.ts';
import type { Introspection, SchemaEntry } from './introspection.ts';
import { QDouble } from './qdouble.ts';

/**
 * QEMU's QObject input visitor (qapi/qobject-input-visitor.c) run over an introspected schema: it finds
 * the first error QEMU would report for a command's arguments, in the order QEMU's generated visitors
 * walk the members. Texts differ between versions, so they come from the version table.
 */
export interface VisitorTexts {
  missing: string; // %s = full member name
  badType: string; // %s = full member name, %s = expected json type
  badEnum: string; // %n = member name, %v = value
  unexpected: string; // %s = full member name
  /** %s = member name, %s = C type (uint32_t ...); QERR_INVALID_PARAMETER_VALUE */
  intRange?: string;
  /** C names of alternates where a version names them differently (5.2: BlockDirtyBitmapMergeSource) */
  alternateNames?: Record<string, string>;
}

/** Alternates print their C type name when no branch fits; introspection hides it, so it is recognised by shape. */
function alternateName(
  intro: Introspection,
  members: { type: string }[],
  renamed?: Record<string, string>,
): string {
  const kinds = members.map((m) => {
    const t = intro.type(m.type);
    return t['meta-type'] === 'builtin' ? t.name : t['meta-type'];
  });
  const key = kinds.join(',');
  const known: Record<string, string> = {
    'object,str': 'BlockdevRef',
    'object,str,null': 'BlockdevRefOrNull',
    'str,null': 'StrOrNull',
    'str,object': 'BlockDirtyBitmapOrStr',
  };
  const name = known[key] ?? 'alternate';
  return renamed?.[name] ?? name;
}

const JSON_TYPE_WORD: Record<string, string> = {
  str: 'string',
  int: 'integer',
  number: 'number',
  bool: 'boolean',
  null: 'null',
};

type Path = (string | number)[];

function fullName(path: Path): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${p}` : p;
  }
  return s;
}

function fmt(template: string, ...args: string[]): string {
  let i = 0;
  return template.replace(/%s/g, () => args[i++] ?? '');
}

class VisitError extends Error {}

function jsonKind(v: unknown): 'object' | 'array' | 'string' | 'int' | 'number' | 'bool' | 'null' {
  if (v === null) return 'null';
  if (v instanceof QDouble) return 'number';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'number';
    case 'bigint':
      return 'int';
    default:
      return 'object';
  }
}

export class QapiVisitor {
  /** the command being checked, for its table of C integer types */
  private command = '';

  constructor(
    private readonly intro: Introspection,
    private readonly texts: VisitorTexts,
  ) {}

  /** Check a command's arguments; returns QEMU's error text, or null when QEMU would accept them. */
  checkCommand(command: string, args: Record<string, unknown>): string | null {
    const cmd = this.intro.commands.get(command);
    if (!cmd) return null;
    this.command = command;
    try {
      this.visitStructMembers(this.intro.type(cmd['arg-type']), args, []);
      return null;
    } catch (e) {
      if (e instanceof VisitError) return e.message;
      throw e;
    }
  }

  /** Check a value against a named type (for nested uses such as transaction action data). */
  checkType(typeName: string, value: unknown, path: Path, command = ''): string | null {
    this.command = command;
    try {
      this.visit(this.intro.type(typeName), value, path);
      return null;
    } catch (e) {
      if (e instanceof VisitError) return e.message;
      throw e;
    }
  }

  private fail(message: string): never {
    throw new VisitError(message);
  }

  private visitStructMembers(t: SchemaEntry, obj: Record<string, unknown>, path: Path): void {
    if (t['meta-type'] !== 'object') throw new Error(`expected object type, got ${t['meta-type']}`);
    const seen = new Set<string>();
    const visitMembers = (members: { name: string; type: string; default?: null }[]): void => {
      for (const m of members) {
        const present = Object.hasOwn(obj, m.name) && obj[m.name] !== undefined;
        if (!present) {
          if (m.default === null) continue;
          this.fail(fmt(this.texts.missing, fullName([...path, m.name])));
        }
        seen.add(m.name);
        this.visit(this.intro.type(m.type), obj[m.name], [...path, m.name]);
      }
    };
    visitMembers(t.members);
    if (t.tag && t.variants) {
      const tag = obj[t.tag];
      const v = t.variants.find((x) => x.case === tag);
      if (v) {
        const vt = this.intro.type(v.type);
        if (vt['meta-type'] === 'object') {
          // A variant type's own variants (nested unions) are visited the same way.
          this.visitVariantType(vt, obj, path, seen);
        }
      }
    }
    const present = Object.keys(obj).filter((k) => obj[k] !== undefined);
    if (present.some((k) => !seen.has(k))) {
      // qobject_input_check_struct: the first key left in GLib's hash table, not in QDict order
      const extra = firstUnexpected(
        present,
        [...seen].filter((k) => present.includes(k)),
      );
      this.fail(fmt(this.texts.unexpected, fullName([...path, extra!])));
    }
  }

  private visitVariantType(
    vt: Extract<SchemaEntry, { 'meta-type': 'object' }>,
    obj: Record<string, unknown>,
    path: Path,
    seen: Set<string>,
  ): void {
    for (const m of vt.members) {
      const present = Object.hasOwn(obj, m.name) && obj[m.name] !== undefined;
      if (!present) {
        if (m.default === null) continue;
        this.fail(fmt(this.texts.missing, fullName([...path, m.name])));
      }
      seen.add(m.name);
      this.visit(this.intro.type(m.type), obj[m.name], [...path, m.name]);
    }
    if (vt.tag && vt.variants) {
      const v = vt.variants.find((x) => x.case === obj[vt.tag!]);
      if (v) {
        const inner = this.intro.type(v.type);
        if (inner['meta-type'] === 'object') this.visitVariantType(inner, obj, path, seen);
      }
    }
  }

  /** visit_type_intN / visit_type_uintN: the member's C type bounds it (contract/qapi/int-types.ts) */
  private checkIntRange(value: number | bigint, path: Path): void {
    const last = path[path.length - 1];
    if (typeof last !== 'string') return;
    const type = INT_MEMBER_TYPES[this.command]?.[last];
    if (!type || fitsCInt(type, value)) return;
    this.fail(fmt(this.texts.intRange ?? "Parameter '%s' expects %s", last, `${type}_t`));
  }

  private visit(t: SchemaEntry, value: unknown, path: Path): void {
    const kind = jsonKind(value);
    const name = fullName(path);
    switch (t['meta-type']) {
      case 'builtin': {
        if (t.name === 'any') return;
        const ok =
          (t.name === 'str' && kind === 'string') ||
          (t.name === 'int' && kind === 'int') ||
          (t.name === 'number' && (kind === 'int' || kind === 'number')) ||
          (t.name === 'bool' && kind === 'bool') ||
          (t.name === 'null' && kind === 'null');
        if (!ok) this.fail(fmt(this.texts.badType, name, JSON_TYPE_WORD[t.name] ?? t.name));
        if (t.name === 'int') this.checkIntRange(value as number | bigint, path);
        return;
      }
      case 'enum': {
        if (kind !== 'string') this.fail(fmt(this.texts.badType, name, 'string'));
        if (!t.values.includes(value as string)) {
          const last = path[path.length - 1];
          const member = typeof last === 'string' ? last : 'null';
          this.fail(this.texts.badEnum.replace('%n', member).replace('%v', value as string));
        }
        return;
      }
      case 'array': {
        if (kind !== 'array') this.fail(fmt(this.texts.badType, name, 'array'));
        (value as unknown[]).forEach((el, i) => {
          this.visit(this.intro.type(t['element-type']), el, [...path, i]);
        });
        return;
      }
      case 'object': {
        if (kind !== 'object') this.fail(fmt(this.texts.badType, name, 'object'));
        this.visitStructMembers(t, value as Record<string, unknown>, path);
        return;
      }
      case 'alternate': {
        for (const m of t.members) {
          const mt = this.intro.type(m.type);
          const fits =
            (mt['meta-type'] === 'object' && kind === 'object') ||
            (mt['meta-type'] === 'array' && kind === 'array') ||
            (mt['meta-type'] === 'enum' && kind === 'string') ||
            (mt['meta-type'] === 'builtin' &&
              ((mt.name === 'str' && kind === 'string') ||
                (mt.name === 'int' && kind === 'int') ||
                (mt.name === 'number' && (kind === 'int' || kind === 'number')) ||
                (mt.name === 'bool' && kind === 'bool') ||
                (mt.name === 'null' && kind === 'null')));
          if (fits) {
            this.visit(mt, value, path);
            return;
          }
        }
        // QEMU names the member (not the full path) and the alternate's C type here.
        const last = path[path.length - 1];
        this.fail(
          fmt(
            this.texts.badType,
            typeof last === 'string' ? last : 'null',
            alternateName(this.intro, t.members, this.texts.alternateNames),
          ),
        );
        return;
      }
      default:
        return;
    }
  }
}

/** The visitor's texts for one version of the table (contract/versions.ts). */
export function visitorTexts(texts: Record<string, string>): VisitorTexts {
  return {
    missing: texts['qapi.missing'],
    badType: texts['qapi.badType'],
    badEnum: texts['qapi.badEnum'],
    unexpected: texts['qapi.unexpected'],
    intRange: texts['qapi.intRange'],
    alternateNames: { BlockDirtyBitmapOrStr: texts['qapi.alternate.BlockDirtyBitmapOrStr'] },
  };
}
