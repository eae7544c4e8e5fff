import type { ProposalReport, Verdict } from '../checks/model/check.ts';
import { formatTrace } from '../checks/model/report.ts';
import { PROPERTY_IDS, PROPERTY_INFO } from '../contract/properties.ts';
import { machineSvg } from './machine-svg.ts';

/**
 * Proposals side by side (`fleece-lab compare`, the main job's compare.md/compare.html and the head of its
 * report): for each domain and profile a table of proposals × properties with verdicts and the runs that
 * exercised them, then what each API costs per session — the QMP commands its calls send and the scratch
 * space its images take at their largest — beside its API state machine, then the counterexamples.
 */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** the reports of one domain and profile, in the order given */
export function byDomainProfile(rs: ProposalReport[]): { key: string; reports: ProposalReport[] }[] {
  const groups = new Map<string, ProposalReport[]>();
  for (const r of rs) {
    const key = `${r.domain} domain, sim:${r.profile}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups].map(([key, reports]) => ({ key, reports }));
}

/** a verdict in a few words: "holds in 41 of 50 runs", "fails", "not exercised", "n/a" */
export function verdictWords(v: Verdict): string {
  switch (v.status) {
    case 'holds':
      return `holds in ${v.exercised} of ${v.runs} runs`;
    case 'fails':
      return 'fails';
    case 'not-exercised':
      return 'not exercised';
    case 'unknown':
      return 'unknown';
    default:
      return 'n/a';
  }
}

export interface ApiCost {
  /** sessions started in the runs counted */
  sessions: number;
  /** QMP commands the API's calls sent, per session */
  qmpPerSession?: number;
  /** scratch bytes a session's images took at their largest: mean and maximum over the sessions with some */
  scratchMean?: number;
  scratchMax?: number;
}

export function apiCost(r: ProposalReport): ApiCost {
  const s = r.stats;
  const sessions = s.sessions ?? 0;
  const ended = s.scratchSessions ?? 0;
  return {
    sessions,
    ...(sessions > 0 && s.apiQmpCommands !== undefined ? { qmpPerSession: s.apiQmpCommands / sessions } : {}),
    ...(ended > 0 && s.scratchBytes !== undefined
      ? { scratchMean: s.scratchBytes / ended, scratchMax: s.scratchMax ?? 0 }
      : {}),
  };
}

export function bytesText(n: number | undefined): string {
  if (n === undefined) return '–';
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

const num = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(1));

/** the properties a set of reports has verdicts for, in the catalogue's order */
function properties(rs: ProposalReport[]): string[] {
  const have = new Set(rs.flatMap((r) => r.verdicts.map((v) => v.property as string)));
  const known = PROPERTY_IDS.filter((p) => have.has(p));
  return [...known, ...[...have].filter((p) => !known.includes(p as never))];
}

function mdCell(v: Verdict | undefined): string {
  if (!v) return '–';
  const s = verdictWords(v);
  const shown = v.status === 'fails' || v.status === 'not-exercised' ? `**${s}**` : s;
  return v.claimed ? `${shown} (claimed)` : shown;
}

export function compareMarkdown(rs: ProposalReport[], title = 'fleece-lab: proposals compared'): string {
  const out = [`# ${title}`, ''];
  for (const g of byDomainProfile(rs)) {
    out.push(`## ${g.key}`, '', `| property | ${g.reports.map((r) => r.proposal).join(' | ')} |`);
    out.push(`|---|${g.reports.map(() => '---').join('|')}|`);
    for (const p of properties(g.reports))
      out.push(
        `| ${p} | ${g.reports.map((r) => mdCell(r.verdicts.find((v) => v.property === p))).join(' | ')} |`,
      );
    out.push(
      '',
      'What each API costs per session (its calls’ QMP commands; its scratch images at their largest):',
      '',
      '| proposal | runs | sessions | QMP commands / session | scratch / session (mean) | scratch / session (max) | API machine |',
      '|---|---|---|---|---|---|---|',
    );
    for (const r of g.reports) {
      const c = apiCost(r);
      out.push(
        `| ${r.proposal} | ${r.stats.runs} | ${c.sessions} | ${num(c.qmpPerSession)} | ${bytesText(c.scratchMean)} | ${bytesText(c.scratchMax)} | ${r.coverage.covered}/${r.coverage.total} transitions taken |`,
      );
    }
    const ces = g.reports.flatMap((r) => r.verdicts.filter((v) => v.counterexample).map((v) => ({ r, v })));
    if (ces.length > 0) out.push('', 'Counterexamples:', '');
    for (const { r, v } of ces)
      out.push(
        `- ${r.proposal} / ${v.property}: ${v.counterexample!.detail} — \`${v.counterexample!.replay}\``,
      );
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

/** the verdicts of `other` whose status is not the one of the same proposal in `first`: "job-ids / isolation: holds → n/a" */
function changesFrom(first: ProposalReport[], other: ProposalReport[]): string[] {
  const out: string[] = [];
  for (const r of other) {
    const base = first.find((x) => x.proposal === r.proposal);
    for (const v of r.verdicts) {
      const was = base?.verdicts.find((x) => x.property === v.property);
      if (was && was.status !== v.status)
        out.push(`${r.proposal} / ${v.property}: ${statusWord(was)} → ${statusWord(v)}`);
    }
  }
  return out;
}

function statusWord(v: Verdict): string {
  return v.status === 'not-expressible' ? 'n/a' : v.status.replace('-', ' ');
}

/** the id a group's table has: the first is #proposals-table, the rest name their domain and profile */
function tableId(i: number, key: string): string {
  return i === 0 ? 'proposals-table' : `proposals-table-${key.replace(/[^a-z0-9.]+/gi, '-')}`;
}

/** a counterexample's anchor: the first domain and profile's plain, the others' naming theirs */
function ceId(r: ProposalReport, p: string, first: boolean): string {
  return first ? `ce-${r.proposal}-${p}` : `ce-${r.proposal}-${p}-${r.domain}-${r.profile}`;
}

function verdictTd(r: ProposalReport, p: string, first: boolean): string {
  const v = r.verdicts.find((x) => x.property === p);
  if (!v) return '<td>–</td>';
  const words = verdictWords(v);
  const text = v.status === 'fails' ? `<a href="#${esc(ceId(r, p, first))}">${words}</a>` : words;
  return `<td class="c v-${v.status}${v.claimed ? ' claimed' : ''}" data-proposal="${esc(r.proposal)}" data-property="${esc(p)}" title="${esc(v.reason ?? v.counterexample?.detail ?? v.description)}">${text}${v.claimed ? ' (claimed)' : ''}</td>`;
}

/** taken transitions of a report's machine, as machine-svg wants them */
function taken(r: ProposalReport): Set<string> {
  const missed = new Set(r.coverage.uncovered.map((u) => `${u.from}|${u.event}|${u.to}`));
  return new Set(
    r.machine.transitions.map((t) => `${t.from}|${t.event}|${t.to}`).filter((k) => !missed.has(k)),
  );
}

/**
 * The proposals as an HTML section (id="proposals"): per domain and profile the verdict table, each API's
 * card (its state machine drawn, what it costs), what cannot be expressed, and the counterexamples.
 */
export function proposalsHtml(rs: ProposalReport[]): string {
  if (rs.length === 0) return '<h2 id="proposals">Proposals</h2><p>No proposals were evaluated.</p>';
  const out = [
    '<h2 id="proposals">Proposals × properties</h2>',
    `<p class="lead">Each API proposal property-tested on the simulator. A verdict counts the runs that exercised its property (hover a cell for what that means and why); bold: the proposal claims it; red: it fails, with a counterexample below (fleece-lab replay runs it on real QEMU).</p>`,
  ];
  const groups = byDomainProfile(rs);
  groups.forEach((g, i) => {
    // the first domain and profile in full; the others folded under what changes from it
    if (i === 0) out.push(`<h3>${esc(g.key)}</h3>`);
    else {
      const changed = changesFrom(groups[0].reports, g.reports);
      out.push(
        `<details class="group" data-group="${esc(g.key)}"><summary><b>${esc(g.key)}</b>: ${
          changed.length === 0
            ? `the same verdicts as ${esc(groups[0].key)}`
            : `${changed.length} ${changed.length === 1 ? 'verdict differs' : 'verdicts differ'} from ${esc(groups[0].key)}: ${changed.map(esc).join('; ')}`
        }</summary>`,
      );
    }
    out.push(
      `<table id="${tableId(i, g.key)}" class="proposals"><tr><th>property</th>${g.reports.map((r) => `<th title="${esc(r.title)}">${esc(r.proposal)}</th>`).join('')}</tr>`,
    );
    for (const p of properties(g.reports)) {
      const info = PROPERTY_INFO[p as keyof typeof PROPERTY_INFO];
      const about = info
        ? `${info.text} (exercised by: ${info.exercised})`
        : (g.reports[0].verdicts.find((x) => x.property === p)?.description ?? '');
      out.push(
        `<tr><td class="property" title="${esc(about)}">${esc(p)}</td>${g.reports.map((r) => verdictTd(r, p, i === 0)).join('')}</tr>`,
      );
    }
    out.push(i === 0 ? '</table>' : '</table></details>');
  });
  out.push(
    '<h3 id="machines">The APIs: state machines and costs</h3>',
    "<p>The states each API's user sees and the calls each state accepts (dashed red: a transition no run took on any domain or profile), and what a session costs on each: the QMP commands its calls sent and its scratch images at their largest.</p>",
    '<div class="apis">',
  );
  // one card per API: its machine drawn once, what a session costs on each domain and profile beside it
  const byProposal = new Map<string, ProposalReport[]>();
  for (const r of rs) byProposal.set(r.proposal, [...(byProposal.get(r.proposal) ?? []), r]);
  for (const [name, reps] of byProposal) {
    const withCost = reps.map((r) => ({ r, c: apiCost(r) }));
    const row = (label: string, f: (x: { r: ProposalReport; c: ApiCost }) => string) =>
      `<tr><th>${label}</th>${withCost.map((x) => `<td>${f(x)}</td>`).join('')}</tr>`;
    out.push(
      `<div class="api machine" id="machine-${esc(name)}"><h4>${esc(name)}</h4><p class="reason">${esc(reps[0].title)}</p>`,
      `<table class="cost"><tr><th></th>${reps.map((r) => `<th>${esc(r.domain)}, sim:${esc(r.profile)}</th>`).join('')}</tr>`,
      row('QMP commands / session', ({ c }) => num(c.qmpPerSession)),
      row('scratch / session', ({ c }) => `${bytesText(c.scratchMean)} mean, ${bytesText(c.scratchMax)} max`),
      row('runs, sessions', ({ r, c }) => `${r.stats.runs}, ${c.sessions}`),
      row('transitions taken', ({ r }) => `${r.coverage.covered}/${r.coverage.total}`),
      '</table>',
      `<div class="svg">${machineSvg(reps[0].machine, new Set(reps.flatMap((r) => [...taken(r)])))}</div></div>`,
    );
  }
  out.push('</div>');
  const na = rs.flatMap((r) =>
    r.verdicts.filter((v) => v.status === 'not-expressible').map((v) => ({ r, v })),
  );
  if (na.length > 0) {
    out.push('<details class="na"><summary>Not expressible (why)</summary><ul>');
    for (const { r, v } of na)
      out.push(
        `<li>${esc(r.proposal)} (${esc(r.domain)}, ${esc(r.profile)}) / ${esc(v.property)}: ${esc(v.reason ?? '')}</li>`,
      );
    out.push('</ul></details>');
  }
  out.push('<h3 id="counterexamples">Counterexamples</h3>');
  let any = false;
  const firstGroup = new Set(byDomainProfile(rs)[0].reports);
  const others = rs
    .filter((r) => !firstGroup.has(r))
    .flatMap((r) => r.verdicts.filter((v) => v.counterexample));
  let folded = false;
  for (const r of rs)
    for (const v of r.verdicts) {
      const c = v.counterexample;
      if (!c) continue;
      if (!firstGroup.has(r) && !folded) {
        folded = true;
        out.push(
          `<details class="group"><summary>${others.length} on the other domains and profiles</summary>`,
        );
      }
      any = true;
      const t = formatTrace(c.trace, 60);
      out.push(
        `<div class="counterexample" id="${esc(ceId(r, v.property, firstGroup.has(r)))}"><h4>${esc(r.proposal)} / ${esc(v.property)}${v.claimed ? ' (claimed)' : ''} <small>${esc(r.domain)} domain, sim:${esc(r.profile)}</small></h4>`,
        `<p>${esc(c.detail)}</p><p>replay: <code>${esc(c.replay)}</code></p>`,
        `<details open><summary>API trace (${t.api.length} lines)</summary><pre>${esc(t.api.join('\n'))}</pre></details>`,
        `<details><summary>QMP trace (${t.qmp.length} lines)</summary><pre>${esc(t.qmp.join('\n'))}</pre></details></div>`,
      );
    }
  if (folded) out.push('</details>');
  if (!any) out.push('<p>None: every property that could be checked holds.</p>');
  return out.join('\n');
}
