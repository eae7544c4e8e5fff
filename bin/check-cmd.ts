import fs from 'node:fs';
import path from 'node:path';
import { inShard, parseShard } from '../checks/conformance/shard.ts';
import { checkProposal, type ProposalReport } from '../checks/model/check.ts';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { brokenClaims, formatReport } from '../checks/model/report.ts';
import { type OpSpec, runsFileName } from '../contract/formats/saved-runs.ts';
import { BUNDLED } from '../contract/proposals/index.ts';
import { profileSchema } from '../contract/versions.ts';
import { progressFor } from './progress.ts';
import { fileFrom, saveCounterexamples } from './save-counterexamples.ts';

export interface CheckOptions {
  runs: string;
  seed: string;
  profile: string;
  domain: string;
  path?: string;
  json?: string;
  traces: string;
  quiet?: boolean;
  shard?: string;
  'save-runs': boolean;
  list?: boolean;
}

/** `fleece-lab check [PROPOSAL...]` (options: the table, bin/commands.ts) */
export async function cmdCheck(values: CheckOptions, positionals: string[]): Promise<number> {
  if (values.list) {
    // the bundled proposals: name, what they claim, the states of their API
    for (const p of BUNDLED)
      console.log(
        `${p.name.padEnd(18)} ${p.title}\n${''.padEnd(18)} claims ${p.claims.join(', ')}\n${''.padEnd(18)} states ${p.shape.states.map((s) => s.name).join(', ')}`,
      );
    return 0;
  }
  const profile = profileSchema.safeParse(values.profile);
  if (!profile.success) throw new Error(`--profile ${values.profile}: expected 5.2, 7.2, 10.0 or 11.1`);
  const domain = values.domain;
  if (domain !== 'vm' && domain !== 'qsd')
    throw new Error(`--domain ${domain}: expected vm (qemu-system with a guest device per disk) or qsd`);
  const runs = Number(values.runs);
  const seed = Number(values.seed);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs ${values.runs}: expected a positive integer`);
  if (!Number.isInteger(seed)) throw new Error(`--seed ${values.seed}: expected an integer`);
  const shard = values.shard ? parseShard(values.shard) : undefined;
  // --shard i/n: every n-th proposal of the list (fleece-lab merge joins the --json files)
  const proposals = inShard(
    positionals.length > 0 ? await Promise.all(positionals.map(loadProposal)) : BUNDLED,
    shard,
  );
  if (shard && proposals.length === 0) console.log(`shard ${values.shard}: no proposal falls in this shard`);
  const reports: ProposalReport[] = [];
  let broken = 0;
  for (const p of proposals) {
    // --save-runs: every generated operation sequence, one JSON line each (`fleece-lab replay --traces DIR`)
    const runLines: string[] = [];
    const seen = new Set<string>();
    const onRun = values['save-runs']
      ? (ops: OpSpec[]) => {
          const key = JSON.stringify(ops);
          if (seen.has(key)) return;
          seen.add(key);
          runLines.push(
            JSON.stringify({
              proposal: p.name,
              ...fileFrom(values.traces, p.file),
              domain,
              profile: profile.data,
              seed,
              run: seen.size,
              ops,
            }),
          );
        }
      : undefined;
    const progress = progressFor({ json: values.json });
    progress.start(runs, 'runs', `check ${p.name}`);
    let round = 0;
    const r = await checkProposal(p, {
      runs,
      seed,
      profile: profile.data,
      domain,
      path: values.path,
      onRun,
      onProgress: (x) => {
        // a failure starts a new round: the line says which property it looks for now
        if (x.round !== round) {
          round = x.round;
          progress.start(runs, 'runs', `check ${p.name} (round ${round + 1}: ${x.failed} failed so far)`);
        }
        progress.set(x.runs, x.failed);
      },
    });
    progress.done();
    reports.push(r);
    console.log(formatReport(r, !values.quiet));
    console.log('');
    broken += brokenClaims(r).length;
    fs.mkdirSync(values.traces, { recursive: true });
    if (onRun) {
      const file = path.join(values.traces, runsFileName(p.name));
      fs.writeFileSync(file, runLines.length > 0 ? `${runLines.join('\n')}\n` : '');
      console.log(`${runLines.length} distinct runs of ${p.name} saved to ${file}`);
    }
    saveCounterexamples(values.traces, r);
  }
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(reports, null, 1)}\n`);
  console.log(
    `${proposals.length} proposal(s): ${broken === 0 ? 'every claimed property holds' : `${broken} claimed propert${broken === 1 ? 'y' : 'ies'} broken`}; counterexample traces in ${values.traces}/`,
  );
  // a claimed property that no run reached is no verdict: it fails the check as a broken claim does
  return broken > 0 ? 1 : 0;
}
