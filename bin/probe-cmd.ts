import fs from 'node:fs';
import { runProbes } from '../checks/probes/run.ts';
import { FEATURES, type Feature } from '../contract/versions.ts';
import { resolveAttachTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { probesMarkdown, probesTextTable } from '../reports/probes.ts';

export interface ProbeCmdOptions {
  target?: string;
  json?: string;
  md?: string;
  only?: string;
  switch?: string[];
  'allow-live-vm': boolean;
}

/** `fleece-lab probe --target T ...` (options: the table, bin/commands.ts) */
export async function cmdProbe(values: ProbeCmdOptions): Promise<number> {
  if (!values.target) {
    console.error(
      'fleece-lab probe: --target is required (sim[:PROFILE], serve[:...], qsd[:...], qemu[:...])',
    );
    return 2;
  }
  const switched = values.switch ?? [];
  const unknown = switched.filter((f) => !(FEATURES as readonly string[]).includes(f));
  if (unknown.length > 0) {
    console.error(`fleece-lab probe: --switch ${unknown[0]}: not a feature of the version table`);
    return 2;
  }
  const target = values.target.startsWith('qmp:')
    ? await resolveAttachTarget(values.target.slice(4), values['allow-live-vm'] === true)
    : resolveTarget(values.target);
  if (switched.length > 0 && target.kind !== 'sim') {
    console.error(`fleece-lab probe: --switch needs a simulator target (sim:PROFILE), not ${target.label}`);
    return 2;
  }
  const r = await runProbes(target, { only: values.only, switched: switched as Feature[] });
  console.log(probesTextTable(r));
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(r, null, 1)}\n`);
  if (values.md) fs.writeFileSync(values.md, probesMarkdown([r]));
  return r.probes.some((p) => p.status === 'inconclusive') ? 1 : 0;
}
