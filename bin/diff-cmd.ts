import fs from 'node:fs';
import path from 'node:path';
import { fileKind } from '../contract/formats/file-kind.ts';
import { targetFileStem } from '../contract/formats/file-names.ts';
import { parseMatrix } from '../contract/formats/matrix.ts';
import { parseResults, type Results } from '../contract/formats/results.ts';
import { readTraceDir, type TranscriptData } from '../contract/formats/transcripts.ts';
import { readJsonFile } from '../contract/json-text.ts';
import { diffMarkdown, diffMatrices, diffResults, type TranscriptSide } from '../reports/diff.ts';
import { loadSchemaFeatures } from '../reports/features.ts';
import { diffHtml } from '../reports/html.ts';
import { runArgv } from './command.ts';
import { commandNamed } from './commands.ts';
import { recording } from './matrix-cmd.ts';
import { diffProbeFiles } from './probe-diff-cmd.ts';

function profileOf(version: string): string | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/** the transcripts of a results file: a given folder, one next to the file, or the recordings */
export function findTranscripts(r: Results, file: string, dir?: string): TranscriptSide | undefined {
  const near = [
    path.join(path.dirname(file), 'traces', targetFileStem(r.target)),
    path.join(path.dirname(file), `traces-${targetFileStem(r.target)}`),
    path.join(path.dirname(file), 'traces'),
  ];
  for (const d of dir ? [dir] : near) {
    const t = readTraceDir(d);
    if (t.size > 0 && [...t.values()].every((x) => !x.target || x.target === r.target || !!dir))
      return { source: path.relative(process.cwd(), d) || '.', traces: t };
  }
  if (dir) throw new Error(`${dir}: no transcripts (*.jsonl) there`);
  const p = profileOf(r.qemu.version);
  if (!p) return undefined;
  const traces = new Map<string, TranscriptData>();
  for (const c of r.checks) {
    if (c.status !== 'pass') continue;
    const t = recording(p, c.id);
    if (t) traces.set(c.id, t);
  }
  return traces.size > 0
    ? {
        source: `the recordings of real QEMU ${p} (checks/conformance/golden/${p}; checks that passed)`,
        traces,
      }
    : undefined;
}

/** `fleece-lab diff` from its arguments, as the command line runs it (the fuzzers call it this way) */
export function cmdDiff(argv: string[]): Promise<number> {
  return runArgv(commandNamed('diff'), argv);
}

export interface DiffOptions {
  md?: string;
  html?: string;
  json?: string;
  'traces-a'?: string;
  'traces-b'?: string;
}

/** `fleece-lab diff A.json B.json` (options: the table, bin/commands.ts) */
export async function diff(values: DiffOptions, positionals: string[], help: string): Promise<number> {
  if (positionals.length !== 2) {
    console.error(`fleece-lab diff: expected two files (A.json B.json)\n\n${help}`);
    return 2;
  }
  const [fa, fb] = positionals;
  // a file that is not JSON, or JSON that is not an object, gets one line naming it (not V8's message)
  const ra = readJsonFile(fa);
  const rb = readJsonFile(fb);
  if (fileKind(ra) !== fileKind(rb)) {
    console.error(`fleece-lab diff: ${fa} is a ${fileKind(ra)} file, ${fb} a ${fileKind(rb)} file`);
    return 2;
  }
  if (fileKind(ra) === 'probes') return diffProbeFiles(ra, rb, fa, fb, values);
  let d: ReturnType<typeof diffResults> | ReturnType<typeof diffMatrices>;
  let worse = 0;
  if (fileKind(ra) === 'matrix') {
    d = diffMatrices(parseMatrix(ra, fa), parseMatrix(rb, fb), fa, fb);
    worse = d.cellChanges.filter(
      (c) => (c.a?.agree !== false && c.b?.agree === false) || (c.a?.real === 'pass' && c.b?.real === 'fail'),
    ).length;
    console.log(`${d.cellChanges.length} matrix cells changed; ${worse} got worse`);
  } else {
    const a = parseResults(ra, fa);
    const b = parseResults(rb, fb);
    const pa = profileOf(a.qemu.version);
    const pb = profileOf(b.qemu.version);
    const fA = pa ? loadSchemaFeatures(pa) : undefined;
    const fB = pb ? loadSchemaFeatures(pb) : undefined;
    d = diffResults({
      a,
      b,
      aFile: fa,
      bFile: fb,
      ta: findTranscripts(a, fa, values['traces-a']),
      tb: findTranscripts(b, fb, values['traces-b']),
      fa: fA && fB ? fA : undefined,
      fb: fA && fB ? fB : undefined,
      profileA: pa,
      profileB: pb,
    });
    worse = d.statusChanges.filter((c) => c.a === 'pass' && c.b === 'fail').length;
    const f = d.features;
    console.log(
      `${a.target} → ${b.target}: ${d.statusChanges.length} checks changed status (${worse} pass → fail), ${d.transcripts ? `${d.transcripts.errorTexts.length} error texts changed in ${d.transcripts.compared} compared transcripts` : 'no transcripts compared'}${f && f.from !== f.to ? `; features: ${f.added.length} added, ${f.deprecated.length} deprecated, ${f.removed.length} removed` : ''}`,
    );
  }
  const md = diffMarkdown(d);
  if (values.md) fs.writeFileSync(values.md, md);
  if (values.html) fs.writeFileSync(values.html, diffHtml(d));
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(d, null, 1)}\n`);
  if (!values.md && !values.html && !values.json) console.log(md);
  return worse > 0 ? 1 : 0;
}
