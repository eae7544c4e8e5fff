import fs from 'node:fs';
import { z } from 'zod';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { replayOps } from '../checks/model/replay.ts';
import type { OpSpec } from '../checks/model/world.ts';
import { parseJsonText } from '../contract/json-text.ts';
import { issuePath, oneLine } from '../contract/results.ts';
import { QemuPort } from '../harness/qemu-port.ts';
import { SimPort } from '../harness/sim-port.ts';
import { resolveTarget } from '../harness/targets/target-spec.ts';

const savedTrace = z.object({
  proposal: z.string(),
  profile: z.string(),
  property: z.string(),
  detail: z.string(),
  ops: z.array(z.record(z.unknown())),
});

const nat = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const len = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const inject = z.object({
  after: nat,
  disk: nat,
  offset: nat,
  length: len,
  pattern: z.number().int().min(0).max(255),
});
/** the operations of a saved trace (checks/model/world.ts OpSpec), checked before any of them runs */
const opSpec = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('write'),
    disk: nat,
    offset: nat,
    length: len,
    pattern: z.number().int().min(0).max(255),
  }),
  z.object({ op: z.literal('start'), disks: z.array(nat), inject: z.array(inject) }),
  z.object({ op: z.literal('read'), session: nat, disk: nat, offset: nat, length: len }),
  z.object({ op: z.literal('stats'), session: nat }),
  z.object({ op: z.literal('stop'), session: nat, inject: z.array(inject).optional() }),
]);

/** A trace saved by `fleece-lab check`, or one line naming the file and the field (or line:column) that is wrong. */
export function parseSavedTrace(text: string, file: string): z.infer<typeof savedTrace> & { ops: OpSpec[] } {
  const raw = parseJsonText(text, file);
  const t = savedTrace.extend({ ops: z.array(opSpec) }).safeParse(raw);
  if (!t.success) {
    const i = t.error.issues[0];
    throw new Error(`${file}: ${issuePath(i.path)}: ${oneLine(i.message)}`);
  }
  return t.data as z.infer<typeof savedTrace> & { ops: OpSpec[] };
}

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
