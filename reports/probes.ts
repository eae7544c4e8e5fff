import {
  fixesCarried,
  type ProbeFix,
  type ProbeResults,
  type ProbeStatus,
} from '../contract/formats/probes.ts';
import { esc } from './html.ts';

/**
 * The known-bug probes as people read them: a terminal table, Markdown and HTML for one or more targets,
 * and the "fixes carried" summary of a target (the matrix's and the main job's column per version).
 */
/** a Markdown table cell: pipes escaped, on one line */
export const mdEsc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function fixText(f: ProbeFix): string {
  const back = f.backports.length > 0 ? `; stable ${f.backports.join(', ')}` : '';
  return `${f.commit.slice(0, 10)} "${f.title}" (${f.release}${back})`;
}

/** "4 of 5 fixed; present: a, b" — the applicable probes whose fix this target carries */
export function fixesCarriedText(r: ProbeResults): string {
  const c = fixesCarried(r);
  const named = (s: ProbeStatus) =>
    r.probes
      .filter((p) => p.status === s)
      .map((p) => p.id)
      .join(', ');
  const parts = [`${c.fixed} of ${c.applicable} fixed`];
  for (const s of ['present', 'broken', 'inconclusive'] as const)
    if (c[s] > 0) parts.push(`${s}: ${named(s)}`);
  if (c['not-applicable'] > 0) parts.push(`${c['not-applicable']} not applicable`);
  return parts.join('; ');
}

function evidenceText(e: ProbeResults['probes'][number]['evidence']): string {
  const at = e.step === null ? '' : `step ${e.step} (${e.request}): `;
  return `${at}${e.saw}${e.why ? ` — ${e.why}` : ''}`;
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n);
}

/** the terminal table: probe, status, fix, bug, evidence (bug and evidence cut; --md and --json have them whole) */
export function probesTextTable(r: ProbeResults): string {
  const head = `${r.target} (QEMU ${r.qemu.version}, ${r.qemu.package})${r.switched.length > 0 ? `, switched: ${r.switched.join(', ')}` : ''}`;
  const rows = r.probes.map((p) => [
    cut(p.id, 30),
    cut(p.status, 14),
    cut(`${p.fix.commit.slice(0, 10)} ${p.fix.release} ${p.fix.title}`, 60),
    cut(p.bug, 50),
    cut(evidenceText(p.evidence), 90).trimEnd(),
  ]);
  const header = [cut('probe', 30), cut('status', 14), cut('fix', 60), cut('bug', 50), 'evidence'];
  return [
    head,
    header.join(' '),
    ...rows.map((x) => x.join(' ')),
    `fixes carried: ${fixesCarriedText(r)}`,
  ].join('\n');
}

export function probesMarkdown(rs: ProbeResults[], title = 'fleece-lab known-bug probes'): string {
  const lines = [
    `# ${title}`,
    '',
    '| target | QEMU | package | switched | fixes carried |',
    '|---|---|---|---|---|',
  ];
  for (const r of rs)
    lines.push(
      `| ${r.target} | ${r.qemu.version} | ${mdEsc(r.qemu.package)} | ${r.switched.join(', ') || '–'} | ${mdEsc(fixesCarriedText(r))} |`,
    );
  for (const r of rs) {
    lines.push(
      '',
      `## ${r.target}`,
      '',
      '| probe | bug | fix | affected | status | evidence |',
      '|---|---|---|---|---|---|',
    );
    for (const p of r.probes)
      lines.push(
        `| ${p.id} | ${mdEsc(p.bug)} | ${mdEsc(fixText(p.fix))} | ${mdEsc(p.affected)} | **${p.status}** | ${mdEsc(evidenceText(p.evidence))} |`,
      );
  }
  return `${lines.join('\n')}\n`;
}

/** one row per version, for real QEMU and for the simulator: the matrix's "fixes carried" */
export interface FixesRow {
  version: string;
  real?: ProbeResults;
  sim?: ProbeResults;
}

export function fixesCarriedMarkdown(rows: FixesRow[]): string {
  const withAny = rows.filter((r) => r.real || r.sim);
  if (withAny.length === 0) return '';
  const ids = [
    ...new Set(
      withAny.flatMap((r) => [...(r.real?.probes ?? []), ...(r.sim?.probes ?? [])]).map((p) => p.id),
    ),
  ];
  const status = (r: ProbeResults | undefined, id: string) =>
    r?.probes.find((p) => p.id === id)?.status ?? '–';
  const lines = [
    '',
    '## Fixes carried',
    '',
    "The known-bug probes (`fleece-lab probe`) on each version's real QEMU and on the simulator's profile: which fixes the build carries, told from behaviour alone. A cell of the second table reads `real/sim` (one word when they are the same).",
    '',
    '| version | side | target | package | fixes carried |',
    '|---|---|---|---|---|',
  ];
  for (const r of withAny)
    for (const [side, p] of [
      ['real QEMU', r.real],
      ['simulator', r.sim],
    ] as const)
      if (p)
        lines.push(
          `| ${r.version} | ${side} | ${p.target} | ${mdEsc(p.qemu.package)} | ${mdEsc(fixesCarriedText(p))} |`,
        );
  lines.push(
    '',
    `| probe | fix | ${withAny.map((r) => r.version).join(' | ')} |`,
    `|---|---|${withAny.map(() => '---').join('|')}|`,
  );
  for (const id of ids) {
    const any = withAny.flatMap((r) => [r.real, r.sim]).find((p) => p?.probes.some((x) => x.id === id));
    const fix = any?.probes.find((x) => x.id === id)?.fix;
    const cells = withAny.map((r) => {
      const a = status(r.real, id);
      const b = status(r.sim, id);
      return a === b ? a : `${a}/${b}`;
    });
    lines.push(
      `| ${id} | ${fix ? mdEsc(`${fix.commit.slice(0, 10)} (${fix.release})`) : '–'} | ${cells.join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const STATUS_CLASS: Record<ProbeStatus, string> = {
  fixed: 'agree pass',
  present: 'unexplained',
  broken: 'simulator-wrong',
  'not-applicable': 'agree skip',
  inconclusive: 'not-compared',
};

function statusTd(s: ProbeStatus | undefined, title = ''): string {
  return s
    ? `<td class="c ${STATUS_CLASS[s]}"${title ? ` title="${esc(title)}"` : ''}>${esc(s)}</td>`
    : '<td class="c not-compared">–</td>';
}

/** The HTML section: the probes × targets table, each cell's evidence in its title. */
export function probesHtml(rs: ProbeResults[]): string {
  if (rs.length === 0) return '';
  const ids = [...new Set(rs.flatMap((r) => r.probes.map((p) => p.id)))];
  const out = [
    '<h2 id="probes">Fixes carried (known-bug probes)</h2>',
    '<p>Each probe tells from behaviour alone whether the build carries an upstream fix: fixed, present, broken (the fix shows but the target misbehaves), not-applicable (the feature is absent) or inconclusive. Hover a cell for its evidence.</p>',
    `<table id="probes-table"><tr><th>probe</th><th>bug</th><th>fix</th>${rs.map((r) => `<th>${esc(r.target)}</th>`).join('')}</tr>`,
  ];
  for (const id of ids) {
    const first = rs.flatMap((r) => r.probes).find((p) => p.id === id)!;
    out.push(
      `<tr><td>${esc(id)}</td><td class="reason">${esc(first.bug)}</td><td class="reason">${esc(fixText(first.fix))}</td>${rs
        .map((r) => {
          const p = r.probes.find((x) => x.id === id);
          return statusTd(p?.status, p ? evidenceText(p.evidence) : '');
        })
        .join('')}</tr>`,
    );
  }
  out.push(
    `<tr><th colspan="3">fixes carried</th>${rs.map((r) => `<td class="reason">${esc(fixesCarriedText(r))}</td>`).join('')}</tr>`,
    '</table>',
  );
  return out.join('\n');
}
