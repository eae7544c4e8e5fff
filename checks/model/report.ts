import type { TraceEntry } from '../../contract/port.ts';
import type { ProposalReport, Verdict } from './check.ts';

/** Human-readable check results: a verdict per property, counterexamples as API and QMP traces. */
export function formatTrace(all: TraceEntry[], max = 80): { api: string[]; qmp: string[] } {
  const api: string[] = [];
  const qmp: string[] = [];
  // the domain's setup (disks, guest exports) is the same in every run: show what came after it
  const setup = all.findIndex((t) => t.kind === 'note' && t.text === 'setup done');
  const trace = setup >= 0 ? all.slice(setup + 1) : all;
  for (const t of trace) {
    switch (t.kind) {
      case 'api':
        api.push(
          `${t.call}(${JSON.stringify(t.params)}) ${t.error ? `FAILED: ${t.error}` : `-> ${JSON.stringify(t.result) ?? 'ok'}`}`,
        );
        break;
      case 'guest-write':
        api.push(
          `  guest writes 0x${t.pattern.toString(16)} to ${t.disk} at ${t.offset}+${t.length}${t.error ? ` FAILED: ${t.error}` : ''}`,
        );
        qmp.push(`   (guest writes 0x${t.pattern.toString(16)} to ${t.disk} at ${t.offset}+${t.length})`);
        break;
      case 'read':
        if (t.export.startsWith('guest-')) break;
        api.push(
          `  reader reads ${t.export} at ${t.offset}+${t.length}${t.error ? ` FAILED: ${t.error}` : ''}`,
        );
        break;
      case 'qmp': {
        const r = t.reply as { error?: { class: string; desc: string }; return?: unknown };
        qmp.push(`-> ${t.command} ${t.args ? JSON.stringify(t.args) : ''}`);
        qmp.push(
          `<- ${r.error ? `error ${r.error.class}: ${r.error.desc}` : JSON.stringify(r.return).slice(0, 160)}`,
        );
        break;
      }
      case 'event':
        qmp.push(`   event ${t.event} ${JSON.stringify(t.data ?? {})}`);
        break;
      case 'note':
        break;
    }
  }
  return { api: api.slice(0, max), qmp: qmp.slice(0, max * 2) };
}

function verdictLine(v: Verdict): string {
  const mark = v.status === 'holds' ? 'holds ' : v.status === 'fails' ? 'FAILS ' : 'n/a   ';
  const claim = v.claimed ? 'claimed' : 'not claimed';
  const tail =
    v.status === 'holds'
      ? `after ${v.runs} runs`
      : v.status === 'fails'
        ? v.counterexample!.detail
        : (v.reason ?? '');
  return `  ${mark} ${v.property.padEnd(26)} (${claim}) ${tail}`;
}

export function formatReport(r: ProposalReport, verbose = true): string {
  const rate = r.stats.ms > 0 ? Math.round((r.stats.qmpCommands / r.stats.ms) * 1000) : 0;
  const lines = [
    `${r.proposal} — ${r.title} (sim:${r.profile}, seed ${r.seed}): ${r.stats.runs} runs, ${r.stats.qmpCommands} QMP commands in ${(r.stats.ms / 1000).toFixed(1)} s (${rate}/s)`,
  ];
  for (const v of r.verdicts) lines.push(verdictLine(v));
  if (!verbose) return lines.join('\n');
  for (const v of r.verdicts) {
    const c = v.counterexample;
    if (!c) continue;
    const t = formatTrace(c.trace, 40);
    lines.push(
      '',
      `counterexample for ${v.property} (shrunk, found in ${(c.ms / 1000).toFixed(2)} s):`,
      '  API trace:',
    );
    lines.push(...t.api.map((l) => `    ${l}`));
    lines.push('  QMP trace:');
    lines.push(...t.qmp.map((l) => `    ${l}`));
    lines.push(`  replay: ${c.replay}`);
  }
  return lines.join('\n');
}

/** Did the proposal break a promise it made? */
export function brokenClaims(r: ProposalReport): Verdict[] {
  return r.verdicts.filter((v) => v.claimed && v.status === 'fails');
}
