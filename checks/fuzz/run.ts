/**
 * `npm run fuzz -- [--count N] [--seconds S] [--only NAME[,NAME]] [--seed S] [--replay K] [--json F]`
 *
 * Runs every fuzz target (fuzz/targets/) for N inputs (default 100,000) or S seconds (default 300 per
 * target), whichever comes first, from one seed; prints per target the inputs run, the outcome classes,
 * crashes and hangs and the time, and a one-line replay command for every failure. Exit 1 on any crash,
 * hang or broken invariant; 2 on bad usage.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, runTarget, type TargetReport } from './core.ts';
import { TARGETS } from './targets/index.ts';

export const DEFAULT_COUNT = 100_000;
export const DEFAULT_SECONDS = 300;

const HELP = `usage: npm run fuzz -- [--count N] [--seconds S] [--only NAME[,NAME]] [--seed S] [--replay K] [--json F]

  --count N     inputs per target (default ${DEFAULT_COUNT})
  --seconds S   time cap per target (default ${DEFAULT_SECONDS})
  --only NAMES  targets to run (${TARGETS.map((t) => t.name).join(', ')})
  --seed S      the seed of every input (default 1)
  --replay K    run input K of the one target named by --only, printing it and its outcome
  --json F      write the counts to F`;

function int(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${v}: expected an integer ≥ ${min}`);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        count: { type: 'string' },
        seconds: { type: 'string' },
        only: { type: 'string' },
        seed: { type: 'string' },
        replay: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let count: number;
  let seconds: number;
  let seed: number;
  let replay: number | undefined;
  try {
    count = int(values.count as string | undefined, 'count', 1) ?? DEFAULT_COUNT;
    seconds = int(values.seconds as string | undefined, 'seconds', 1) ?? DEFAULT_SECONDS;
    seed = int(values.seed as string | undefined, 'seed', -(2 ** 31)) ?? 1;
    replay = int(values.replay as string | undefined, 'replay', 0);
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    return 2;
  }
  const names = values.only ? String(values.only).split(',') : TARGETS.map((t) => t.name);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    console.error(
      `fuzz: unknown target ${unknown.join(', ')} (known: ${TARGETS.map((t) => t.name).join(', ')})`,
    );
    return 2;
  }
  if (replay !== undefined && names.length !== 1) {
    console.error('fuzz: --replay K needs one target: --only NAME');
    return 2;
  }
  console.log(
    replay !== undefined
      ? `fuzz: replaying input ${replay} of ${names[0]}, seed ${seed}`
      : `fuzz: ${names.length} targets, up to ${count} inputs or ${seconds} s each, seed ${seed}`,
  );
  const reports: TargetReport[] = [];
  for (const name of names) {
    const t = TARGETS.find((x) => x.name === name)!;
    const r = await runTarget(t, { count, seconds, seed, replay, log: (l) => console.log(l) });
    reports.push(r);
    for (const l of formatReport(r)) console.log(l);
  }
  const bad = reports.reduce((s, r) => s + r.crashes + r.hangs, 0);
  const total = reports.reduce((s, r) => s + r.inputs, 0);
  console.log(
    `fuzz: ${total} inputs in all; ${bad === 0 ? 'no crash, no hang' : `${bad} crashes/hangs (replay commands above)`}`,
  );
  if (values.json) {
    const file = String(values.json);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
      file,
      `${JSON.stringify(
        {
          tool: 'fleece-lab',
          kind: 'fuzz',
          createdAt: new Date().toISOString(),
          seed,
          count,
          secondsCap: seconds,
          targets: reports.map((r) => ({
            ...r,
            classes: Object.keys(r.classes).length,
            outcomes: r.classes,
          })),
        },
        null,
        1,
      )}\n`,
    );
  }
  return bad > 0 ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // sockets the targets closed may still be finishing: do not wait for stragglers
      setTimeout(() => process.exit(code), 200).unref();
    },
    (e: unknown) => {
      console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = 2;
    },
  );
}
