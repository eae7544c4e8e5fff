import fs from 'node:fs';
import path from 'node:path';
import { failingDivergences } from '../checks/differential/classify.ts';
import type { Side } from '../checks/differential/side.ts';
import { differential, type Runner } from '../checks/model/differential.ts';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { type Observed, observe } from '../checks/model/observe.ts';
import { World } from '../checks/model/world.ts';
import { type DifferentialReport, differentialSchema } from '../contract/formats/differential.ts';
import { CLASS_TEXT, DIVERGENCE_CLASSES } from '../contract/formats/divergence-classes.ts';
import { readSavedRuns, type SavedRun } from '../contract/formats/saved-runs.ts';
import { NOISE_KEYS } from '../contract/noise.ts';
import type { DomainKind, Port } from '../contract/port.ts';
import { loadSnapshot } from '../contract/qapi/schema-data.ts';
import { type Profile, profileSchema } from '../contract/versions.ts';
import { installQemu, isQemuVersion, QEMU_VERSIONS } from '../harness/qemu/install.ts';
import { SimPort } from '../harness/sim-port.ts';
import { startPort } from '../harness/start-port.ts';
import { type ResolvedTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { differentialMarkdown } from '../reports/differential.ts';
import { progressFor } from './progress.ts';

/** Saved runs: `*.runs.jsonl` (one per line) and counterexample `*.json` files, taken in turn per proposal. */
export function loadSavedRuns(where: string): SavedRun[] {
  const byProposal = new Map<string, SavedRun[]>();
  const seen = new Set<string>();
  for (const r of readSavedRuns(where)) {
    const key = `${r.proposal}|${JSON.stringify(r.ops)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const list = byProposal.get(r.proposal) ?? [];
    list.push(r);
    byProposal.set(r.proposal, list);
  }
  // in turn from each proposal, so that --limit and --budget cover them all
  const lists = [...byProposal.values()];
  const out: SavedRun[] = [];
  for (let i = 0; lists.some((l) => i < l.length); i++)
    for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

const schemaCommands = new Map<string, Set<string>>();
/** the commands of the program a domain runs on: qemu-system-x86_64 for a VM, qemu-storage-daemon for qsd */
function commandsOf(v: Profile, domain: DomainKind): Set<string> {
  const key = `${v}-${domain}`;
  let s = schemaCommands.get(key);
  if (!s) {
    s = new Set(
      loadSnapshot(v, domain === 'vm' ? 'system' : 'qsd')
        .schema.filter((e) => e['meta-type'] === 'command')
        .map((e) => e.name),
    );
    schemaCommands.set(key, s);
  }
  return s;
}

/** A run that needs a command this version does not have (its own query-qmp-schema) is skipped there. */
export function missingCommand(side: Side, sim: Observed, domain: DomainKind): string | undefined {
  const have = commandsOf(side.version as Profile, domain);
  const lacks = sim.commands.filter((c) => !have.has(c));
  return lacks.length > 0 ? `QEMU ${side.version} lacks ${lacks.join(', ')}` : undefined;
}

function realRunner(targets: Map<string, ResolvedTarget>): Runner {
  return async (side, proposal, ops, kind) => {
    const profile = side.version as Profile;
    const domain = World.domainFor(proposal, kind, 2, 256 * 1024);
    if (side.kind === 'sim')
      return observe(proposal, new SimPort(profile, 1, domain), ops, side.key, profile);
    const t = targets.get(side.version)!;
    let port: Port;
    try {
      port = await startPort(t, domain);
    } catch (e) {
      return {
        side: side.key,
        version: t.qemu.version,
        steps: [],
        events: [],
        commands: [],
        trace: [],
        broken: `QEMU did not start: ${e instanceof Error ? e.message : String(e)}`,
      };
    }
    return observe(proposal, port, ops, side.key, t.qemu.version);
  };
}

async function realTarget(version: string, install: boolean): Promise<ResolvedTarget> {
  try {
    return resolveTarget(`qemu:${version}`);
  } catch (e) {
    if (!install || !isQemuVersion(version)) throw e;
    console.log(`QEMU ${version} is not installed: installing it from Debian (bounded to 10 minutes)`);
    await installQemu(version);
    return resolveTarget(`qemu:${version}`);
  }
}

export interface DifferentialOptions {
  traces?: string;
  versions?: string;
  jobs: string;
  limit?: string;
  budget?: string;
  shrink: string;
  'shrink-replays': string;
  out: string;
  'fail-on': string;
  'no-install': boolean;
}

/** `fleece-lab replay --traces DIR --versions V,...` (options: the table, bin/commands.ts) */
export async function cmdDifferential(values: DifferentialOptions, positionals: string[]): Promise<number> {
  const where = values.traces ?? positionals[0];
  if (!where) throw new Error('replay --versions: which traces? (--traces DIR or a trace file)');
  if (!fs.existsSync(where)) throw new Error(`${where}: no such file or folder`);
  // oldest first: consecutive real versions are compared
  const versions = (values.versions ?? '')
    .split(',')
    .map((v) => v.trim())
    .sort(
      (x, y) =>
        Number(x.split('.')[0]) - Number(y.split('.')[0]) ||
        Number(x.split('.')[1]) - Number(y.split('.')[1]),
    );
  const bad = versions.filter((v) => !profileSchema.safeParse(v).success);
  if (bad.length > 0)
    throw new Error(`--versions: unknown ${bad.join(', ')} (known: ${QEMU_VERSIONS.join(', ')})`);
  const num = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} ${v}: expected a number >= ${min}`);
    return n;
  };
  const jobs = num('jobs', values.jobs, 1)!;
  const limit = num('limit', values.limit, 1);
  const budget = num('budget', values.budget, 1);
  const failOn = values['fail-on'].split(',').filter((c) => c !== '');
  const unknown = failOn.filter((c) => !(DIVERGENCE_CLASSES as readonly string[]).includes(c));
  if (unknown.length > 0)
    throw new Error(`--fail-on: unknown ${unknown.join(', ')} (known: ${DIVERGENCE_CLASSES.join(', ')})`);

  let runs = loadSavedRuns(where);
  const found = runs.length;
  if (found === 0) throw new Error(`${where}: no saved runs (fleece-lab check --save-runs --traces DIR)`);
  if (limit !== undefined) runs = runs.slice(0, limit);
  const targets = new Map<string, ResolvedTarget>();
  for (const v of versions) {
    const t = await realTarget(v, !values['no-install']);
    targets.set(v, t);
    console.log(`real ${v}: ${t.label} (${t.qemu.package})`);
  }
  console.log(
    `replaying ${runs.length} of ${found} saved runs on ${versions.map((v) => `sim:${v} and real ${v}`).join(', ')}, ${jobs} at a time${budget ? `, for at most ${budget} s` : ''}`,
  );
  const progress = progressFor();
  const r = await differential(runs, {
    versions,
    runner: realRunner(targets),
    loadProposal,
    skip: missingCommand,
    jobs,
    budgetMs: budget !== undefined ? budget * 1000 : undefined,
    maxShrink: num('shrink', values.shrink, 0),
    shrinkReplays: num('shrink-replays', values['shrink-replays'], 2),
    onProgress: (l) => console.log(l),
    onReplayed: (p) => {
      if (p.replayed === 1) progress.start(p.of, 'runs replayed', 'replay');
      progress.set(p.replayed, p.divergences);
    },
  });
  progress.done();
  const out = path.resolve(values.out);
  const rel = path.relative(process.cwd(), out) || '.';
  fs.mkdirSync(path.join(out, 'minimal'), { recursive: true });
  for (const f of fs.readdirSync(path.join(out, 'minimal'))) fs.rmSync(path.join(out, 'minimal', f));
  const report: DifferentialReport = {
    tool: 'fleece-lab',
    kind: 'differential',
    createdAt: new Date().toISOString(),
    traceSource: path.relative(process.cwd(), path.resolve(where)) || '.',
    traces: found,
    replayed: r.replayed,
    proposals: r.proposals,
    versions: r.versions.map((v) => {
      const t = targets.get(v.version)!;
      return {
        version: v.version,
        real: { target: t.label, version: t.qemu.version, package: t.qemu.package },
        replayed: v.replayed,
        simReplayed: v.simReplayed,
        skipped: v.skipped,
        skipReasons: v.skipReasons,
        broken: v.broken,
      };
    }),
    outcome:
      'per step (setup, each operation, teardown check): QMP commands with arguments and replies, API results, guest writes (done or failed), NBD reads with the bytes read, property findings, an error that ended the run; and the events each side got up to the step, as a set (a difference counts when it is still there one step later; drain pause/resume pairs dropped)',
    noiseKeys: [
      ...NOISE_KEYS,
      'actual-size',
      'scratch paths',
      '#blockN node names',
      "a background job target's file length",
      "a mirror's own bitmap count",
    ],
    divergences: r.divergences.map((d) => {
      const file = path.join(rel, 'minimal', `${d.id}.json`);
      const vs = [
        ...new Set([d.pair, ...d.alsoOn.map((p) => p.split(' vs '))].flat().map((s) => s.split(':')[1])),
      ]
        .sort((x, y) => Number(x.split('.')[0]) - Number(y.split('.')[0]))
        .join(',');
      fs.writeFileSync(
        path.join(out, 'minimal', `${d.id}.json`),
        `${JSON.stringify({ proposal: d.proposal, domain: d.domain, profile: d.pair[0].split(':')[1], property: d.class, detail: d.signature, ops: d.minimal }, null, 1)}\n`,
      );
      return { ...d, file, replay: `npx fleece-lab replay ${file} --versions ${vs}` };
    }),
    broken: r.broken,
    durationMs: r.ms,
    shrinkMs: r.shrinkMs,
    jobs,
  };
  differentialSchema.parse(report);
  fs.writeFileSync(path.join(out, 'summary.json'), `${JSON.stringify(report, null, 1)}\n`);
  fs.writeFileSync(path.join(out, 'summary.md'), differentialMarkdown(report));
  for (const v of report.versions)
    console.log(
      `${v.version.padEnd(5)} replayed ${v.replayed} on real ${v.real?.version ?? '?'}, ${v.simReplayed} on sim:${v.version}, skipped ${v.skipped}, broken ${v.broken}`,
    );
  for (const d of report.divergences)
    console.log(
      `${d.id} ${CLASS_TEXT[d.class].padEnd(16)} ${[d.pair.join(' vs '), ...d.alsoOn].join(', ')} at ${d.step}: ${d.signature} — ${d.replay}`,
    );
  console.log(
    `${report.divergences.length} divergence(s) in ${report.replayed} traces; report in ${rel}/summary.{json,md}`,
  );
  const failing = failingDivergences(report.divergences, failOn);
  if (failing.length > 0)
    console.log(
      `${failing.length} divergence(s) fail the run (--fail-on ${failOn.join(',')}): ${failing.map((d) => d.id).join(', ')}`,
    );
  // no divergence on a version where nothing ran on real QEMU says nothing: the verdict needs a comparison
  const unexercised = report.versions.filter((v) => v.replayed === 0);
  for (const v of unexercised)
    console.log(
      `NOT COMPARED: no saved run replayed on real ${v.version} (${
        Object.entries(v.skipReasons)
          .map(([why, n]) => `${n}: ${why}`)
          .join('; ') || 'none reached it'
      })`,
    );
  return failing.length > 0 || report.broken.length > 0 || unexercised.length > 0 ? 1 : 0;
}
