import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { replayOps } from '../checks/model/replay.ts';
import type { OpSpec } from '../checks/model/world.ts';
import { World } from '../checks/model/world.ts';
import { parseJsonText } from '../contract/json-text.ts';
import { savedOpSchema } from '../contract/proposals/ops.ts';
import { issuePath, oneLine } from '../contract/results.ts';
import { startPort } from '../harness/start-port.ts';
import { resolveTarget } from '../harness/targets/target-spec.ts';

const savedTrace = z.object({
  proposal: z.string(),
  /** a proposal file of the user's, relative to the trace's folder */
  file: z.string().optional(),
  /** traces saved before the VM domain were made on qemu-storage-daemon */
  domain: z.enum(['vm', 'qsd']).default('qsd'),
  profile: z.string(),
  property: z.string(),
  detail: z.string(),
  ops: z.array(z.record(z.unknown())),
});

/** A trace saved by `fleece-lab check`, or one line naming the file and the field (or line:column) that is wrong. */
export function parseSavedTrace(text: string, file: string): z.infer<typeof savedTrace> & { ops: OpSpec[] } {
  const raw = parseJsonText(text, file);
  const t = savedTrace.extend({ ops: z.array(savedOpSchema) }).safeParse(raw);
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
  const proposal = await loadProposal(
    t.data.file ? path.join(path.dirname(file), t.data.file) : t.data.proposal,
  );
  const target = resolveTarget(values.target);
  const domain = { kind: t.data.domain, disks: World.domainDisks(t.data.domain, 2, 256 * 1024) };
  const where = `${target.label} (${t.data.domain} domain)`;
  const r = await replayOps(proposal, () => startPort(target, domain), t.data.ops as OpSpec[]);
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
