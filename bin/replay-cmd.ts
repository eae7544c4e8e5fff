import fs from 'node:fs';
import path from 'node:path';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { replayOps } from '../checks/model/replay.ts';
import { World } from '../checks/model/world.ts';
import { parseSavedTrace } from '../contract/formats/saved-runs.ts';
import { startPort } from '../harness/start-port.ts';
import { resolveTarget } from '../harness/targets/target-spec.ts';

/** `fleece-lab replay TRACE --target T`: does the target give the outcome the trace recorded? */
export async function cmdReplay(values: { target: string }, positionals: string[]): Promise<number> {
  const file = positionals[0];
  if (!file) throw new Error('replay: which trace? (a file written by fleece-lab check)');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const t = { data: parseSavedTrace(text, file) };
  const proposal = await loadProposal(
    t.data.file ? path.join(path.dirname(file), t.data.file) : t.data.proposal,
  );
  const target = resolveTarget(values.target);
  const domain = { kind: t.data.domain, disks: World.domainDisks(t.data.domain, 2, 256 * 1024) };
  const where = `${target.label} (${t.data.domain} domain)`;
  const r = await replayOps(proposal, () => startPort(target, domain), t.data.ops);
  if (r.unknown) {
    // a real QEMU that timed out or raced says nothing about the property
    console.log(`${where}: unknown: ${r.unknown}`);
    return 3;
  }
  const same = r.violated === t.data.property;
  console.log(`${where}: ${r.violated ? `${r.violated} fails: ${r.detail}` : 'no property fails'}`);
  console.log(
    same
      ? `same outcome as recorded (${t.data.property})`
      : `DIFFERENT: recorded ${t.data.property}: ${t.data.detail}`,
  );
  return same ? 0 : 1;
}
