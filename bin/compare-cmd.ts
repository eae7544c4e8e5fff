import fs from 'node:fs';
import { checkProposal, type ProposalReport } from '../checks/model/check.ts';
import { loadProposal } from '../checks/model/load-proposal.ts';
import type { DomainKind } from '../contract/port.ts';
import { BUNDLED } from '../contract/proposals/index.ts';
import { type Profile, profileSchema } from '../contract/versions.ts';
import { compareMarkdown } from '../reports/compare.ts';
import { comparePage } from '../reports/html.ts';
import type { Progress } from './progress.ts';

export interface CompareOptions {
  runs: string;
  seed: string;
  profile: string;
  domain: string;
  md?: string;
  html?: string;
  json?: string;
}

/** a comma-separated option, each item checked */
function list<T extends string>(name: string, v: string, ok: (x: string) => x is T, expected: string): T[] {
  const items = v.split(',').map((s) => s.trim());
  for (const x of items) if (!ok(x)) throw new Error(`--${name} ${x}: expected ${expected}`);
  return items as T[];
}

/** Check every proposal on every domain and profile asked for: the reports, in table order. */
export async function compareReports(
  specs: string[],
  o: { runs: number; seed: number; domains: DomainKind[]; profiles: Profile[] },
  progress?: Progress,
): Promise<ProposalReport[]> {
  const proposals = specs.length > 0 ? await Promise.all(specs.map(loadProposal)) : BUNDLED;
  const reports: ProposalReport[] = [];
  const total = o.domains.length * o.profiles.length * proposals.length;
  progress?.start(total, 'checks');
  for (const domain of o.domains)
    for (const profile of o.profiles)
      for (const p of proposals) {
        const r = await checkProposal(p, { runs: o.runs, seed: o.seed, profile, domain });
        reports.push(r);
        progress?.tick(
          r.verdicts.some((v) => v.claimed && (v.status === 'fails' || v.status === 'not-exercised')),
        );
      }
  progress?.done();
  return reports;
}

/** `fleece-lab compare [PROPOSAL...]` (options: the table, bin/commands.ts) */
export async function cmdCompare(
  values: CompareOptions,
  positionals: string[],
  progress?: Progress,
): Promise<number> {
  const runs = Number(values.runs);
  const seed = Number(values.seed);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs ${values.runs}: expected a positive integer`);
  if (!Number.isInteger(seed)) throw new Error(`--seed ${values.seed}: expected an integer`);
  const domains = list(
    'domain',
    values.domain,
    (x): x is DomainKind => x === 'vm' || x === 'qsd',
    'vm or qsd (comma-separated)',
  );
  const profiles = list(
    'profile',
    values.profile,
    (x): x is Profile => profileSchema.safeParse(x).success,
    '5.2, 7.2, 10.0 or 11.1 (comma-separated)',
  );
  const reports = await compareReports(positionals, { runs, seed, domains, profiles }, progress);
  const md = compareMarkdown(reports);
  if (values.md) fs.writeFileSync(values.md, md);
  if (values.html) fs.writeFileSync(values.html, comparePage(reports));
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(reports, null, 1)}\n`);
  if (!values.md) process.stdout.write(md);
  else
    console.log(`comparison written to ${[values.md, values.html, values.json].filter(Boolean).join(', ')}`);
  return 0;
}
