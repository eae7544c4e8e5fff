import fs from 'node:fs';
import path from 'node:path';
import { conform } from '../checks/conformance/conform.ts';
import { loadGolden } from '../checks/conformance/golden.ts';
import { parseShard, type Shard } from '../checks/conformance/shard.ts';
import { probesFromTranscripts } from '../checks/probes/run.ts';
import { CLASS_TEXT } from '../contract/formats/divergence-classes.ts';
import { targetFileStem } from '../contract/formats/file-names.ts';
import { type ProbeResults, parseProbeResults, probesFileName } from '../contract/formats/probes.ts';
import { type Results, readResults, resultsFileName, summarize } from '../contract/formats/results.ts';
import { readTraceDir, type TranscriptData } from '../contract/formats/transcripts.ts';
import { readJsonFile } from '../contract/json-text.ts';
import { installQemu, isQemuVersion, QEMU_VERSIONS } from '../harness/qemu/install.ts';
import { type ResolvedTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { checkFile, matrixPage, writeHtmlReport } from '../reports/html.ts';
import {
  buildMatrix,
  disagreements,
  gateFailures,
  type MatrixSide,
  matrixMarkdown,
  summarizeMatrix,
} from '../reports/matrix.ts';
import { type FixesRow, fixesCarriedMarkdown, fixesCarriedText, probesHtml } from '../reports/probes.ts';
import { progressFor } from './progress.ts';

export function recording(version: string, id: string): TranscriptData | undefined {
  return loadGolden(version, id)?.transcript as TranscriptData | undefined;
}

async function realTarget(version: string, install: boolean): Promise<ResolvedTarget> {
  try {
    return resolveTarget(`qemu:${version}`);
  } catch (e) {
    if (!install || !isQemuVersion(version)) throw e;
    console.log(`QEMU ${version} is not installed: installing it from Debian (bounded to 10 minutes)`);
    const r = await installQemu(version);
    console.log(`installed QEMU ${r.manifest.binaries.qsd.version} in ${r.seconds.toFixed(0)} s`);
    return resolveTarget(`qemu:${version}`);
  }
}

/**
 * A real check that broke before it had a transcript (QEMU did not start in time, a socket went away) says
 * nothing about behaviour: it runs once more, alone, and the retry is noted in its reason.
 */
async function retryBroken(t: ResolvedTarget, r: Results, dir: string): Promise<void> {
  const have = readTraceDir(dir);
  const broken = r.checks.filter((c) => c.status === 'fail' && !have.has(c.id));
  for (const c of broken) {
    const only = `^${c.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    const again = await conform(t, { only, traces: dir });
    const n = again.checks[0];
    if (!n) continue;
    console.log(`retried ${c.id} on ${t.label}: ${n.status} (first run: ${(c.reason ?? '').slice(0, 160)})`);
    const i = r.checks.indexOf(c);
    r.checks[i] = {
      ...n,
      reason: `${n.reason ? `${n.reason}; ` : ''}retried once; the first run broke: ${c.reason ?? ''}`,
    };
  }
}

export interface MatrixOptions {
  versions: string;
  out: string;
  jobs: string;
  shard?: string;
  only?: string;
  traces?: string;
  pages: boolean;
  'no-install': boolean;
  reuse: boolean;
}

/** `fleece-lab matrix` (options: the table, bin/commands.ts) */
export async function cmdMatrix(values: MatrixOptions): Promise<number> {
  const versions = values.versions.split(',').map((v) => v.trim());
  const bad = versions.filter((v) => !isQemuVersion(v));
  if (bad.length > 0 || versions.length === 0) {
    console.error(
      `fleece-lab matrix: --versions: unknown ${bad.join(', ')} (known: ${QEMU_VERSIONS.join(', ')})`,
    );
    return 2;
  }
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`fleece-lab matrix: --jobs ${values.jobs}: expected a positive integer`);
    return 2;
  }
  let shard: Shard | undefined;
  try {
    shard = values.shard ? parseShard(values.shard) : undefined;
  } catch (e) {
    console.error(`fleece-lab matrix: ${(e as Error).message}`);
    return 2;
  }
  const out = path.resolve(values.out);
  const tracesRoot = path.resolve(values.traces ?? path.join(out, 'traces'));
  const suffix = shard ? `.shard-${shard.index}-of-${shard.count}` : '';
  fs.mkdirSync(out, { recursive: true });
  const sides: { version: string; real?: MatrixSide; sim?: MatrixSide }[] = [];
  const all: Results[] = [];
  const traces = new Map<string, Map<string, TranscriptData>>();
  let broken = 0;
  const probes = new Map<string, ProbeResults>();
  /** the known-bug probes of a run, decided from its transcripts (probes-<target>.json beside its results) */
  const probeSide = (r: Results, tr: Map<string, TranscriptData>) => {
    const file = path.join(out, probesFileName(r.target, suffix));
    let p: ProbeResults | undefined;
    if (tr.size > 0) {
      p = probesFromTranscripts(r, (id) => tr.get(id));
      fs.writeFileSync(file, `${JSON.stringify(p, null, 1)}\n`);
    } else if (fs.existsSync(file)) p = parseProbeResults(readJsonFile(file), file);
    if (p) probes.set(r.target, p);
  };
  const progress = progressFor();
  const run = async (t: ResolvedTarget): Promise<MatrixSide> => {
    const dir = path.join(tracesRoot, targetFileStem(t.label));
    fs.rmSync(dir, { recursive: true, force: true });
    const r = await conform(t, {
      jobs: t.kind === 'qemu' ? jobs : 1,
      traces: dir,
      shard,
      only: values.only,
      onStart: (total) => progress.start(total, 'checks', `matrix: ${t.label}`),
      onResult: (c) => progress.tick(c.status === 'fail'),
    });
    progress.done();
    if (t.kind === 'qemu') await retryBroken(t, r, dir);
    const s = summarize(r);
    console.log(
      `${r.target.padEnd(16)} ${r.qemu.package.padEnd(34)} ${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.xfail} xfail (${(r.durationMs / 1000).toFixed(1)} s)`,
    );
    fs.writeFileSync(path.join(out, resultsFileName(r.target, suffix)), `${JSON.stringify(r, null, 1)}\n`);
    all.push(r);
    const tr = readTraceDir(dir);
    traces.set(r.target, tr);
    probeSide(r, tr);
    return { results: r, traces: tr };
  };
  /** --reuse: the results file of a version's real QEMU or simulator already in DIR */
  const reuse = (v: string, kind: 'qemu' | 'sim'): MatrixSide | undefined => {
    const re =
      kind === 'sim'
        ? new RegExp(`^results-sim_${v.replace('.', '\\.')}${suffix}\\.json$`)
        : new RegExp(`^results-qemu_${v.replace('.', '\\.')}\\.[0-9.]+${suffix}\\.json$`);
    const f = fs.readdirSync(out).find((x) => re.test(x));
    if (!f) return undefined;
    const r = readResults(path.join(out, f));
    const tr = readTraceDir(path.join(tracesRoot, targetFileStem(r.target)));
    all.push(r);
    traces.set(r.target, tr);
    probeSide(r, tr);
    return { results: r, traces: tr };
  };
  for (const v of versions) {
    const side: (typeof sides)[number] = { version: v };
    if (values.reuse) {
      side.real = reuse(v, 'qemu');
      side.sim = reuse(v, 'sim');
      if (!side.real || !side.sim) {
        broken++;
        console.error(
          `QEMU ${v}: --reuse: no results file of the ${side.real ? 'simulator' : 'real QEMU'} in ${out}`,
        );
      }
      sides.push(side);
      continue;
    }
    try {
      side.real = await run(await realTarget(v, !values['no-install']));
    } catch (e) {
      broken++;
      console.error(`QEMU ${v}: cannot run the real QEMU: ${e instanceof Error ? e.message : String(e)}`);
    }
    side.sim = await run(resolveTarget(`sim:${v}`));
    sides.push(side);
  }
  const m = buildMatrix({
    versions: sides,
    recording,
    // --reuse: the matrix is as old as the runs it is made from
    createdAt: values.reuse ? all.map((r) => r.startedAt).sort()[0] : undefined,
    shard: shard ? `${shard.index}/${shard.count}` : undefined,
  });
  fs.writeFileSync(path.join(out, `matrix${suffix}.json`), `${JSON.stringify(m, null, 1)}\n`);
  const fixes: FixesRow[] = sides.map((x) => ({
    version: x.version,
    real: x.real && probes.get(x.real.results.target),
    sim: x.sim && probes.get(x.sim.results.target),
  }));
  const fixList = fixes.flatMap((x) => [x.real, x.sim]).filter((x): x is ProbeResults => x !== undefined);
  fs.writeFileSync(path.join(out, `matrix${suffix}.md`), matrixMarkdown(m) + fixesCarriedMarkdown(fixes));
  if (values.pages)
    writeHtmlReport(out, {
      title: 'fleece-lab version matrix',
      results: all,
      matrix: m,
      traces,
      fixesCarried: new Map(fixList.map((p) => [p.target, fixesCarriedText(p)])),
      sections: [probesHtml(fixList)],
    });
  fs.writeFileSync(
    path.join(out, `matrix${suffix}.html`),
    matrixPage(
      m,
      { check: values.pages ? (id) => `checks/${checkFile(id)}` : undefined },
      probesHtml(fixList),
    ),
  );
  for (const s of summarizeMatrix(m))
    console.log(
      `${s.version.padEnd(5)} agree ${s.agree}, simulator wrong ${s['simulator-wrong']}, versions differ ${s['versions-differ']}, unexplained ${s.unexplained}, not compared ${s.notCompared}`,
    );
  const dis = disagreements(m);
  for (const d of dis)
    console.log(
      `${CLASS_TEXT[d.class].padEnd(15)} ${d.version.padEnd(5)} ${d.id}: ${d.reason.slice(0, 240)}`,
    );
  console.log(`matrix written to ${path.relative(process.cwd(), out) || '.'}/matrix${suffix}.{json,md,html}`);
  const failing = gateFailures(m);
  if (failing.length > 0)
    console.log(
      `${failing.length} difference(s) fail the matrix: ${failing.map((d) => `${d.id} on ${d.version} (${CLASS_TEXT[d.class]})`).join(', ')}`,
    );
  return broken > 0 || failing.length > 0 ? 1 : 0;
}
