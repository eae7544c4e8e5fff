import fs from 'node:fs';
import path from 'node:path';
import type { CoverageReport } from '../checks/conformance/coverage.ts';
import type { ProposalReport } from '../checks/model/check.ts';
import { CLASS_TEXT, simVsRealClass } from '../contract/formats/divergence-classes.ts';
import { checkFileStem } from '../contract/formats/file-names.ts';
import type { Matrix, MatrixCell, MatrixRow } from '../contract/formats/matrix.ts';
import { type CheckResult, type Results, summarize } from '../contract/formats/results.ts';
import { requestName, type TranscriptData } from '../contract/formats/transcripts.ts';
import { proposalsHtml } from './compare.ts';
import { coverageHtml } from './coverage.ts';
import type { MatrixDiff, ResultsDiff } from './diff.ts';
import { topLevel } from './features.ts';
import { disagreements, summarizeMatrix } from './matrix.ts';

/**
 * The HTML report: static files, no external assets. index.html has the targets' totals, the version
 * matrix in colour, and the proposals × properties table with counterexamples; checks/<id>.html has one
 * check's status on every target, its matrix cells and its transcripts (from `conform --traces`).
 */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #bbb;padding:2px 6px;vertical-align:top;text-align:left}
th{background:#eee;position:sticky;top:0}
td.c{text-align:center;white-space:nowrap}
.agree.pass{background:#b9e8b9}.agree.skip{background:#e4e4e4;color:#555}.agree.fail,.agree.xfail{background:#f2e7a6}
.simulator-wrong{background:#f7c48a}.versions-differ{background:#a9c8f5}.unexplained{background:#f08080;font-weight:bold}
.not-compared{background:#fff;color:#888}.real-differs{background:#e6dcf7}
.st-pass{color:#176b17}.st-fail{color:#b00;font-weight:bold}.st-skip{color:#666}.st-xfail{color:#8a6d00}
.v-holds{background:#b9e8b9}.v-fails{background:#f08080}.v-not-expressible{background:#e4e4e4}.v-not-exercised{background:#f2e7a6;font-weight:bold}
.lead{max-width:70em}details.family{margin:.3em 0}details.family summary{cursor:pointer;padding:2px 0}details.family.differs summary{color:#1a4d8f}
.bar{display:inline-block;width:10em;height:.8em;background:#e4e4e4;vertical-align:middle;border:1px solid #bbb}.bar span{display:inline-block;height:100%}
.b-real{background:#5a9e5a}.b-sim{background:#a9c8f5}.key{display:inline-block;padding:0 6px;margin-left:4px;border:1px solid #bbb;background:#e4e4e4}.key.b-real{background:#5a9e5a;color:#fff}.key.b-sim{background:#a9c8f5}
table.proposals td.c{white-space:normal}table.proposals td.property{white-space:nowrap}details.group{margin:.6em 0}details.group summary{cursor:pointer}.apis{display:flex;flex-wrap:wrap;gap:1em}.api{border:1px solid #ccc;border-radius:6px;padding:.3em .8em;max-width:100%}
.api h4{margin:.4em 0}.api small,.counterexample small{color:#666;font-weight:normal}.api .svg{overflow-x:auto}.cost th{position:static;font-weight:normal}
.claimed{font-weight:bold}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;white-space:pre-wrap;margin:.2em 0}
code{background:#f3f3f3;padding:0 2px}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;border:1px solid #bbb}
.reason{font-size:12px;max-width:60em}
td.json{font:12px monospace;max-width:50em;word-break:break-all}
nav a{margin-right:1em}
`;

export function page(title: string, body: string, opts: { home?: string } = {}): string {
  const nav = opts.home ? `<nav><a href="${esc(opts.home)}">← report</a></nav>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>${nav}
${body}
</body></html>
`;
}

export function checkFile(id: string): string {
  return `${checkFileStem(id)}.html`;
}

function statusSpan(s: string | undefined): string {
  return s ? `<span class="st-${esc(s)}">${esc(s)}</span>` : '–';
}

export function cellClass(c: MatrixCell | undefined): string {
  if (!c || c.agree === null) return 'not-compared';
  if (c.agree) return `agree ${c.real ?? ''}`;
  return c.class ?? 'unexplained';
}

export function cellLabel(c: MatrixCell | undefined): string {
  if (!c) return '–';
  return c.real === c.sim ? (c.real ?? '–') : `${c.real ?? '–'} / ${c.sim ?? '–'}`;
}

function matrixCellTd(row: MatrixRow, version: string): string {
  const c = row.cells[version];
  const title = c?.reason ?? (c?.agree ? 'the simulator agrees with real QEMU' : 'not compared');
  const mark = c && c.agree === false ? ` ✗` : '';
  return `<td class="c ${cellClass(c)}" data-check="${esc(row.id)}" data-version="${esc(version)}" title="${esc(title)}">${esc(cellLabel(c))}${mark}</td>`;
}

export interface Links {
  /** the href of a check's page, or undefined when there is none */
  check?: (id: string) => string | undefined;
}

function checkLink(id: string, links: Links): string {
  const href = links.check?.(id);
  return href ? `<a href="${esc(href)}">${esc(id)}</a>` : esc(id);
}

export function legendHtml(): string {
  return `<p class="legend"><span class="agree pass">agree: pass</span><span class="agree skip">agree: skip</span><span class="agree fail">agree: both fail</span><span class="simulator-wrong">simulator wrong</span><span class="versions-differ">versions differ</span><span class="unexplained">unexplained</span><span class="not-compared">not compared</span><span class="real-differs">real versions differ</span> A cell reads <i>real / sim</i> (one word when both are the same); the last columns compare the real transcripts of consecutive versions.</p>`;
}

export function matrixHtml(m: Matrix, links: Links = {}): string {
  const sums = summarizeMatrix(m);
  const n = (s: Record<string, number> | undefined) =>
    s ? `${s.pass} / ${s.fail} / ${s.skip} / ${s.xfail}` : '–';
  const out: string[] = [
    `<h2 id="matrix">Version matrix</h2>`,
    `<p>Made ${esc(m.createdAt)}${m.shard ? ` (shard ${esc(m.shard)})` : ''}. Each check ran on the real QEMU and on the simulator with the matching profile, both compared with the recording of that real QEMU version.</p>`,
    '<table id="matrix-summary"><tr><th>version</th><th>real QEMU</th><th>package</th><th>real pass / fail / skip / xfail</th><th>sim pass / fail / skip / xfail</th><th>agree</th><th>simulator wrong</th><th>versions differ</th><th>unexplained</th><th>not compared</th></tr>',
  ];
  for (const [i, v] of m.versions.entries()) {
    const s = sums[i];
    out.push(
      `<tr data-version="${esc(v.version)}"><td>${esc(v.version)}</td><td>${esc(v.real?.target ?? '(not run)')}</td><td>${esc(v.real?.package ?? '–')}</td><td>${n(s.real)}</td><td>${n(s.sim)}</td><td>${s.agree}</td><td>${s['simulator-wrong']}</td><td>${s['versions-differ']}</td><td class="${s.unexplained > 0 ? 'unexplained' : ''}">${s.unexplained}</td><td>${s.notCompared}</td></tr>`,
    );
  }
  out.push('</table>');
  const dis = disagreements(m);
  out.push('<h3 id="differences">Differences between the simulator and real QEMU</h3>');
  if (dis.length === 0) out.push('<p>None: the simulator agrees with real QEMU on every check compared.</p>');
  else {
    out.push(
      '<table id="differences-table"><tr><th>check</th><th>version</th><th>real</th><th>sim</th><th>class</th><th>reason</th></tr>',
    );
    for (const cls of simVsRealClass.options)
      for (const d of dis.filter((x) => x.class === cls))
        out.push(
          `<tr><td>${checkLink(d.id, links)}</td><td>${esc(d.version)}</td><td>${statusSpan(d.real)}</td><td>${statusSpan(d.sim)}</td><td class="${d.class}">${esc(CLASS_TEXT[d.class])}</td><td class="reason">${esc(d.reason)}</td></tr>`,
        );
    out.push('</table>');
  }
  out.push(legendHtml());
  out.push(matrixFamilies(m, links));
  return out.join('\n');
}

/** how much a row differs: the simulator from real QEMU (2), real versions from each other (1), not (0) */
function rowDiffers(r: MatrixRow): number {
  if (Object.values(r.cells).some((c) => c.agree === false)) return 2;
  return r.versions.some((s) => s.same === false) ? 1 : 0;
}

/** a matrix this long folds the families that have no difference (a short one shows every row) */
const FOLD_ABOVE_ROWS = 40;

/**
 * The matrix folded by check family (the id's first part: bitmaps, jobs, …): families with differences first
 * and open, each family's differing rows first; the others folded under a line that says they agree.
 */
function matrixFamilies(m: Matrix, links: Links): string {
  const steps = m.rows[0]?.versions ?? [];
  const families = new Map<string, MatrixRow[]>();
  for (const r of m.rows) {
    const f = r.id.split('/')[0];
    families.set(f, [...(families.get(f) ?? []), r]);
  }
  const ranked = [...families].map(([name, rows]) => ({
    name,
    rows: [...rows].sort((a, b) => rowDiffers(b) - rowDiffers(a)),
    sim: rows.filter((r) => rowDiffers(r) === 2).length,
    real: rows.filter((r) => rowDiffers(r) === 1).length,
  }));
  ranked.sort((a, b) => b.sim - a.sim || b.real - a.real || a.name.localeCompare(b.name));
  const fold = m.rows.length > FOLD_ABOVE_ROWS;
  const head = `<tr><th>check</th>${m.versions.map((v) => `<th>${esc(v.version)}</th>`).join('')}${steps.map((s) => `<th title="real transcripts compared">${esc(s.from)} → ${esc(s.to)}</th>`).join('')}</tr>`;
  const out = [
    `<h3 id="matrix-checks">Every check, by family</h3>`,
    `<p>${fold ? 'Families where the simulator differs from real QEMU come first, open; then those where real versions differ from each other, then the rest, folded. ' : ''}Within a family the rows that differ come first.</p>`,
    '<div id="matrix-table" class="families">',
  ];
  for (const f of ranked) {
    const differs = f.sim + f.real > 0;
    const what = differs
      ? [
          f.sim > 0 ? `${f.sim} where the simulator differs` : '',
          f.real > 0 ? `${f.real} where real versions differ` : '',
        ]
          .filter(Boolean)
          .join(', ')
      : 'no difference';
    out.push(
      `<details class="family${differs ? ' differs' : ''}" data-family="${esc(f.name)}"${!fold || f.sim > 0 ? ' open' : ''}><summary><b>${esc(f.name)}</b>: ${f.rows.length} checks, ${what}</summary><table>${head}`,
    );
    for (const r of f.rows)
      out.push(
        `<tr><td>${checkLink(r.id, links)}</td>${m.versions.map((v) => matrixCellTd(r, v.version)).join('')}${r.versions
          .map((s) =>
            s.same === null
              ? '<td class="c not-compared">–</td>'
              : s.same
                ? '<td class="c">same</td>'
                : `<td class="c real-differs" title="${esc(s.where ?? '')}">differs</td>`,
          )
          .join('')}</tr>`,
      );
    out.push('</table></details>');
  }
  out.push('</div>');
  return out.join('\n');
}

/** `fixes`: each target's "fixes carried" (known-bug probes), a column when given */
export function resultsHtml(all: Results[], fixes?: ReadonlyMap<string, string>): string {
  const rows = all.map((r) => {
    const s = summarize(r);
    const fix = fixes ? `<td class="reason">${esc(fixes.get(r.target) ?? '–')}</td>` : '';
    return `<tr><td>${esc(r.target)}</td><td>${esc(r.qemu.version)}</td><td>${esc(r.qemu.package)}</td><td class="st-pass">${s.pass}</td><td class="${s.fail ? 'st-fail' : ''}">${s.fail}</td><td>${s.skip}</td><td>${s.xfail}</td><td>${(r.durationMs / 1000).toFixed(1)} s</td>${fix}</tr>`;
  });
  return `<h2 id="targets">Targets</h2><table id="targets-table"><tr><th>target</th><th>QEMU</th><th>package</th><th>pass</th><th>fail</th><th>skip</th><th>xfail</th><th>time</th>${fixes ? '<th>fixes carried</th>' : ''}</tr>${rows.join('')}</table>`;
}

function json(v: unknown): string {
  return v === undefined ? '' : esc(JSON.stringify(v));
}

export function transcriptHtml(t: TranscriptData): string {
  const rows = t.steps.map(
    (s) =>
      `<tr><td>${s.step}</td><td>${esc(requestName(s.request))}</td><td class="json">${json(s.request)}</td><td class="json">${json(s.reply)}${s.stdout ? `<pre>${esc(s.stdout.join(''))}</pre>` : ''}</td></tr>`,
  );
  const events = t.events.map((e) => `<li><code>${esc(e.event)}</code> ${json(e.data)}</li>`);
  return `<table class="transcript"><tr><th>#</th><th>command</th><th>request</th><th>reply</th></tr>${rows.join('')}</table>${events.length > 0 ? `<p>events:</p><ol class="events">${events.join('')}</ol>` : '<p>no events</p>'}`;
}

export interface CheckPageInput {
  id: string;
  title?: string;
  /** each target's result and transcript */
  targets: { label: string; result?: CheckResult; trace?: TranscriptData }[];
  row?: MatrixRow;
}

export function checkPage(c: CheckPageInput, home = '../index.html'): string {
  const out = [
    `<h1 id="check">${esc(c.id)}</h1>`,
    c.title ? `<p>${esc(c.title)}</p>` : '',
    '<table id="check-status"><tr><th>target</th><th>status</th><th>reason</th></tr>',
  ];
  for (const t of c.targets)
    out.push(
      `<tr><td>${esc(t.label)}</td><td>${statusSpan(t.result?.status)}</td><td class="reason">${esc(t.result?.reason ?? '')}</td></tr>`,
    );
  out.push('</table>');
  if (c.row) {
    const row = c.row;
    out.push(
      '<h2>Matrix</h2><table id="check-matrix"><tr><th>version</th><th>real / sim</th><th>reason</th></tr>',
    );
    for (const [v, cell] of Object.entries(row.cells))
      out.push(
        `<tr><td>${esc(v)}</td><td class="c ${cellClass(cell)}">${esc(cellLabel(cell))}</td><td class="reason">${esc(cell.agree === false ? `${CLASS_TEXT[cell.class ?? 'unexplained']}: ${cell.reason ?? ''}` : cell.agree ? 'agree' : 'not compared')}</td></tr>`,
      );
    out.push('</table>');
    const changed = row.versions.filter((s) => s.same === false);
    if (changed.length > 0) {
      out.push('<p>Real versions differ:</p><ul>');
      for (const s of changed) out.push(`<li>${esc(s.from)} → ${esc(s.to)}: ${esc(s.where ?? '')}</li>`);
      out.push('</ul>');
    }
  }
  out.push('<h2>Transcripts</h2>');
  const withTrace = c.targets.filter((t) => t.trace);
  if (withTrace.length === 0) out.push('<p>No transcripts were kept for this check (run with --traces).</p>');
  for (const t of withTrace)
    out.push(
      `<details class="trace" data-target="${esc(t.label)}" open><summary>${esc(t.label)} (${t.trace!.steps.length} steps, ${t.trace!.events.length} events)</summary>${transcriptHtml(t.trace!)}</details>`,
    );
  return page(`fleece-lab: ${c.id}`, out.join('\n'), { home });
}

export interface SiteInput {
  title?: string;
  results: Results[];
  matrix?: Matrix;
  proposals?: ProposalReport[];
  /** transcripts by target label, then by check id */
  traces?: Map<string, Map<string, TranscriptData>>;
  /** write checks/<id>.html pages (default true) */
  pages?: boolean;
  /** each target's "fixes carried" (known-bug probes): a column of the targets table */
  fixesCarried?: ReadonlyMap<string, string>;
  /** more sections after the targets (the probes table, reports/probes.ts) */
  sections?: string[];
  /** the conformance suite's coverage (fleece-lab coverage): after the proposals */
  coverage?: CoverageReport;
}

/** Writes index.html (and checks/*.html) into dir; returns the files written. */
export function writeHtmlReport(dir: string, s: SiteInput): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const ids: { id: string; title?: string }[] = [];
  const seen = new Set<string>();
  for (const r of s.results)
    for (const c of r.checks)
      if (!seen.has(c.id)) {
        seen.add(c.id);
        ids.push({ id: c.id, title: c.title });
      }
  const pages = s.pages !== false;
  if (pages) {
    const cdir = path.join(dir, 'checks');
    fs.mkdirSync(cdir, { recursive: true });
    const rows = new Map(s.matrix?.rows.map((r) => [r.id, r]));
    for (const { id, title } of ids) {
      const f = path.join(cdir, checkFile(id));
      fs.writeFileSync(
        f,
        checkPage({
          id,
          title,
          row: rows.get(id),
          targets: s.results.map((r) => ({
            label: r.target,
            result: r.checks.find((c) => c.id === id),
            trace: s.traces?.get(r.target)?.get(id),
          })),
        }),
      );
      files.push(f);
    }
  }
  const links: Links = { check: pages ? (id) => `checks/${checkFile(id)}` : undefined };
  // what its reader came for first: the proposals' verdicts, then what the suite covers, then the matrix
  const body = [
    `<h1>${esc(s.title ?? 'fleece-lab report')}</h1>`,
    `<nav>${s.proposals ? '<a href="#proposals">proposals</a><a href="#machines">API machines</a><a href="#counterexamples">counterexamples</a>' : ''}${s.coverage ? '<a href="#coverage">coverage</a>' : ''}${s.matrix ? '<a href="#matrix">matrix</a>' : ''}<a href="#targets">targets</a>${s.fixesCarried ? '<a href="#probes">fixes carried</a>' : ''}${pages ? '<a href="#checks">checks</a>' : ''}</nav>`,
    s.proposals ? proposalsHtml(s.proposals) : '',
    s.coverage ? coverageHtml(s.coverage) : '',
    s.matrix ? matrixHtml(s.matrix, links) : '',
    resultsHtml(s.results, s.fixesCarried),
    ...(s.sections ?? []),
    notPassedHtml(s.results, links),
    pages
      ? `<h2 id="checks">Checks</h2><ul id="check-list">${ids.map((c) => `<li>${checkLink(c.id, links)}${c.title ? ` — ${esc(c.title)}` : ''}</li>`).join('')}</ul>`
      : '',
  ].join('\n');
  const index = path.join(dir, 'index.html');
  fs.writeFileSync(index, page(s.title ?? 'fleece-lab report', body));
  files.push(index);
  return files;
}

function notPassedHtml(all: Results[], links: Links): string {
  const out: string[] = [];
  for (const r of all) {
    const bad = r.checks.filter((c) => c.status === 'fail' || c.status === 'xfail');
    if (bad.length === 0) continue;
    out.push(
      `<h3>${esc(r.target)}: ${bad.length} checks failed or xfail</h3><table><tr><th>check</th><th>status</th><th>reason</th></tr>`,
    );
    for (const c of bad)
      out.push(
        `<tr><td>${checkLink(c.id, links)}</td><td>${statusSpan(c.status)}</td><td class="reason">${esc(c.reason ?? '')}</td></tr>`,
      );
    out.push('</table>');
  }
  return out.join('\n');
}

/** A whole page for one matrix (fleece-lab matrix --out DIR: matrix.html). */
export function matrixPage(m: Matrix, links: Links = {}, more = ''): string {
  return page(
    'fleece-lab version matrix',
    `<h1>fleece-lab version matrix</h1>\n${matrixHtml(m, links)}${more}`,
  );
}

export function diffHtml(d: ResultsDiff | MatrixDiff): string {
  const out: string[] = [];
  if (d.kind === 'matrix') {
    out.push(
      `<h1>fleece-lab diff of two matrices</h1><p>A: ${esc(d.a.file)} (${esc(d.a.createdAt)}) · B: ${esc(d.b.file)} (${esc(d.b.createdAt)})</p>`,
    );
    if (d.packages.length > 0) {
      out.push('<table><tr><th>version</th><th>package in A</th><th>package in B</th></tr>');
      for (const p of d.packages)
        out.push(`<tr><td>${esc(p.version)}</td><td>${esc(p.a ?? '–')}</td><td>${esc(p.b ?? '–')}</td></tr>`);
      out.push('</table>');
    }
    out.push(`<h2>Cells that changed (${d.cellChanges.length})</h2>`);
    if (d.cellChanges.length === 0) out.push('<p>None.</p>');
    else {
      out.push(
        '<table id="cell-changes"><tr><th>check</th><th>version</th><th>A</th><th>B</th><th>reason in B</th></tr>',
      );
      for (const c of d.cellChanges)
        out.push(
          `<tr><td>${esc(c.id)}</td><td>${esc(c.version)}</td><td class="c ${cellClass(c.a)}">${esc(cellLabel(c.a))}</td><td class="c ${cellClass(c.b)}">${esc(cellLabel(c.b))}</td><td class="reason">${esc(c.b?.reason ?? '')}</td></tr>`,
        );
      out.push('</table>');
    }
    return page('fleece-lab diff', out.join('\n'));
  }
  out.push(
    `<h1>fleece-lab diff: ${esc(d.a.target)} → ${esc(d.b.target)}</h1>`,
    `<table><tr><th></th><th>A</th><th>B</th></tr><tr><td>file</td><td>${esc(d.a.file)}</td><td>${esc(d.b.file)}</td></tr><tr><td>QEMU</td><td>${esc(d.a.version)}</td><td>${esc(d.b.version)}</td></tr><tr><td>package</td><td>${esc(d.a.package)}</td><td>${esc(d.b.package)}</td></tr></table>`,
    `<p>${d.statusChanges.length} checks changed status, ${d.unchanged} kept it; ${d.added.length} new in B, ${d.removed.length} only in A.</p>`,
    `<h2>Checks whose status changed (${d.statusChanges.length})</h2>`,
  );
  if (d.statusChanges.length === 0) out.push('<p>None.</p>');
  else {
    out.push('<table id="status-changes"><tr><th>check</th><th>A</th><th>B</th><th>reason</th></tr>');
    for (const c of d.statusChanges)
      out.push(
        `<tr><td>${esc(c.id)}</td><td>${statusSpan(c.a)}</td><td>${statusSpan(c.b)}</td><td class="reason">${esc(c.bReason ?? c.aReason ?? '')}</td></tr>`,
      );
    out.push('</table>');
  }
  if (d.added.length > 0)
    out.push(`<p>New in B: ${d.added.map((x) => `<code>${esc(x)}</code>`).join(', ')}</p>`);
  if (d.removed.length > 0)
    out.push(`<p>Only in A: ${d.removed.map((x) => `<code>${esc(x)}</code>`).join(', ')}</p>`);
  out.push('<h2>Error texts that changed</h2>');
  if (!d.transcripts) out.push('<p>Not compared: transcripts of both runs are needed.</p>');
  else {
    const t = d.transcripts;
    out.push(
      `<p>Transcripts: A from ${esc(t.a)}, B from ${esc(t.b)}; ${t.compared} checks compared, ${t.errorTexts.length} error texts changed.</p>`,
    );
    if (t.errorTexts.length > 0) {
      out.push(
        '<table id="error-texts"><tr><th>check</th><th>where</th><th>command</th><th>A</th><th>B</th></tr>',
      );
      for (const e of t.errorTexts)
        out.push(
          `<tr><td>${esc(e.id)}</td><td>${esc(e.where)}</td><td>${esc(e.command)}</td><td class="reason">${esc(e.a)}</td><td class="reason">${esc(e.b)}</td></tr>`,
        );
      out.push('</table>');
    }
    out.push(`<h3>Other transcript changes (${t.otherChanges.length})</h3>`);
    if (t.otherChanges.length > 0) {
      out.push('<table><tr><th>check</th><th>first difference</th><th>what differs</th></tr>');
      for (const o of t.otherChanges)
        out.push(
          `<tr><td>${esc(o.id)}</td><td class="reason">${esc(o.where)}</td><td class="reason">${esc(o.kinds.join('; '))}</td></tr>`,
        );
      out.push('</table>');
    }
  }
  out.push('<h2>Features (introspection of qemu-storage-daemon)</h2>');
  if (!d.features) out.push('<p>Not compared: no introspected schema for one of the two versions.</p>');
  else if (d.features.from === d.features.to) out.push(`<p>Same QEMU version (${esc(d.features.from)}).</p>`);
  else
    for (const [name, list] of [
      ['added', d.features.added],
      ['deprecated', d.features.deprecated],
      ['removed', d.features.removed],
      ['no longer deprecated', d.features.undeprecated],
      ['marked unstable', d.features.unstable],
    ] as const) {
      const top = topLevel(list);
      out.push(
        `<h3>${name} (${list.length})</h3>`,
        top.length === 0
          ? '<p>None.</p>'
          : `<ul class="features-${name.replace(/ /g, '-')}">${top.map((c) => `<li><code>${esc(c.key)}</code></li>`).join('')}</ul>`,
      );
    }
  return page('fleece-lab diff', out.join('\n'));
}

/** A whole page comparing proposals (fleece-lab compare --html, the main job's compare.html). */
export function comparePage(rs: ProposalReport[], title = 'fleece-lab: proposals compared'): string {
  return page(title, `<h1>${esc(title)}</h1>\n${proposalsHtml(rs)}`);
}
