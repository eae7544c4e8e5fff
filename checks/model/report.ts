import type { TraceEntry } from '../../contract/port.ts';
import { PROPERTY_INFO } from '../../contract/properties.ts';
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
        // the checker's own looks at QEMU's state are not part of what the API did
        if (t.by === 'checker') break;
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

const MARK: Record<Verdict['status'], string> = {
  holds: 'holds ',
  fails: 'FAILS ',
  'not-expressible': 'n/a   ',
  'not-exercised': 'NOT EXERCISED',
  unknown: 'unknown',
};

function verdictLine(v: Verdict): string {
  const claim = v.claimed ? 'claimed' : 'not claimed';
  const what = PROPERTY_INFO[v.property].exercised;
  const tail =
    v.status === 'holds'
      ? `in all ${v.exercised} of ${v.runs} ${what}${v.reason ? `; ${v.reason}` : ''}`
      : v.status === 'fails'
        ? v.counterexample!.detail
        : (v.reason ?? '');
  return `  ${MARK[v.status].padEnd(6)} ${v.property.padEnd(26)} (${claim}) ${tail}`;
}

export function formatReport(r: ProposalReport, verbose = true): string {
  const rate = r.stats.ms > 0 ? Math.round((r.stats.qmpCommands / r.stats.ms) * 1000) : 0;
  const lines = [
    `${r.proposal} — ${r.title} (${r.domain} domain, sim:${r.profile}, seed ${r.seed}): ${r.stats.runs} runs, ${r.stats.qmpCommands} QMP commands in ${(r.stats.ms / 1000).toFixed(1)} s (${rate}/s)`,
  ];
  for (const v of r.verdicts) lines.push(verdictLine(v));
  const c = r.coverage;
  lines.push(
    `  API machine: ${c.covered}/${c.total} transitions taken${c.uncovered.length > 0 ? `; never: ${c.uncovered.map((t) => `${t.from} --${t.event}--> ${t.to}`).join(', ')}` : ''}`,
  );
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

/** Claims that did not hold: broken, or reached by no run (a claim nothing tested is no verdict). */
export function brokenClaims(r: ProposalReport): Verdict[] {
  return r.verdicts.filter((v) => v.claimed && (v.status === 'fails' || v.status === 'not-exercised'));
}
