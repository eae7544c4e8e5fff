import { type Results, summarize } from '../contract/formats/results.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit XML: one testsuite per results file, one testcase per check. */
export function toJUnit(all: Results[]): string {
  const suites = all.map((r) => {
    const s = summarize(r);
    const cases = r.checks.map((c) => {
      const head = `    <testcase classname="${esc(r.target)}" name="${esc(c.id)}" time="${(c.durationMs / 1000).toFixed(3)}"`;
      if (c.status === 'fail')
        return `${head}>\n      <failure message="${esc(c.reason ?? 'failed')}"/>\n    </testcase>`;
      if (c.status === 'skip' || c.status === 'xfail')
        return `${head}>\n      <skipped message="${esc(`${c.status}: ${c.reason ?? ''}`)}"/>\n    </testcase>`;
      return `${head}/>`;
    });
    return `  <testsuite name="${esc(`fleece-lab conform ${r.target} (QEMU ${r.qemu.version}, ${r.qemu.package})`)}" tests="${r.checks.length}" failures="${s.fail}" skipped="${s.skip + s.xfail}" time="${(r.durationMs / 1000).toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${suites.join('\n')}\n</testsuites>\n`;
}
