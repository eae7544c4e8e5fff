import type { CoverageReport, VersionCoverage } from '../checks/conformance/coverage.ts';

/**
 * The conformance suite's coverage as Markdown and as an HTML section: per QEMU version, the QMP commands
 * (and their outcomes) exercised on real QEMU, on the simulator only, or never; the fleecing commands'
 * arguments; the job state machine's transitions per job type.
 */
const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const pct = (n: number, of: number) => (of === 0 ? '–' : `${Math.round((n / of) * 100)}%`);

/** one line per version: what the totals are */
export function coverageLine(v: VersionCoverage): string {
  return `${v.version}: commands ${v.commands.real} on real QEMU + ${v.commands.simOnly} on the simulator only of ${v.schemaCommands} (${v.commands.never} never); outcomes ${v.outcomes.real} real + ${v.outcomes.simOnly} sim only; fleecing arguments ${v.arguments.real} real + ${v.arguments.simOnly} sim only of ${v.arguments.total}; job transitions ${v.transitions.real} real + ${v.transitions.simOnly} sim only of ${v.transitions.total}`;
}

export function coverageMarkdown(c: CoverageReport): string {
  const out = [
    '# Conformance coverage',
    '',
    'Read from the recordings of real QEMU (real), the suite run on the simulator (sim only) and the introspected schema (never).',
    '',
    '| version | commands real | sim only | never | of | outcomes real | sim only | fleecing args real | sim only | of | job transitions real | sim only | of |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const v of c.versions)
    out.push(
      `| ${v.version} | ${v.commands.real} | ${v.commands.simOnly} | ${v.commands.never} | ${v.schemaCommands} | ${v.outcomes.real} | ${v.outcomes.simOnly} | ${v.arguments.real} | ${v.arguments.simOnly} | ${v.arguments.total} | ${v.transitions.real} | ${v.transitions.simOnly} | ${v.transitions.total} |`,
    );
  for (const v of c.versions) {
    out.push(
      '',
      `## ${v.version}`,
      '',
      '| command | on real QEMU | on the simulator only |',
      '|---|---|---|',
    );
    for (const t of v.table)
      out.push(`| ${t.command} | ${t.real.join(', ') || '–'} | ${t.simOnly.join(', ') || '–'} |`);
    out.push('', `Never exercised (${v.never.length}): ${v.never.join(', ') || 'none'}`, '');
    out.push('| fleecing command | arguments on real QEMU | sim only | never |', '|---|---|---|---|');
    for (const a of v.args)
      out.push(
        `| ${a.command} | ${a.real.join(', ') || '–'} | ${a.simOnly.join(', ') || '–'} | ${a.never.join(', ') || '–'} |`,
      );
    out.push('', '| job type | transitions on real QEMU | sim only | never |', '|---|---|---|---|');
    for (const j of v.jobs)
      out.push(
        `| ${j.type} | ${j.real.length}/${j.total}: ${j.real.join(' ')} | ${j.simOnly.join(' ') || '–'} | ${j.uncovered.join(' ')} |`,
      );
  }
  return `${out.join('\n')}\n`;
}

function bar(real: number, sim: number, of: number): string {
  const w = (n: number) => (of === 0 ? 0 : (n / of) * 100).toFixed(1);
  return `<span class="bar" title="${real} on real QEMU, ${sim} on the simulator only, of ${of}"><span class="b-real" style="width:${w(real)}%"></span><span class="b-sim" style="width:${w(sim)}%"></span></span>`;
}

/** The coverage as an HTML section (id="coverage"): a summary per version, the details folded. */
export function coverageHtml(c: CoverageReport): string {
  const out = [
    '<h2 id="coverage">Coverage of the conformance suite</h2>',
    '<p class="lead">Read from the recordings of real QEMU, the suite run on the simulator and each version’s introspected schema. <span class="key b-real">real QEMU</span> <span class="key b-sim">simulator only</span> <span class="key">never</span></p>',
    '<table id="coverage-table"><tr><th>version</th><th>QMP commands</th><th>outcomes (accepted, error classes)</th><th>fleecing arguments</th><th>job transitions</th></tr>',
  ];
  for (const v of c.versions)
    out.push(
      `<tr data-version="${esc(v.version)}"><td>${esc(v.version)}</td><td>${bar(v.commands.real, v.commands.simOnly, v.schemaCommands)} ${v.commands.real} + ${v.commands.simOnly} of ${v.schemaCommands} (${pct(v.commands.real, v.schemaCommands)} real)</td><td>${v.outcomes.real} + ${v.outcomes.simOnly}</td><td>${bar(v.arguments.real, v.arguments.simOnly, v.arguments.total)} ${v.arguments.real} + ${v.arguments.simOnly} of ${v.arguments.total}</td><td>${bar(v.transitions.real, v.transitions.simOnly, v.transitions.total)} ${v.transitions.real} + ${v.transitions.simOnly} of ${v.transitions.total}</td></tr>`,
    );
  out.push('</table>');
  for (const v of c.versions) {
    out.push(
      `<details class="coverage" data-version="${esc(v.version)}"><summary>${esc(v.version)}: commands, arguments and job transitions</summary>`,
      '<table><tr><th>fleecing command</th><th>arguments on real QEMU</th><th>simulator only</th><th>never</th></tr>',
    );
    for (const a of v.args)
      out.push(
        `<tr><td>${esc(a.command)}</td><td>${esc(a.real.join(', ') || '–')}</td><td>${esc(a.simOnly.join(', ') || '–')}</td><td class="reason">${esc(a.never.join(', ') || '–')}</td></tr>`,
      );
    out.push(
      '</table><table><tr><th>job type</th><th>transitions on real QEMU</th><th>simulator only</th><th>never</th></tr>',
    );
    for (const j of v.jobs)
      out.push(
        `<tr><td>${esc(j.type)}</td><td>${j.real.length}/${j.total}: ${esc(j.real.join(' '))}</td><td>${esc(j.simOnly.join(' ') || '–')}</td><td class="reason">${esc(j.uncovered.join(' '))}</td></tr>`,
      );
    out.push('</table><table><tr><th>command</th><th>on real QEMU</th><th>simulator only</th></tr>');
    for (const t of v.table)
      out.push(
        `<tr><td>${esc(t.command)}</td><td>${esc(t.real.join(', ') || '–')}</td><td>${esc(t.simOnly.join(', ') || '–')}</td></tr>`,
      );
    out.push(
      `</table><p class="reason">Never exercised (${v.never.length}): ${esc(v.never.join(', '))}</p></details>`,
    );
  }
  return out.join('\n');
}
