import fs from 'node:fs';
import path from 'node:path';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { type Outcome, replayOps } from '../checks/model/replay.ts';
import { World } from '../checks/model/world.ts';
import { isConversationTrace, parseConversationTrace } from '../contract/formats/conversation-trace.ts';
import { parseSavedTrace } from '../contract/formats/saved-runs.ts';
import { isScenario, parseScenario } from '../contract/formats/scenarios.ts';
import { parseJsonText } from '../contract/json-text.ts';
import type { DomainKind } from '../contract/port.ts';
import type { Proposal } from '../contract/proposals/define.ts';
import type { OpSpec } from '../contract/proposals/ops.ts';
import { startPort } from '../harness/start-port.ts';
import { resolveTarget } from '../harness/targets/target-spec.ts';

/**
 * `fleece-lab replay TRACE --target T`: does the target give the outcome the trace recorded? A recorded
 * conversation (fleece-lab record) goes to replay-conversation-cmd.ts.
 */
export async function cmdReplay(
  values: { target: string; md?: string },
  positionals: string[],
): Promise<number> {
  const file = positionals[0];
  if (!file) throw new Error('replay: which trace? (a file written by fleece-lab check)');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const raw = parseJsonText(text, file);
  if (isConversationTrace(raw))
    return (await import('./replay-conversation-cmd.ts')).cmdReplayConversation(
      parseConversationTrace(text, file),
      file,
      values,
    );
  if (isScenario(raw)) return replayScenario(values, text, file);
  const t = { data: parseSavedTrace(text, file) };
  const proposal = await loadProposal(
    t.data.file ? path.join(path.dirname(file), t.data.file) : t.data.proposal,
  );
  const r = await replayOn(values.target, proposal, t.data.domain, t.data.ops);
  if (!r) return 3;
  const same = r.violated === t.data.property;
  console.log(
    same
      ? `same outcome as recorded (${t.data.property})`
      : `DIFFERENT: recorded ${t.data.property}: ${t.data.detail}`,
  );
  return same ? 0 : 1;
}

/** A scenario: the property it must break (or none) and the properties it must reach. */
async function replayScenario(values: { target: string }, text: string, file: string): Promise<number> {
  const s = parseScenario(text, file);
  const proposal = await loadProposal(s.proposal);
  console.log(`${s.scenario}`);
  const profile = resolveTarget(values.target).profile;
  if (profile && !s.versions.includes(profile))
    console.log(`note: the scenario is meant for ${s.versions.join(', ')}, not ${profile}`);
  const r = await replayOn(values.target, proposal, s.domain, s.ops);
  if (!r) return 3;
  const missed = s.reaches.filter((p) => !r.exercised.includes(p as (typeof r.exercised)[number]));
  if (s.reaches.length > 0) console.log(`reached: ${r.exercised.join(', ') || 'nothing'}`);
  const same = r.violated === s.fails && missed.length === 0;
  const want = s.fails ? `${s.fails} fails` : 'no property fails';
  console.log(
    same
      ? `same outcome as the scenario (${want})`
      : `DIFFERENT: the scenario has ${want}${missed.length ? `, and reaches ${missed.join(', ')}, which this run did not` : ''}`,
  );
  return same ? 0 : 1;
}

/**
 * A run's operations on a fresh QEMU of the target, with the domain it was made on, its outcome printed;
 * undefined when the outcome is unknown (a real QEMU that timed out or raced says nothing about the property).
 */
async function replayOn(
  targetSpec: string,
  proposal: Proposal,
  kind: DomainKind,
  ops: OpSpec[],
): Promise<Outcome | undefined> {
  const target = resolveTarget(targetSpec);
  const domain = World.domainFor(proposal, kind, 2, 256 * 1024);
  const where = `${target.label} (${kind} domain)`;
  const r = await replayOps(proposal, () => startPort(target, domain), ops);
  if (r.unknown) {
    console.log(`${where}: unknown: ${r.unknown}`);
    return undefined;
  }
  console.log(`${where}: ${r.violated ? `${r.violated} fails: ${r.detail}` : 'no property fails'}`);
  return r;
}
