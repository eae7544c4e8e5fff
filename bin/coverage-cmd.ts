import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { conform } from '../checks/conformance/conform.ts';
import {
  type CoverageReport,
  type CoverageTranscript,
  coverageOf,
  coverageShrunk,
  coveredItems,
} from '../checks/conformance/coverage.ts';
import { allGolden } from '../checks/conformance/golden.ts';
import { readTraceDir } from '../contract/formats/transcripts.ts';
import { parseJsonText } from '../contract/json-text.ts';
import { PROFILES, type Profile, profileSchema } from '../contract/versions.ts';
import { resolveTarget } from '../harness/targets/target-spec.ts';
import { coverageLine, coverageMarkdown } from '../reports/coverage.ts';
import { type Progress, progressFor } from './progress.ts';

/** The suite's transcripts on the simulator of a version (run here, in a folder removed afterwards). */
export async function simTranscripts(v: Profile, progress?: Progress): Promise<CoverageTranscript[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-coverage-'));
  try {
    await conform(resolveTarget(`sim:${v}`), {
      traces: dir,
      onStart: (n) => progress?.start(n, 'checks', `coverage: the suite on sim:${v}`),
      onResult: (c) => progress?.tick(c.status === 'fail'),
    });
    progress?.done();
    return [...readTraceDir(dir).values()];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Coverage of the versions: their recordings, and the suite's transcripts on the simulator (given or run). */
export async function measureCoverage(
  versions: readonly Profile[],
  sim?: (v: Profile) => CoverageTranscript[] | undefined,
  progress?: Progress,
): Promise<CoverageReport> {
  const out: CoverageReport = { tool: 'fleece-lab', kind: 'coverage', versions: [] };
  for (const v of versions) {
    const real = allGolden(v).map((g) => g.transcript);
    out.versions.push(coverageOf(v, real, sim?.(v) ?? (await simTranscripts(v, progress))));
  }
  return out;
}

export interface CoverageOptions {
  versions: string;
  json?: string;
  md?: string;
  baseline?: string;
}

/** `fleece-lab coverage` (options: the table, bin/commands.ts) */
export async function cmdCoverage(values: CoverageOptions): Promise<number> {
  const versions = values.versions.split(',').map((v) => {
    const p = profileSchema.safeParse(v.trim());
    if (!p.success) throw new Error(`--versions: '${v}' is not one of ${PROFILES.join(', ')}`);
    return p.data;
  });
  const c = await measureCoverage(versions, undefined, progressFor({ json: values.json }));
  for (const v of c.versions) console.log(coverageLine(v));
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(c, null, 1)}\n`);
  if (values.md) fs.writeFileSync(values.md, coverageMarkdown(c));
  if (!values.baseline) return 0;
  const base = parseJsonText(fs.readFileSync(values.baseline, 'utf8'), values.baseline) as CoverageReport;
  if (base?.kind !== 'coverage' || !Array.isArray(base.versions))
    throw new Error(`${values.baseline}: not a coverage file (fleece-lab coverage --json)`);
  const lost = coverageShrunk(c, base);
  for (const v of c.versions) {
    const had = base.versions.find((b) => b.version === v.version);
    if (!had) continue;
    const before = coveredItems(had);
    const gained = [...coveredItems(v)].filter(
      ([k, w]) => before.get(k) === undefined || (w === 'real' && before.get(k) === 'sim'),
    );
    if (gained.length > 0)
      console.log(
        `${v.version}: ${gained.length} items covered that the baseline does not have (tighten it: --json ${values.baseline})`,
      );
  }
  for (const l of lost) console.log(`SHRUNK: ${l}`);
  console.log(
    lost.length === 0 ? `coverage holds against ${values.baseline}` : `coverage shrank: ${lost.length} items`,
  );
  return lost.length > 0 ? 1 : 0;
}
