import fs from 'node:fs';
import path from 'node:path';
import { conform } from '../checks/conformance/conform.ts';
import { checkProposal, type ProposalReport } from '../checks/model/check.ts';
import { formatReport } from '../checks/model/report.ts';
import { probesFromTranscripts } from '../checks/probes/run.ts';
import { targetFileStem } from '../contract/formats/file-names.ts';
import { type ProbeResults, probesFileName } from '../contract/formats/probes.ts';
import { type Results, resultsFileName, summarize } from '../contract/formats/results.ts';
import { readTraceDir, type TranscriptData } from '../contract/formats/transcripts.ts';
import { BUNDLED } from '../contract/proposals/index.ts';
import { PROFILES } from '../contract/versions.ts';
import { listQemu } from '../harness/qemu/install.ts';
import { type ResolvedTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { writeHtmlReport } from '../reports/html.ts';
import { toJUnit } from '../reports/junit.ts';
import { toMarkdown } from '../reports/markdown.ts';
import { buildMatrix, gateFailures, type MatrixSide } from '../reports/matrix.ts';
import { fixesCarriedText, probesHtml, probesMarkdown } from '../reports/probes.ts';
import { recording } from './matrix-cmd.ts';
import { saveCounterexamples } from './save-counterexamples.ts';

/**
 * The main job (`npx fleece-lab`, `npm start`): the suite on the simulator for every profile and on every
 * real QEMU found here; writes reports/latest/. Exit 1 when any check failed.
 */
export async function runMainJob(o: { simOnly: boolean; out: string }): Promise<number> {
  const { simOnly } = o;
  const outDir = path.resolve(o.out);
  fs.mkdirSync(outDir, { recursive: true });
  const targets: ResolvedTarget[] = PROFILES.map((p) => resolveTarget(`sim:${p}`));
  const seen = new Set<string>();
  for (const q of simOnly ? [] : listQemu()) {
    const key = q.root ?? 'PATH';
    if (seen.has(key)) continue;
    seen.add(key);
    const where = q.root ?? undefined;
    try {
      targets.push(resolveTarget(where ? `qemu:${where}` : 'qemu'));
    } catch (e) {
      console.log(`skipping QEMU ${q.version}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  // the proposals on their default domain, a running VM; each counterexample saved for `fleece-lab replay`
  const proposals: ProposalReport[] = [];
  const traceDir = path.join(outDir, 'traces');
  fs.rmSync(traceDir, { recursive: true, force: true });
  for (const p of BUNDLED) {
    const r = await checkProposal(p, { runs: 300, seed: 1, profile: '7.2', domain: 'vm' });
    proposals.push(r);
    saveCounterexamples(traceDir, r);
    console.log(formatReport(r, false));
  }
  fs.writeFileSync(path.join(outDir, 'proposals.json'), `${JSON.stringify(proposals, null, 1)}\n`);
  const all: Results[] = [];
  const probes: ProbeResults[] = [];
  const traces = new Map<string, Map<string, TranscriptData>>();
  const sides = new Map<string, { real?: MatrixSide; sim?: MatrixSide }>();
  for (const t of targets) {
    const dir = path.join(outDir, 'transcripts', targetFileStem(t.label));
    fs.rmSync(dir, { recursive: true, force: true });
    const r = await conform(t, { jobs: t.kind === 'qemu' ? 4 : 1, traces: dir });
    all.push(r);
    traces.set(r.target, readTraceDir(dir));
    const side = sides.get(t.profile) ?? {};
    const which = t.kind === 'sim' ? 'sim' : 'real';
    side[which] ??= { results: r, traces: traces.get(r.target) };
    sides.set(t.profile, side);
    // the known-bug probes, decided from the transcripts this run already has
    const p = probesFromTranscripts(r, (id) => traces.get(r.target)?.get(id));
    probes.push(p);
    const s = summarize(r);
    console.log(
      `${r.target.padEnd(16)} QEMU ${r.qemu.version.padEnd(8)} ${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.xfail} xfail  (${(r.durationMs / 1000).toFixed(1)} s); fixes carried: ${fixesCarriedText(p)}`,
    );
    fs.writeFileSync(path.join(outDir, resultsFileName(r.target)), `${JSON.stringify(r, null, 1)}\n`);
    fs.writeFileSync(path.join(outDir, probesFileName(r.target)), `${JSON.stringify(p, null, 1)}\n`);
  }
  fs.writeFileSync(path.join(outDir, 'junit.xml'), toJUnit(all));
  const md = `${proposalsMarkdown(proposals)}\n${toMarkdown(all)}\n${probesMarkdown(probes)}`;
  fs.writeFileSync(path.join(outDir, 'summary.md'), md);
  const matrix = buildMatrix({
    versions: PROFILES.map((p) => ({ version: p, ...sides.get(p) })),
    recording,
  });
  fs.writeFileSync(path.join(outDir, 'matrix.json'), `${JSON.stringify(matrix, null, 1)}\n`);
  writeHtmlReport(outDir, {
    title: 'fleece-lab report',
    results: all,
    matrix,
    proposals,
    traces,
    fixesCarried: new Map(probes.map((p) => [p.target, fixesCarriedText(p)])),
    sections: [probesHtml(probes)],
  });
  console.log(
    `reports written to ${path.relative(process.cwd(), outDir) || '.'}/ (summary.md, index.html + checks/, matrix.json, junit.xml, results-*.json, probes-*.json)`,
  );
  // a failed check, or a cell the matrix would fail on (a wrong simulator answer outside a known difference)
  return all.some((r) => summarize(r).fail > 0) || gateFailures(matrix).length > 0 ? 1 : 0;
}

function proposalsMarkdown(rs: ProposalReport[]): string {
  const props = rs[0]?.verdicts.map((v) => v.property) ?? [];
  const cell = (r: ProposalReport, p: string) => {
    const v = r.verdicts.find((x) => x.property === p)!;
    const s =
      v.status === 'holds'
        ? `holds in ${v.exercised} of ${v.runs}`
        : v.status === 'fails'
          ? '**fails**'
          : v.status === 'not-exercised'
            ? '**not exercised**'
            : v.status === 'unknown'
              ? 'unknown'
              : 'n/a';
    return v.claimed ? `${s} (claimed)` : s;
  };
  const lines = [
    `# fleece-lab proposals (${rs[0]?.domain ?? 'vm'} domain, sim:7.2)`,
    '',
    `| property | ${rs.map((r) => r.proposal).join(' | ')} |`,
    `|---|${rs.map(() => '---').join('|')}|`,
  ];
  for (const p of props) lines.push(`| ${p} | ${rs.map((r) => cell(r, p)).join(' | ')} |`);
  for (const r of rs)
    for (const v of r.verdicts.filter((x) => x.counterexample))
      lines.push(
        '',
        `- ${r.proposal} / ${v.property}: ${v.counterexample!.detail} — \`${v.counterexample!.replay}\``,
      );
  return `${lines.join('\n')}\n`;
}
