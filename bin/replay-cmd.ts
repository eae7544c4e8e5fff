import fs from 'node:fs';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { replayOps } from '../checks/model/replay.ts';
import { parseSavedTrace } from '../contract/formats/saved-runs.ts';
import { QemuPort } from '../harness/qemu-port.ts';
import { SimPort } from '../harness/sim-port.ts';
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
  const proposal = await loadProposal(t.data.proposal);
  const target = resolveTarget(values.target);
  const spec = target.spec('qsd');
  if (spec.kind === 'attach')
    throw new Error('replay needs a target it starts itself (sim:P, serve:P, qsd[:X]), not qmp:SOCKET');
  const port =
    spec.kind === 'sim'
      ? new SimPort(target.profile, 1)
      : await QemuPort.start({
          profile: target.profile,
          argvPrefix: spec.argvPrefix,
          env: spec.env,
          qemuImg: spec.qemuImg,
          label: target.label,
        });
  const r = await replayOps(proposal, port, t.data.ops);
  const same = r.violated === t.data.property;
  console.log(`${target.label}: ${r.violated ? `${r.violated} fails: ${r.detail}` : 'no property fails'}`);
  console.log(
    same
      ? `same outcome as recorded (${t.data.property})`
      : `DIFFERENT: recorded ${t.data.property}: ${t.data.detail}`,
  );
  return same ? 0 : 1;
}
