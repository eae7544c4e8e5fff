/**
 * A fuzz run (`npm run fuzz`, `fleece-lab fuzz`: bin/dev/fuzz.ts reads its options): each target for
 * `count` inputs or `seconds` seconds, whichever comes first, from one seed; prints per target the inputs
 * run, the outcome classes, crashes and hangs and the time, and a one-line replay command for every
 * failure. Returns 1 on any crash, hang or broken invariant.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FuzzTarget, formatReport, runTarget, type TargetReport } from './core.ts';

export interface FuzzRun {
  // biome-ignore lint/suspicious/noExplicitAny: targets of different input and state types
  targets: FuzzTarget<any, any>[];
  count: number;
  seconds: number;
  seed: number;
  /** run only input K of the one target */
  replay?: number;
  /** write the counts here */
  json?: string;
}

export async function runFuzz(o: FuzzRun): Promise<number> {
  const { count, seconds, seed, replay } = o;
  console.log(
    replay !== undefined
      ? `fuzz: replaying input ${replay} of ${o.targets[0]?.name}, seed ${seed}`
      : `fuzz: ${o.targets.length} targets, up to ${count} inputs or ${seconds} s each, seed ${seed}`,
  );
  const reports: TargetReport[] = [];
  for (const t of o.targets) {
    const r = await runTarget(t, { count, seconds, seed, replay, log: (l) => console.log(l) });
    reports.push(r);
    for (const l of formatReport(r)) console.log(l);
  }
  const bad = reports.reduce((s, r) => s + r.crashes + r.hangs, 0);
  const total = reports.reduce((s, r) => s + r.inputs, 0);
  console.log(
    `fuzz: ${total} inputs in all; ${bad === 0 ? 'no crash, no hang' : `${bad} crashes/hangs (replay commands above)`}`,
  );
  if (o.json) {
    fs.mkdirSync(path.dirname(o.json), { recursive: true });
    fs.writeFileSync(
      o.json,
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
