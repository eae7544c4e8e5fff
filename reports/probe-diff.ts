import type { ProbeResults, ProbeStatus } from '../contract/formats/probes.ts';
import { esc, page } from './html.ts';
import { fixText, mdEsc } from './probes.ts';

/**
 * `fleece-lab diff A.json B.json` of two probe results files (`fleece-lab probe --json`): the probes whose
 * status changed, e.g. before and after a rebase of a distribution's patches. A fix that was there in A and
 * is not in B is "fix lost", what a backporter must see first; the other way it is "fix gained".
 */
export interface ProbeChange {
  id: string;
  a: ProbeStatus;
  b: ProbeStatus;
  verdict: 'fix lost' | 'fix gained' | 'changed';
  fix: string;
  evidenceA: string;
  evidenceB: string;
}

export interface ProbeDiff {
  kind: 'probes';
  a: { file: string; target: string; version: string; package: string };
  b: { file: string; target: string; version: string; package: string };
  changes: ProbeChange[];
  same: number;
  onlyA: string[];
  onlyB: string[];
}

function verdict(a: ProbeStatus, b: ProbeStatus): ProbeChange['verdict'] {
  if (a === 'fixed' && (b === 'present' || b === 'broken')) return 'fix lost';
  if (b === 'fixed' && (a === 'present' || a === 'broken')) return 'fix gained';
  return 'changed';
}

const evidence = (e: ProbeResults['probes'][number]['evidence']) =>
  `${e.step === null ? '' : `step ${e.step}: `}${e.saw}`;

export function diffProbes(a: ProbeResults, b: ProbeResults, aFile: string, bFile: string): ProbeDiff {
  const inB = new Map(b.probes.map((p) => [p.id, p]));
  const inA = new Set(a.probes.map((p) => p.id));
  const changes: ProbeChange[] = [];
  let same = 0;
  for (const pa of a.probes) {
    const pb = inB.get(pa.id);
    if (!pb) continue;
    if (pa.status === pb.status) {
      same++;
      continue;
    }
    changes.push({
      id: pa.id,
      a: pa.status,
      b: pb.status,
      verdict: verdict(pa.status, pb.status),
      fix: fixText(pb.fix),
      evidenceA: evidence(pa.evidence),
      evidenceB: evidence(pb.evidence),
    });
  }
  const side = (r: ProbeResults, file: string) => ({
    file,
    target: r.target,
    version: r.qemu.version,
    package: r.qemu.package,
  });
  return {
    kind: 'probes',
    a: side(a, aFile),
    b: side(b, bFile),
    changes,
    same,
    onlyA: a.probes.filter((p) => !inB.has(p.id)).map((p) => p.id),
    onlyB: b.probes.filter((p) => !inA.has(p.id)).map((p) => p.id),
  };
}

export function probeDiffMarkdown(d: ProbeDiff): string {
  const lost = d.changes.filter((c) => c.verdict === 'fix lost').length;
  const lines = [
    `# fleece-lab diff of probes: ${d.a.target} → ${d.b.target}`,
    '',
    '| | A | B |',
    '|---|---|---|',
    `| file | ${d.a.file} | ${d.b.file} |`,
    `| target | ${d.a.target} | ${d.b.target} |`,
    `| QEMU | ${d.a.version} | ${d.b.version} |`,
    `| package | ${mdEsc(d.a.package)} | ${mdEsc(d.b.package)} |`,
    '',
    `${d.changes.length} probes changed status (${lost} fix${lost === 1 ? '' : 'es'} lost), ${d.same} kept it; ${d.onlyB.length} only in B, ${d.onlyA.length} only in A.`,
  ];
  if (d.changes.length > 0) {
    lines.push('', '| probe | A | B | verdict | fix | evidence in B (A) |', '|---|---|---|---|---|---|');
    for (const c of d.changes)
      lines.push(
        `| ${c.id} | ${c.a} | ${c.b} | ${c.verdict === 'fix lost' ? '**fix lost**' : c.verdict} | ${mdEsc(c.fix)} | ${mdEsc(c.evidenceB)} (${mdEsc(c.evidenceA)}) |`,
      );
  }
  if (d.onlyA.length > 0) lines.push('', `Only in A: ${d.onlyA.join(', ')}.`);
  if (d.onlyB.length > 0) lines.push('', `Only in B: ${d.onlyB.join(', ')}.`);
  return `${lines.join('\n')}\n`;
}

export function probeDiffHtml(d: ProbeDiff): string {
  const rows = d.changes.map(
    (c) =>
      `<tr><td>${esc(c.id)}</td><td>${esc(c.a)}</td><td>${esc(c.b)}</td><td class="${c.verdict === 'fix lost' ? 'unexplained' : ''}">${esc(c.verdict)}</td><td class="reason">${esc(c.fix)}</td><td class="reason">${esc(c.evidenceB)} (${esc(c.evidenceA)})</td></tr>`,
  );
  const body = [
    `<h1>fleece-lab diff of probes: ${esc(d.a.target)} → ${esc(d.b.target)}</h1>`,
    `<p>A: ${esc(d.a.file)} (QEMU ${esc(d.a.version)}, ${esc(d.a.package)}) · B: ${esc(d.b.file)} (QEMU ${esc(d.b.version)}, ${esc(d.b.package)})</p>`,
    `<p>${d.changes.length} probes changed status, ${d.same} kept it.</p>`,
    d.changes.length > 0
      ? `<table id="probe-changes"><tr><th>probe</th><th>A</th><th>B</th><th>verdict</th><th>fix</th><th>evidence in B (A)</th></tr>${rows.join('')}</table>`
      : '',
  ].join('\n');
  return page('fleece-lab diff of probes', body);
}
