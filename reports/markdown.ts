import { type Results, summarize } from '../contract/formats/results.ts';

/** A Markdown summary of one or more results files: totals per target, then every check that did not pass. */
export function toMarkdown(all: Results[], title = 'fleece-lab conformance'): string {
  const lines = [
    `# ${title}`,
    '',
    '| target | QEMU | package | pass | fail | skip | xfail | time |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of all) {
    const s = summarize(r);
    lines.push(
      `| ${r.target} | ${r.qemu.version} | ${r.qemu.package} | ${s.pass} | ${s.fail} | ${s.skip} | ${s.xfail} | ${(r.durationMs / 1000).toFixed(1)} s |`,
    );
  }
  for (const r of all) {
    const notPass = r.checks.filter((c) => c.status !== 'pass');
    if (notPass.length === 0) continue;
    lines.push(
      '',
      `## ${r.target}: checks that did not pass`,
      '',
      '| check | status | reason |',
      '|---|---|---|',
    );
    for (const c of notPass)
      lines.push(`| ${c.id} | ${c.status} | ${(c.reason ?? '').replace(/\|/g, '\\|').slice(0, 300)} |`);
  }
  return `${lines.join('\n')}\n`;
}
