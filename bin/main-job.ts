import fs from 'node:fs';
import path from 'node:path';
import { conform } from '../checks/conformance/conform.ts';
import type { ProposalReport } from '../checks/model/check.ts';
import { formatReport } from '../checks/model/report.ts';
import { probesFromTranscripts } from '../checks/probes/run.ts';
import { targetFileStem } from '../contract/formats/file-names.ts';
import { type ProbeResults, probesFileName } from '../contract/formats/probes.ts';
import { type Results, resultsFileName, summarize } from '../contract/formats/results.ts';
import { readTraceDir, type TranscriptData } from '../contract/formats/transcripts.ts';
import { PROFILES } from '../contract/versions.ts';
import { listQemu } from '../harness/qemu/install.ts';
import { type ResolvedTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { compareMarkdown } from '../reports/compare.ts';
import { coverageLine, coverageMarkdown } from '../reports/coverage.ts';
import { comparePage, writeHtmlReport } from '../reports/html.ts';
import { toJUnit } from '../reports/junit.ts';
import { toMarkdown } from '../reports/markdown.ts';
import { buildMatrix, gateFailures, type MatrixSide } from '../reports/matrix.ts';
import { fixesCarriedText, probesHtml, probesMarkdown } from '../reports/probes.ts';
import { compareReports } from './compare-cmd.ts';
import { measureCoverage } from './coverage-cmd.ts';
import { recording } from './matrix-cmd.ts';
import { progressFor } from './progress.ts';
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
  // the proposals on their default domain, a running VM, on 7.2 and the newest version, and on a
  // qemu-storage-daemon for what that domain can tell; each counterexample saved for `fleece-lab replay`
  const traceDir = path.join(outDir, 'traces');
  fs.rmSync(traceDir, { recursive: true, force: true });
  const compared = await compareReports(
    [],
    { runs: 300, seed: 1, domains: ['vm'], profiles: ['7.2', '11.1'] },
    progressFor(),
  );
  compared.push(
    ...(await compareReports([], { runs: 300, seed: 1, domains: ['qsd'], profiles: ['7.2'] }, progressFor())),
  );
  for (const r of compared) {
    saveCounterexamples(
      r.domain === 'vm' && r.profile === '7.2' ? traceDir : path.join(traceDir, `${r.domain}-${r.profile}`),
      r,
    );
    console.log(formatReport(r, false));
  }
  fs.writeFileSync(path.join(outDir, 'proposals.json'), `${JSON.stringify(compared, null, 1)}\n`);
  fs.writeFileSync(path.join(outDir, 'compare.md'), compareMarkdown(compared));
  fs.writeFileSync(path.join(outDir, 'compare.html'), comparePage(compared));
  const all: Results[] = [];
  const probes: ProbeResults[] = [];
  const traces = new Map<string, Map<string, TranscriptData>>();
  const sides = new Map<string, { real?: MatrixSide; sim?: MatrixSide }>();
  for (const t of targets) {
    const dir = path.join(outDir, 'transcripts', targetFileStem(t.label));
    fs.rmSync(dir, { recursive: true, force: true });
    const progress = progressFor();
    const r = await conform(t, {
      jobs: t.kind === 'qemu' ? 4 : 1,
      traces: dir,
      onStart: (n) => progress.start(n, 'checks', `conform ${t.label}`),
      onResult: (c) => progress.tick(c.status === 'fail'),
    });
    progress.done();
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
  // what the suite covers: the recordings, and the transcripts of the simulator runs just made
  const simTraces = (v: string) => {
    const label = all.find((r) => r.target === `sim:${v}`)?.target;
    return label ? [...(traces.get(label)?.values() ?? [])] : undefined;
  };
  const coverage = await measureCoverage(PROFILES, simTraces);
  fs.writeFileSync(path.join(outDir, 'coverage.json'), `${JSON.stringify(coverage, null, 1)}\n`);
  for (const v of coverage.versions) console.log(`coverage ${coverageLine(v)}`);
  const md = `${compareMarkdown(compared, 'fleece-lab: proposals × properties')}\n${coverageMarkdown(coverage)}\n${toMarkdown(all)}\n${probesMarkdown(probes)}`;
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
    proposals: compared,
    coverage,
    traces,
    fixesCarried: new Map(probes.map((p) => [p.target, fixesCarriedText(p)])),
    sections: [probesHtml(probes)],
  });
  console.log(
    `reports written to ${shownDir(outDir)}/ (summary.md, index.html + checks/, compare.md, compare.html, coverage.json, matrix.json, junit.xml, results-*.json, probes-*.json)`,
  );
  // a failed check, or a cell the matrix would fail on (a wrong simulator answer outside a known difference)
  return all.some((r) => summarize(r).fail > 0) || gateFailures(matrix).length > 0 ? 1 : 0;
}

/** the report folder as the user named it: relative to here when it is below, else absolute */
function shownDir(dir: string): string {
  const rel = path.relative(process.cwd(), dir);
  return rel === '' ? '.' : rel.startsWith('..') ? path.resolve(dir) : rel;
}
