import type { ConversationReplay } from '../checks/conversation/replay-conversation.ts';
import { CLASS_TEXT } from '../contract/formats/divergence-classes.ts';
import { show } from '../contract/formats/json-diff.ts';
import { mdEsc } from './probes.ts';

/** One line per target: steps compared, differences by class, what broke. */
export function replaySummaryLines(r: ConversationReplay): string[] {
  return r.outcomes.map((o) => {
    const by = new Map<string, number>();
    for (const d of o.differences) by.set(CLASS_TEXT[d.class], (by.get(CLASS_TEXT[d.class]) ?? 0) + 1);
    const classes = [...by].map(([c, n]) => `${n} ${c}`).join(', ');
    const broken = o.broken.length ? `; BROKEN: ${o.broken.join('; ')}` : '';
    return `${o.label} (${o.qemu}): ${o.steps} steps, ${o.differences.length === 0 ? 'same as recorded' : `${o.differences.length} differ (${classes})`}${broken}`;
  });
}

/** The replay as Markdown: the summary, then every differing step of every target. */
export function conversationReplayMarkdown(r: ConversationReplay, title: string): string {
  const out = [
    `# ${title}`,
    '',
    `Trace \`${r.trace}\` (${r.source.type}${r.source.libvirt ? `, libvirt ${r.source.libvirt}` : ''}), recorded on QEMU ${r.recordedOn}; ${r.connections} connection(s).`,
    '',
    ...replaySummaryLines(r).map((l) => `- ${l}`),
  ];
  for (const o of r.outcomes) {
    if (o.differences.length === 0 && o.timeouts.length === 0) continue;
    out.push('', `## ${o.label} (${o.qemu})`, '');
    if (o.timeouts.length) out.push(`Waits that ran out: ${o.timeouts.join('; ')}`, '');
    if (o.differences.length === 0) continue;
    out.push('| step | where | recorded | replayed | class | why |', '|---|---|---|---|---|---|');
    for (const d of o.differences)
      out.push(
        `| ${d.step} ${mdEsc(d.label)} | ${mdEsc(d.path || '—')} | ${mdEsc(show(d.recorded, 120))} | ${mdEsc(show(d.replayed, 120))} | ${CLASS_TEXT[d.class]} | ${mdEsc(d.note)} |`,
      );
  }
  return `${out.join('\n')}\n`;
}
