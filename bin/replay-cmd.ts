import fs from 'node:fs';
import path from 'node:path';
import { loadProposal } from '../checks/model/load-proposal.ts';
import { replayOps } from '../checks/model/replay.ts';
import { World } from '../checks/model/world.ts';
import { isConversationTrace, parseConversationTrace } from '../contract/formats/conversation-trace.ts';
import { parseSavedTrace } from '../contract/formats/saved-runs.ts';
import { isScenario, parseScenario } from '../contract/formats/scenarios.ts';
import { parseJsonText } from '../contract/json-text.ts';
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
  const target = resolveTarget(values.target);
  const domain = World.domainFor(proposal, t.data.domain, 2, 256 * 1024);
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

/** A scenario: the property it must break (or none) and the properties it must reach. */
async function replayScenario(values: { target: string }, text: string, file: string): Promise<number> {
  const s = parseScenario(text, file);
  const proposal = await loadProposal(s.proposal);
  const target = resolveTarget(values.target);
  const domain = World.domainFor(proposal, s.domain, 2, 256 * 1024);
  const where = `${target.label} (${s.domain} domain)`;
  console.log(`${s.scenario}`);
  if (target.profile && !s.versions.includes(target.profile))
    console.log(`note: the scenario is meant for ${s.versions.join(', ')}, not ${target.profile}`);
  const r = await replayOps(proposal, () => startPort(target, domain), s.ops);
  if (r.unknown) {
    console.log(`${where}: unknown: ${r.unknown}`);
    return 3;
  }
  const missed = s.reaches.filter((p) => !r.exercised.includes(p as (typeof r.exercised)[number]));
  console.log(`${where}: ${r.violated ? `${r.violated} fails: ${r.detail}` : 'no property fails'}`);
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
