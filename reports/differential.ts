import type { DifferentialReport } from '../contract/formats/differential.ts';
import { CLASS_TEXT } from '../contract/formats/divergence-classes.ts';
import { show } from '../contract/formats/json-diff.ts';

function opLine(op: Record<string, unknown>): string {
  return JSON.stringify(op);
}

/** The differential replay report as Markdown: traces per version, then each divergence with its minimal trace. */
export function differentialMarkdown(r: DifferentialReport): string {
  const L: string[] = [];
  L.push('# Differential replay', '');
  L.push(
    `${r.replayed} of ${r.traces} saved runs of \`fleece-lab check\` (${r.traceSource}) replayed on the simulator and on real QEMU, ` +
      `${r.jobs} at a time, in ${(r.durationMs / 1000).toFixed(0)} s (shrinking ${(r.shrinkMs / 1000).toFixed(0)} s); ${r.createdAt}.`,
    '',
  );
  L.push(`Outcome compared step by step: ${r.outcome}`, '');
  L.push(
    '| version | real QEMU | replayed (real) | replayed (sim) | skipped | broken |',
    '|---|---|---|---|---|---|',
  );
  for (const v of r.versions) {
    const why = Object.entries(v.skipReasons)
      .map(([k, n]) => `${n}: ${k}`)
      .join('; ');
    L.push(
      `| ${v.version} | ${v.real ? `${v.real.version} (${v.real.package})` : '—'} | ${v.replayed} | ${v.simReplayed} | ${v.skipped}${why ? ` (${why})` : ''} | ${v.broken} |`,
    );
  }
  L.push(
    '',
    `Proposals: ${Object.entries(r.proposals)
      .map(([p, n]) => `${p} ${n}`)
      .join(', ')}.`,
    '',
  );
  const count = (c: string) => r.divergences.filter((d) => d.class === c).length;
  L.push(
    `**${r.divergences.length} divergence(s)**: simulator wrong ${count('simulator-wrong')}, versions differ ${count('versions-differ')}, both ${count('both')}, unexplained ${count('unexplained')}.`,
    '',
  );
  if (r.broken.length > 0) {
    L.push(`Runs that broke (nothing compared): ${r.broken.length}`, '');
    for (const b of r.broken.slice(0, 20)) L.push(`- ${b.side} ${b.source}: ${b.reason}`);
    L.push('');
  }
  for (const d of r.divergences) {
    L.push(`## ${d.id} — ${CLASS_TEXT[d.class]}: ${d.pair[0]} vs ${d.pair[1]}`, '');
    if (d.alsoOn.length > 0) L.push(`- the same on: ${d.alsoOn.join(', ')}`);
    L.push(`- what differs: \`${d.signature}\` at step **${d.step}**`);
    L.push(`- ${d.pair[0]}: \`${show(d.a, 300)}\``);
    L.push(`- ${d.pair[1]}: \`${show(d.b, 300)}\``);
    if (d.simWrongAt.length > 0)
      L.push(`- the simulator also differs from real QEMU there: ${d.simWrongAt.join(', ')}`);
    L.push(
      `- seen in ${d.traces} trace(s), e.g. \`${d.example}\`; ${d.proposal}, shrunk from ${d.shrunkFrom} to ${d.minimal.length} operation(s) in ${d.shrinkReplays} replays`,
    );
    if (d.note) L.push(`- note: ${d.note}`);
    L.push(`- replay: \`${d.replay}\``, '');
    L.push('Minimal trace (operations):', '', '```');
    L.push(
      ...(d.minimal.length > 0 ? d.minimal.map(opLine) : ['(none: the domain setup and teardown only)']),
    );
    L.push('```', '');
    for (const [side, lines] of [
      [d.pair[0], d.qmp.a],
      [d.pair[1], d.qmp.b],
    ] as const) {
      L.push(`QMP trace on ${side}:`, '', '```', ...lines, '```', '');
    }
  }
  return `${L.join('\n')}\n`;
}
