import fs from 'node:fs';
import { parseProbeResults } from '../contract/formats/probes.ts';
import { diffProbes, probeDiffHtml, probeDiffMarkdown } from '../reports/probe-diff.ts';

/** `fleece-lab diff A.json B.json` of two probe results files; exit 1 when a fix of A is lost in B */
export function diffProbeFiles(
  ra: unknown,
  rb: unknown,
  fa: string,
  fb: string,
  out: { md?: string; html?: string; json?: string },
): number {
  const d = diffProbes(parseProbeResults(ra, fa), parseProbeResults(rb, fb), fa, fb);
  const lost = d.changes.filter((c) => c.verdict === 'fix lost');
  console.log(
    `${d.a.target} → ${d.b.target}: ${d.changes.length} probes changed status (${lost.length} fix${lost.length === 1 ? '' : 'es'} lost${lost.length > 0 ? `: ${lost.map((c) => c.id).join(', ')}` : ''})`,
  );
  const md = probeDiffMarkdown(d);
  if (out.md) fs.writeFileSync(out.md, md);
  if (out.html) fs.writeFileSync(out.html, probeDiffHtml(d));
  if (out.json) fs.writeFileSync(out.json, `${JSON.stringify(d, null, 1)}\n`);
  if (!out.md && !out.html && !out.json) console.log(md);
  return lost.length > 0 ? 1 : 0;
}
