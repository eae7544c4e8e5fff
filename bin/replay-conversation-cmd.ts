import fs from 'node:fs';
import { replayConversation } from '../checks/conversation/replay-conversation.ts';
import type { ConversationTrace } from '../contract/formats/conversation-trace.ts';
import { conversationReplayMarkdown, replaySummaryLines } from '../reports/conversation-replay.ts';

/**
 * `fleece-lab replay TRACE --target T[,T...]` of a recorded conversation (fleece-lab record): exit 0 when
 * every target answers as recorded, 1 when a step differs, 3 when a target could not replay it.
 */
export async function cmdReplayConversation(
  trace: ConversationTrace,
  file: string,
  values: { target: string; md?: string },
): Promise<number> {
  const targets = values.target
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const r = await replayConversation(trace, file, targets, (l) => console.error(l));
  for (const l of replaySummaryLines(r)) console.log(l);
  for (const o of r.outcomes)
    for (const d of o.differences.slice(0, 20))
      console.log(
        `  ${o.label} step ${d.step} ${d.label} ${d.path || '(only on one side)'}: ${d.class} (${d.note})`,
      );
  if (values.md) fs.writeFileSync(values.md, conversationReplayMarkdown(r, `Replay of ${file}`));
  if (r.outcomes.some((o) => o.broken.length > 0)) return 3;
  return r.outcomes.some((o) => o.differences.length > 0) ? 1 : 0;
}
