import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { resolveTarget } from '../conformance/target-spec.ts';
import { QemuPort } from '../model/qemu-port.ts';
import { replayOps } from '../model/replay.ts';
import { SimPort } from '../model/sim-port.ts';
import type { OpSpec } from '../model/world.ts';
import { loadProposal } from './check-cmd.ts';

const savedTrace = z.object({
  proposal: z.string(),
  profile: z.string(),
  property: z.string(),
  detail: z.string(),
  ops: z.array(z.record(z.unknown())),
});

/** `fleece-lab replay TRACE --target T`: does the target give the outcome the trace recorded? */
export async function cmdReplay(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { target: { type: 'string', default: 'sim:7.2' } },
  });
  const file = positionals[0];
  if (!file) throw new Error('replay: which trace? (a file written by fleece-lab check)');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const t = savedTrace.safeParse(raw);
  if (!t.success)
    throw new Error(`${file}: ${t.error.issues[0].path.join('.')}: ${t.error.issues[0].message}`);
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
  const r = await replayOps(proposal, port, t.data.ops as OpSpec[]);
  const same = r.violated === t.data.property;
  console.log(`${target.label}: ${r.violated ? `${r.violated} fails: ${r.detail}` : 'no property fails'}`);
  console.log(
    same
      ? `same outcome as recorded (${t.data.property})`
      : `DIFFERENT: recorded ${t.data.property}: ${t.data.detail}`,
  );
  return same ? 0 : 1;
}
