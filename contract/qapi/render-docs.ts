import { SIMULATED_COMMANDS } from '../qmp/commands.ts';
import { PROFILES } from '../versions.ts';
import type { Member, MergedCommand, Shape } from './schema-union.ts';
import { nameShapes } from './shape-names.ts';

/**
 * docs/qmp-commands.md: every QMP command of the captured schemas with the versions and flavours that
 * have it, its arguments (merged over those versions, as the generated types have them), its QAPI
 * features, and whether the simulator implements it (contract/qmp/commands.ts).
 */

const simulated: Readonly<Record<string, string>> = SIMULATED_COMMANDS;

/** 'system' or 'qsd and system' per profile, condensed where every profile has the same flavours */
export function versionsText(keys: string[]): string {
  const by = PROFILES.map((p) => ({
    p,
    f: keys.filter((k) => k.startsWith(`${p}-`)).map((k) => k.slice(p.length + 1)),
  })).filter((x) => x.f.length > 0);
  if (by.length === 0) return 'none';
  const flavours = (f: string[]) => f.join(' and ');
  if (by.every((x) => flavours(x.f) === flavours(by[0].f)))
    return `${by.map((x) => x.p).join(', ')} (${flavours(by[0].f)})`;
  return by.map((x) => `${x.p} (${flavours(x.f)})`).join(', ');
}

const esc = (s: string) => s.replace(/\|/g, '\\|');
const anchor = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9_ -]/g, '')
    .replace(/ /g, '-');

class DocTypes {
  constructor(readonly names: Map<Shape, string>) {}

  /** a short type text: named shapes by name (but `self`), objects one level deep */
  text(s: Shape, depth = 0, self?: Shape): string {
    const name = this.names.get(s);
    if (name && s !== self) return name;
    switch (s.kind) {
      case 'builtin':
        return { str: 'string', int: 'int', number: 'number', bool: 'bool', null: 'null', any: 'any' }[
          s.name
        ];
      case 'enum':
        return s.values.map((v) => `'${v}'`).join(' | ');
      case 'array': {
        const el = this.text(s.element, depth);
        return /^[A-Za-z0-9_']+$/.test(el) ? `${el}[]` : `(${el})[]`;
      }
      case 'alternate':
        return s.branches.map((b) => this.text(b, depth)).join(' | ');
      case 'object': {
        if (depth > 0) return 'object';
        const ms = s.members.map((m) => `${m.name}${m.optional ? '?' : ''}: ${this.text(m.type, depth + 1)}`);
        const vs = s.tag && s.variants ? [`… by ${s.tag}`] : [];
        return ms.length + vs.length === 0 ? '{}' : `{ ${[...ms, ...vs].join(', ')} }`;
      }
    }
  }
}

function featuresText(byKey: Record<string, string[]>): string {
  const keysOf = new Map<string, string[]>();
  for (const [k, fs] of Object.entries(byKey))
    for (const f of fs) keysOf.set(f, [...(keysOf.get(f) ?? []), k]);
  return [...keysOf].map(([f, keys]) => `${f} in ${versionsText(keys)}`).join('; ');
}

function memberRows(t: DocTypes, members: Member[], where: string[], prefix = ''): string[] {
  return members.map((m) => {
    const versions = m.in.length === where.length ? '' : versionsText(m.in);
    return `| ${prefix}\`${m.name}\` | ${esc(t.text(m.type))} | ${m.optional ? '' : 'yes'} | ${versions} | ${m.features.join(', ')} |`;
  });
}

function commandSection(t: DocTypes, c: MergedCommand): string[] {
  const sim = simulated[c.name];
  const lines = [`## ${c.name}`, ''];
  lines.push(`- In: ${versionsText(c.registered)}`);
  if (c.described.length > c.registered.length)
    lines.push(
      `- Described but not registered in: ${versionsText(c.described.filter((k) => !c.registered.includes(k)))}`,
    );
  lines.push(`- Simulated: ${sim === undefined ? 'no' : sim === '' ? 'yes' : `partly (${sim})`}`);
  const f = featuresText(c.features);
  if (f) lines.push(`- Features: ${f}`);
  lines.push('');
  const args = c.args;
  if (args.kind !== 'object' || (args.members.length === 0 && !args.variants)) {
    lines.push('No arguments.', '');
    return lines;
  }
  lines.push('| argument | type | required | only in | features |', '|---|---|---|---|---|');
  lines.push(...memberRows(t, args.members, c.described));
  for (const v of args.variants ?? []) {
    const rows = memberRows(t, v.type.members, c.described, `${args.tag}=${v.case}: `);
    lines.push(...rows);
  }
  lines.push('');
  return lines;
}

function typeSection(t: DocTypes, s: Shape, name: string): string[] {
  const lines = [`## ${name}`, ''];
  if (s.kind !== 'object') return [...lines, `\`${t.text(s, 0, s)}\``, ''];
  const all = [
    ...new Set([...s.members, ...(s.variants ?? []).flatMap((v) => v.type.members)].flatMap((m) => m.in)),
  ];
  lines.push('| member | type | required | only in | features |', '|---|---|---|---|---|');
  lines.push(...memberRows(t, s.members, all));
  for (const v of s.variants ?? []) lines.push(...memberRows(t, v.type.members, all, `${s.tag}=${v.case}: `));
  return [...lines, ''];
}

export function renderDocs(commands: MergedCommand[]): string {
  const t = new DocTypes(nameShapes(commands));
  const out = [
    '# QMP commands',
    '',
    '<!-- GENERATED by `npm run gen:qapi` (contract/qapi/gen-qapi.ts): do not edit. -->',
    '',
    'Every QMP command of the QEMU versions fleece-lab captured the introspection of (query-qmp-schema and',
    'query-commands of real QEMU, as qemu-storage-daemon "qsd" and qemu-system-x86_64 "system";',
    'contract/qapi-schema). Arguments are merged over the versions that have the command: one that some',
    'version lacks is optional, and "only in" names the versions that have it. Type names are those of',
    'contract/qapi/generated/commands.ts (introspection hides QAPI\'s own). "Simulated" says whether the',
    'simulator implements the command, and which part of it (contract/qmp/commands.ts).',
    '',
    `| command | ${PROFILES.join(' | ')} | simulated |`,
    `|---|${PROFILES.map(() => '---').join('|')}|---|`,
    ...commands.map((c) => {
      const cols = PROFILES.map((p) =>
        c.registered
          .filter((k) => k.startsWith(`${p}-`))
          .map((k) => k.slice(p.length + 1))
          .join(', '),
      );
      const sim = simulated[c.name];
      return `| [${c.name}](#${anchor(c.name)}) | ${cols.join(' | ')} | ${sim === undefined ? '' : sim === '' ? 'yes' : 'partly'} |`;
    }),
    '',
  ];
  for (const c of commands) out.push(...commandSection(t, c));
  out.push('# Types', '', 'The named types of contract/qapi/generated/commands.ts.', '');
  for (const [s, name] of [...t.names].sort((a, b) => a[1].localeCompare(b[1])))
    out.push(...typeSection(t, s, name));
  return `${out.join('\n').trimEnd()}\n`;
}
