import fs from 'node:fs';
import { RUNBOOKS } from '../checks/conformance/runbooks/index.ts';
import { fileKind } from '../contract/formats/file-kind.ts';
import { parseMatrix } from '../contract/formats/matrix.ts';
import { parseProposalReports } from '../contract/formats/proposal-reports.ts';
import { parseResults, summarize } from '../contract/formats/results.ts';
import { readJsonFile } from '../contract/json-text.ts';
import { BUNDLED } from '../contract/proposals/index.ts';
import { matrixPage } from '../reports/html.ts';
import { matrixMarkdown } from '../reports/matrix.ts';
import { mergeMatrices, mergeProposals, mergeResults } from '../reports/merge.ts';
import { runArgv } from './command.ts';
import { commandNamed } from './commands.ts';

/** `fleece-lab merge` from its arguments, as the command line runs it (the fuzzers call it this way) */
export function cmdMerge(argv: string[]): Promise<number> {
  return runArgv(commandNamed('merge'), argv);
}

/** `fleece-lab merge A.json B.json ... --out F` (options: the table, bin/commands.ts) */
export async function merge(values: { out?: string }, positionals: string[], help: string): Promise<number> {
  if (!values.out || positionals.length === 0) {
    console.error(`fleece-lab merge: expected input files and --out F\n\n${help}`);
    return 2;
  }
  const raw = positionals.map((file) => ({ file, data: readJsonFile(file) }));
  const kinds = new Set(raw.map((r) => fileKind(r.data)));
  if (kinds.size !== 1) {
    console.error(`fleece-lab merge: the inputs are of different kinds (${[...kinds].join(', ')})`);
    return 2;
  }
  const kind = [...kinds][0];
  const order = RUNBOOKS.map((r) => r.id);
  let text: string;
  if (kind === 'conformance') {
    const r = mergeResults(
      raw.map((x) => ({ file: x.file, results: parseResults(x.data, x.file) })),
      order,
    );
    const s = summarize(r);
    console.log(
      `${r.target}: ${r.checks.length} checks from ${raw.length} files: ${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.xfail} xfail`,
    );
    text = JSON.stringify(r, null, 1);
  } else if (kind === 'matrix') {
    const m = mergeMatrices(
      raw.map((x) => ({ file: x.file, matrix: parseMatrix(x.data, x.file) })),
      order,
    );
    console.log(`matrix: ${m.rows.length} checks × ${m.versions.length} versions from ${raw.length} files`);
    text = JSON.stringify(m, null, 1);
    const base = values.out.replace(/\.json$/, '');
    fs.writeFileSync(`${base}.md`, matrixMarkdown(m));
    fs.writeFileSync(`${base}.html`, matrixPage(m));
  } else if (kind === 'proposals') {
    const p = mergeProposals(
      raw.map((x) => ({ file: x.file, reports: parseProposalReports(x.data, x.file) })),
      BUNDLED.map((b) => b.name),
    );
    console.log(`proposals: ${p.map((x) => x.proposal).join(', ')} from ${raw.length} files`);
    text = JSON.stringify(p, null, 1);
  } else {
    console.error(`fleece-lab merge: ${raw[0].file}: not a results, matrix or proposals file`);
    return 2;
  }
  fs.writeFileSync(values.out, `${text}\n`);
  return 0;
}
