import fs from 'node:fs';
import { conform } from '../checks/conformance/conform.ts';
import { parseShard } from '../checks/conformance/shard.ts';
import { compareToBaseline, readBaseline } from '../contract/formats/baseline.ts';
import { summarize } from '../contract/formats/results.ts';
import { resolveAttachTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { toJUnit } from '../reports/junit.ts';
import { toMarkdown } from '../reports/markdown.ts';
import { progressFor } from './progress.ts';

export interface ConformOptions {
  target?: string;
  json?: string;
  junit?: string;
  md?: string;
  baseline?: string;
  only?: string;
  jobs: string;
  traces?: string;
  'allow-live-vm': boolean;
  shard?: string;
}

/** `fleece-lab conform --target T ...` (options: the table, bin/commands.ts) */
export async function cmdConform(values: ConformOptions): Promise<number> {
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`fleece-lab conform: --jobs ${values.jobs}: expected a positive integer`);
    return 2;
  }
  if (!values.target) {
    console.error('fleece-lab conform: --target is required (sim[:PROFILE], qsd[:...], system[:...])');
    return 2;
  }
  let shard: ReturnType<typeof parseShard> | undefined;
  try {
    shard = values.shard ? parseShard(values.shard) : undefined;
  } catch (e) {
    console.error(`fleece-lab conform: ${(e as Error).message}`);
    return 2;
  }
  const target = values.target.startsWith('qmp:')
    ? await resolveAttachTarget(values.target.slice(4), values['allow-live-vm'] === true)
    : resolveTarget(values.target);
  const progress = progressFor({ json: values.json });
  const r = await conform(target, {
    only: values.only,
    jobs,
    traces: values.traces,
    shard,
    onStart: (total) => progress.start(total, 'checks', `conform ${target.label}`),
    onResult: (c) => {
      console.log(
        `${c.status.padEnd(5)} ${c.id}${c.reason && c.status !== 'pass' ? ` — ${c.reason.slice(0, 160)}` : ''}`,
      );
      progress.tick(c.status === 'fail');
    },
  });
  progress.done();
  const s = summarize(r);
  console.log(
    `${r.target} (QEMU ${r.qemu.version}, ${r.qemu.package}): ${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.xfail} xfail in ${(r.durationMs / 1000).toFixed(1)} s`,
  );
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(r, null, 1)}\n`);
  if (values.junit) fs.writeFileSync(values.junit, toJUnit([r]));
  if (values.md) fs.writeFileSync(values.md, toMarkdown([r]));
  if (values.baseline) {
    const base = readBaseline(values.baseline);
    const v = compareToBaseline(r, base);
    for (const b of v.better) console.log(`better: ${b.id}: ${b.was} -> ${b.now}`);
    for (const w of v.worse)
      console.log(`WORSE:  ${w.id}: ${w.was} -> ${w.now}${w.reason ? ` (${w.reason.slice(0, 200)})` : ''}`);
    for (const m of v.missing) console.log(`missing from this run: ${m}`);
    for (const a of v.added) console.log(`not in the baseline: ${a.id} (${a.now})`);
    return v.worse.length > 0 ? 1 : 0;
  }
  return s.fail > 0 ? 1 : 0;
}
