import { describeDifference } from '../contract/formats/json-diff.ts';
import type { Matrix, MatrixCell } from '../contract/formats/matrix.ts';
import type { CheckStatus, Results } from '../contract/formats/results.ts';
import { stepOf, type TranscriptData, transcriptDifference } from '../contract/formats/transcripts.ts';
import {
  diffFeatures,
  type FeatureChange,
  type FeatureDiff,
  type FeatureInfo,
  topLevel,
} from './features.ts';
import { cellText } from './matrix.ts';
import { differenceKinds, type ErrorTextChange, errorTextChanges } from './transcripts.ts';

/**
 * `fleece-lab diff A B`: a regression report between two results files (two QEMU versions, or before and
 * after a backport) or two matrix files. Checks whose status changed, error texts that changed (from the
 * transcripts, where both runs kept them), and for two QEMU versions the features their introspection
 * added, deprecated or removed.
 */
export interface StatusChange {
  id: string;
  a?: CheckStatus;
  b?: CheckStatus;
  aReason?: string;
  bReason?: string;
}

export interface TranscriptSide {
  /** where the transcripts came from (a folder, or the recordings of real QEMU) */
  source: string;
  traces: Map<string, TranscriptData>;
}

export interface ResultsDiff {
  kind: 'results';
  a: { file: string; target: string; version: string; package: string };
  b: { file: string; target: string; version: string; package: string };
  statusChanges: StatusChange[];
  /** checks in B only / in A only */
  added: string[];
  removed: string[];
  unchanged: number;
  transcripts?: {
    a: string;
    b: string;
    compared: number;
    errorTexts: ErrorTextChange[];
    /** transcripts that changed elsewhere than in error texts: the first difference */
    otherChanges: { id: string; where: string; kinds: string[] }[];
  };
  features?: FeatureDiff;
}

export interface DiffInput {
  a: Results;
  b: Results;
  aFile: string;
  bFile: string;
  ta?: TranscriptSide;
  tb?: TranscriptSide;
  /** introspection features of A's and B's QEMU versions (both or neither) */
  fa?: Map<string, FeatureInfo>;
  fb?: Map<string, FeatureInfo>;
  profileA?: string;
  profileB?: string;
}

export function diffResults(i: DiffInput): ResultsDiff {
  const ma = new Map(i.a.checks.map((c) => [c.id, c]));
  const mb = new Map(i.b.checks.map((c) => [c.id, c]));
  const statusChanges: StatusChange[] = [];
  let unchanged = 0;
  for (const c of i.b.checks) {
    const p = ma.get(c.id);
    if (!p) continue;
    if (p.status !== c.status)
      statusChanges.push({ id: c.id, a: p.status, b: c.status, aReason: p.reason, bReason: c.reason });
    else unchanged++;
  }
  const out: ResultsDiff = {
    kind: 'results',
    a: { file: i.aFile, target: i.a.target, version: i.a.qemu.version, package: i.a.qemu.package },
    b: { file: i.bFile, target: i.b.target, version: i.b.qemu.version, package: i.b.qemu.package },
    statusChanges,
    added: i.b.checks.filter((c) => !ma.has(c.id)).map((c) => c.id),
    removed: i.a.checks.filter((c) => !mb.has(c.id)).map((c) => c.id),
    unchanged,
  };
  if (i.ta && i.tb) {
    const errorTexts: ErrorTextChange[] = [];
    const otherChanges: { id: string; where: string; kinds: string[] }[] = [];
    let compared = 0;
    for (const c of i.b.checks) {
      const ta = i.ta.traces.get(c.id);
      const tb = i.tb.traces.get(c.id);
      if (!ta || !tb || !ma.has(c.id)) continue;
      compared++;
      const e = errorTextChanges(c.id, ta, tb);
      errorTexts.push(...e);
      if (e.length > 0) continue;
      const d = transcriptDifference(ta, tb);
      if (d) {
        const at = stepOf(ta, d.path);
        otherChanges.push({
          id: c.id,
          where: `${at ? `${at}: ` : ''}${describeDifference(d, 'A', 'B')}`,
          kinds: differenceKinds(ta, tb),
        });
      }
    }
    out.transcripts = { a: i.ta.source, b: i.tb.source, compared, errorTexts, otherChanges };
  }
  if (i.fa && i.fb) out.features = diffFeatures(i.profileA ?? 'A', i.fa, i.profileB ?? 'B', i.fb);
  return out;
}

export interface MatrixCellChange {
  id: string;
  version: string;
  a?: MatrixCell;
  b?: MatrixCell;
}

export interface MatrixDiff {
  kind: 'matrix';
  a: { file: string; createdAt: string };
  b: { file: string; createdAt: string };
  /** versions whose real QEMU package changed */
  packages: { version: string; a?: string; b?: string }[];
  cellChanges: MatrixCellChange[];
  added: string[];
  removed: string[];
}

function sameCell(a: MatrixCell | undefined, b: MatrixCell | undefined): boolean {
  return a?.real === b?.real && a?.sim === b?.sim && a?.agree === b?.agree && a?.class === b?.class;
}

export function diffMatrices(a: Matrix, b: Matrix, aFile: string, bFile: string): MatrixDiff {
  const ra = new Map(a.rows.map((r) => [r.id, r]));
  const rb = new Map(b.rows.map((r) => [r.id, r]));
  const versions = [...new Set([...a.versions, ...b.versions].map((v) => v.version))];
  const packages = versions
    .map((v) => ({
      version: v,
      a: a.versions.find((x) => x.version === v)?.real?.package,
      b: b.versions.find((x) => x.version === v)?.real?.package,
    }))
    .filter((p) => p.a !== p.b);
  const cellChanges: MatrixCellChange[] = [];
  for (const r of b.rows) {
    const p = ra.get(r.id);
    if (!p) continue;
    for (const v of versions)
      if (!sameCell(p.cells[v], r.cells[v]))
        cellChanges.push({ id: r.id, version: v, a: p.cells[v], b: r.cells[v] });
  }
  return {
    kind: 'matrix',
    a: { file: aFile, createdAt: a.createdAt },
    b: { file: bFile, createdAt: b.createdAt },
    packages,
    cellChanges,
    added: b.rows.filter((r) => !ra.has(r.id)).map((r) => r.id),
    removed: a.rows.filter((r) => !rb.has(r.id)).map((r) => r.id),
  };
}

const mdEsc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function featureList(title: string, all: FeatureChange[]): string[] {
  const top = topLevel(all);
  const lines = [
    '',
    `### ${title} (${all.length}${top.length !== all.length ? `; ${top.length} listed, members of new or removed commands and types folded in` : ''})`,
    '',
  ];
  if (top.length === 0) return [...lines, 'None.'];
  for (const k of ['command', 'event', 'driver', 'member', 'value'] as const) {
    const these = top.filter((c) => c.kind === k);
    if (these.length === 0) continue;
    const name = {
      command: 'commands',
      event: 'events',
      driver: 'BlockdevDriver',
      member: 'members',
      value: 'enum values',
    }[k];
    lines.push(
      `- ${name}: ${these.map((c) => `\`${c.key.replace(/^(command|event|driver) /, '')}\``).join(', ')}`,
    );
  }
  return lines;
}

export function diffMarkdown(d: ResultsDiff | MatrixDiff): string {
  if (d.kind === 'matrix') return matrixDiffMarkdown(d);
  const L = [
    `# fleece-lab diff: ${d.a.target} → ${d.b.target}`,
    '',
    '| | A | B |',
    '|---|---|---|',
    `| file | ${d.a.file} | ${d.b.file} |`,
    `| target | ${d.a.target} | ${d.b.target} |`,
    `| QEMU | ${d.a.version} | ${d.b.version} |`,
    `| package | ${d.a.package} | ${d.b.package} |`,
    '',
    `${d.statusChanges.length} checks changed status, ${d.unchanged} kept it; ${d.added.length} new in B, ${d.removed.length} only in A.`,
    '',
    `## Checks whose status changed (${d.statusChanges.length})`,
    '',
  ];
  if (d.statusChanges.length === 0) L.push('None.');
  else {
    L.push('| check | A | B | reason in B (or A) |', '|---|---|---|---|');
    for (const c of d.statusChanges)
      L.push(
        `| ${c.id} | ${c.a ?? '–'} | ${c.b ?? '–'} | ${mdEsc((c.bReason ?? c.aReason ?? '').slice(0, 300))} |`,
      );
  }
  if (d.added.length > 0)
    L.push('', `## New checks in B (${d.added.length})`, '', d.added.map((x) => `\`${x}\``).join(', '));
  if (d.removed.length > 0)
    L.push('', `## Checks only in A (${d.removed.length})`, '', d.removed.map((x) => `\`${x}\``).join(', '));
  L.push('', '## Error texts that changed', '');
  if (!d.transcripts)
    L.push('Not compared: transcripts of both runs are needed (`--traces-a`, `--traces-b`).');
  else {
    const t = d.transcripts;
    L.push(
      `Transcripts: A from ${t.a}, B from ${t.b}; ${t.compared} checks compared, ${t.errorTexts.length} error texts changed in ${new Set(t.errorTexts.map((e) => e.id)).size} checks.`,
      '',
    );
    if (t.errorTexts.length > 0) {
      L.push('| check | where | command | A | B |', '|---|---|---|---|---|');
      for (const e of t.errorTexts)
        L.push(`| ${e.id} | ${e.where} | ${mdEsc(e.command)} | ${mdEsc(e.a)} | ${mdEsc(e.b)} |`);
    }
    L.push('', `### Other transcript changes (${t.otherChanges.length})`, '');
    if (t.otherChanges.length === 0) L.push('None.');
    else {
      L.push('| check | first difference | what differs (paths, indexes folded) |', '|---|---|---|');
      for (const o of t.otherChanges)
        L.push(`| ${o.id} | ${mdEsc(o.where.slice(0, 300))} | ${mdEsc(o.kinds.join('; '))} |`);
    }
  }
  L.push('', '## Features (introspection of qemu-storage-daemon)', '');
  if (!d.features) L.push('Not compared: no introspected schema for one of the two versions.');
  else if (d.features.from === d.features.to) L.push(`Same QEMU version (${d.features.from}) on both sides.`);
  else {
    const f = d.features;
    L.push(
      `From \`contract/qapi-schema/${f.from}-qsd.json\` to \`contract/qapi-schema/${f.to}-qsd.json\` (query-qmp-schema of real QEMU).`,
    );
    L.push(...featureList('added', f.added));
    L.push(...featureList('deprecated', f.deprecated));
    L.push(...featureList('removed', f.removed));
    if (f.undeprecated.length > 0) L.push(...featureList('no longer deprecated', f.undeprecated));
    if (f.unstable.length > 0) L.push(...featureList('marked unstable', f.unstable));
  }
  return `${L.join('\n')}\n`;
}

function matrixDiffMarkdown(d: MatrixDiff): string {
  const L = [
    '# fleece-lab diff of two matrices',
    '',
    `A: ${d.a.file} (${d.a.createdAt}) · B: ${d.b.file} (${d.b.createdAt})`,
    '',
  ];
  if (d.packages.length > 0) {
    L.push('| version | package in A | package in B |', '|---|---|---|');
    for (const p of d.packages) L.push(`| ${p.version} | ${p.a ?? '–'} | ${p.b ?? '–'} |`);
    L.push('');
  }
  L.push(`## Cells that changed (${d.cellChanges.length})`, '');
  if (d.cellChanges.length === 0) L.push('None.');
  else {
    L.push('| check | version | A (real/sim) | B (real/sim) | reason in B |', '|---|---|---|---|---|');
    for (const c of d.cellChanges)
      L.push(
        `| ${c.id} | ${c.version} | ${cellText(c.a)} | ${cellText(c.b)} | ${mdEsc((c.b?.reason ?? '').slice(0, 300))} |`,
      );
  }
  if (d.added.length > 0) L.push('', `New checks in B: ${d.added.map((x) => `\`${x}\``).join(', ')}`);
  if (d.removed.length > 0) L.push('', `Checks only in A: ${d.removed.map((x) => `\`${x}\``).join(', ')}`);
  return `${L.join('\n')}\n`;
}
