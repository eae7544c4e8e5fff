import { isDeepStrictEqual } from 'node:util';
import { classify } from '../checks/differential/classify.ts';
import {
  CLASS_TEXT,
  FAILING_CLASSES,
  type SimVsRealClass,
  simVsRealClass,
} from '../contract/formats/divergence-classes.ts';
import { type Difference, describeDifference, show, valueAt } from '../contract/formats/json-diff.ts';
import type { Matrix, MatrixCell, MatrixRow, VersionStep } from '../contract/formats/matrix.ts';
import type { CheckResult, CheckStatus, Results } from '../contract/formats/results.ts';
import { stepOf, type TranscriptData, transcriptDifference } from '../contract/formats/transcripts.ts';

/**
 * The version matrix (contract/formats/matrix.ts): check × QEMU version, the real QEMU's status and the
 * simulator's (same profile), whether they agree, and for every disagreement a class (decided by
 * checks/differential/classify.ts) and a reason:
 * - simulator-wrong: the simulator differs from that version's own real QEMU, whatever other real versions
 *   answer there (the reason says when it answers as another version does: its profile has the wrong
 *   version's behaviour);
 * - versions-differ: never a cell's class any more (the simulator equals its own real QEMU there, so the
 *   cell agrees); how real versions differ is each row's `versions` (the real-vs-real comparison);
 * - unexplained: no transcript shows why (e.g. a real run that broke, or differs from its own recording).
 * Agreement compares transcripts where both sides have one (a passing check's transcript is the recording
 * of real QEMU of that version), statuses otherwise.
 */
export interface MatrixSide {
  results: Results;
  /** transcripts of this run by check id (conform --traces) */
  traces?: Map<string, TranscriptData>;
}

export interface MatrixInput {
  versions: { version: string; real?: MatrixSide; sim?: MatrixSide }[];
  /** the recording of real QEMU of a version (conformance/golden): stands in for a passing check's transcript */
  recording?: (version: string, id: string) => TranscriptData | undefined;
  createdAt?: string;
  shard?: string;
}

function info(r: Results | undefined) {
  return r ? { target: r.target, version: r.qemu.version, package: r.qemu.package } : undefined;
}

export function buildMatrix(input: MatrixInput): Matrix {
  const rec = input.recording ?? (() => undefined);
  const ids: string[] = [];
  const titles = new Map<string, string | undefined>();
  const byId = new Map<string, Map<string, { real?: CheckResult; sim?: CheckResult }>>();
  for (const v of input.versions) {
    for (const side of ['real', 'sim'] as const) {
      for (const c of v[side]?.results.checks ?? []) {
        if (!byId.has(c.id)) {
          byId.set(c.id, new Map());
          ids.push(c.id);
        }
        if (!titles.get(c.id)) titles.set(c.id, c.title);
        const m = byId.get(c.id)!;
        const e = m.get(v.version) ?? {};
        e[side] = c;
        m.set(v.version, e);
      }
    }
  }
  /** a real transcript of a version for cross-version comparison: the run's, else the recording */
  const realAny = (version: string, id: string): TranscriptData | undefined => {
    const v = input.versions.find((x) => x.version === version);
    return v?.real?.traces?.get(id) ?? rec(version, id);
  };
  const rows: MatrixRow[] = ids.map((id) => {
    const cells: Record<string, MatrixCell> = {};
    for (const v of input.versions) {
      const e = byId.get(id)!.get(v.version) ?? {};
      cells[v.version] = classifyCell({
        id,
        version: v.version,
        real: e.real,
        sim: e.sim,
        realTrace: v.real?.traces?.get(id) ?? (e.real?.status === 'pass' ? rec(v.version, id) : undefined),
        simTrace: v.sim?.traces?.get(id) ?? (e.sim?.status === 'pass' ? rec(v.version, id) : undefined),
        recording: rec(v.version, id),
        others: input.versions
          .filter((w) => w.version !== v.version)
          .map((w) => ({ version: w.version, trace: realAny(w.version, id) }))
          .filter((w): w is { version: string; trace: TranscriptData } => w.trace !== undefined),
      });
    }
    const versions: VersionStep[] = [];
    for (let i = 1; i < input.versions.length; i++) {
      const a = input.versions[i - 1].version;
      const b = input.versions[i].version;
      versions.push(versionStepOf(a, b, realAny(a, id), realAny(b, id)));
    }
    return { id, title: titles.get(id), cells, versions };
  });
  return {
    tool: 'fleece-lab',
    kind: 'matrix',
    createdAt: input.createdAt ?? new Date().toISOString(),
    ...(input.shard ? { shard: input.shard } : {}),
    versions: input.versions.map((v) => ({
      version: v.version,
      real: info(v.real?.results),
      sim: info(v.sim?.results),
    })),
    rows,
  };
}

export function versionStepOf(
  a: string,
  b: string,
  ta: TranscriptData | undefined,
  tb: TranscriptData | undefined,
): VersionStep {
  if (!ta || !tb) return { from: a, to: b, same: null };
  const d = transcriptDifference(ta, tb);
  if (!d) return { from: a, to: b, same: true };
  return { from: a, to: b, same: false, where: located(d, ta, a, b) };
}

function located(d: Difference, t: TranscriptData, aName: string, bName: string): string {
  const at = stepOf(t, d.path);
  return `${at ? `${at}: ` : ''}${describeDifference(d, aName, bName)}`;
}

export interface CellInput {
  id: string;
  version: string;
  real?: CheckResult;
  sim?: CheckResult;
  realTrace?: TranscriptData;
  simTrace?: TranscriptData;
  recording?: TranscriptData;
  /** real transcripts of the other versions */
  others: { version: string; trace: TranscriptData }[];
}

/** One cell of the matrix: agreement and, for a disagreement, its class (classify) and reason. */
export function classifyCell(c: CellInput): MatrixCell {
  const { real: R, sim: S, version: v } = c;
  const base = { real: R?.status, sim: S?.status };
  if (!R || !S) return { ...base, agree: null };
  const unexplained = (reason: string): MatrixCell => ({
    ...base,
    agree: false,
    class: classify({ established: false }),
    reason,
  });
  if (R.status === 'skip' || S.status === 'skip') {
    if (R.status === S.status) return { ...base, agree: true };
    return unexplained(`real ${statusText(R)}; sim:${v} ${statusText(S)}`);
  }
  const known = S.status === 'xfail' && S.reason ? `; known: ${S.reason}` : '';
  if (c.realTrace && c.simTrace) {
    const d = transcriptDifference(c.simTrace, c.realTrace);
    if (!d) return { ...base, agree: true };
    const at = stepOf(c.realTrace, d.path) ?? stepOf(c.simTrace, d.path);
    const where = `${d.path}${at ? ` (${at})` : ''}`;
    if (R.status === 'fail' && c.recording) {
      const own = transcriptDifference(c.realTrace, c.recording);
      if (own)
        return unexplained(
          `real QEMU ${v} differs from its own recording: ${describeDifference(own, 'got', 'recorded')}`,
        );
    }
    // Against its own real QEMU first: a difference there is the simulator's, whatever other versions
    // answer. That it answers as another version does only says where its profile went wrong.
    const realHere = valueAt(c.realTrace, d.path);
    const simHere = valueAt(c.simTrace, d.path);
    const like = c.others.filter((o) => isDeepStrictEqual(valueAt(o.trace, d.path), simHere));
    const differing = c.others.filter((o) => !isDeepStrictEqual(valueAt(o.trace, d.path), realHere));
    const agreeing = c.others.filter((o) => !differing.includes(o)).map((o) => o.version);
    const context = [
      like.length > 0
        ? `sim:${v} answers as real QEMU ${like.map((o) => o.version).join(', ')} ${like.length > 1 ? 'do' : 'does'} (its profile has another version's behaviour)`
        : '',
      differing.length > 0
        ? `real versions differ here too (${differing.map((o) => `${o.version}: ${show(valueAt(o.trace, d.path), 80)}`).join('; ')})`
        : agreeing.length > 0
          ? `real ${agreeing.join(', ')} answer as ${v} does`
          : '',
    ]
      .filter((x) => x !== '')
      .map((x) => `; ${x}`)
      .join('');
    return {
      ...base,
      agree: false,
      class: classify({ established: true, pair: 'sim-vs-real' }),
      reason: `${where}: sim:${v} ${show(simHere)}, real QEMU ${v} ${show(realHere)}${context}${known}`,
    };
  }
  if (R.status === S.status && (R.status !== 'fail' || R.reason === S.reason))
    return { ...base, agree: true };
  if (S.status === 'xfail' && R.status === 'pass')
    return {
      ...base,
      agree: false,
      class: classify({ established: true, pair: 'sim-vs-real' }),
      reason: `known: ${S.reason ?? ''}`,
    };
  return unexplained(`real ${statusText(R)}; sim:${v} ${statusText(S)}; no transcripts to compare`);
}

function statusText(c: CheckResult): string {
  return `${c.status}${c.reason ? ` (${c.reason.slice(0, 200)})` : ''}`;
}

/** per version: the statuses on each side, and how many cells agree, were not compared, or differ by class */
export type MatrixSummary = {
  version: string;
  real: Record<CheckStatus, number> | undefined;
  sim: Record<CheckStatus, number> | undefined;
  agree: number;
  notCompared: number;
} & Record<SimVsRealClass, number>;

export function summarizeMatrix(m: Matrix): MatrixSummary[] {
  return m.versions.map((v) => {
    const s: MatrixSummary = {
      version: v.version,
      real: v.real ? countStatus(m, v.version, 'real') : undefined,
      sim: v.sim ? countStatus(m, v.version, 'sim') : undefined,
      agree: 0,
      notCompared: 0,
      ...(Object.fromEntries(simVsRealClass.options.map((c) => [c, 0])) as Record<SimVsRealClass, number>),
    };
    for (const r of m.rows) {
      const c = r.cells[v.version];
      if (!c || c.agree === null) s.notCompared++;
      else if (c.agree) s.agree++;
      else s[c.class ?? 'unexplained']++;
    }
    return s;
  });
}

function countStatus(m: Matrix, version: string, side: 'real' | 'sim'): Record<CheckStatus, number> {
  const out: Record<CheckStatus, number> = { pass: 0, fail: 0, skip: 0, xfail: 0 };
  for (const r of m.rows) {
    const s = r.cells[version]?.[side];
    if (s) out[s]++;
  }
  return out;
}

export interface Explained {
  id: string;
  version: string;
  real?: CheckStatus;
  sim?: CheckStatus;
  class: SimVsRealClass;
  reason: string;
}

/** every disagreement, in row order */
export function disagreements(m: Matrix): Explained[] {
  const out: Explained[] = [];
  for (const r of m.rows)
    for (const v of m.versions) {
      const c = r.cells[v.version];
      if (c && c.agree === false)
        out.push({
          id: r.id,
          version: v.version,
          real: c.real,
          sim: c.sim,
          class: c.class ?? 'unexplained',
          reason: c.reason ?? '',
        });
    }
  return out;
}

/**
 * The disagreements that fail the gate (`fleece-lab matrix` exits 1): every class in FAILING_CLASSES, except
 * a simulator-wrong cell the simulator run reported as xfail — the conformance runner gives xfail only when
 * every difference from the recording lies in the step and paths the runbook's known difference names.
 */
export function gateFailures(m: Matrix): Explained[] {
  return disagreements(m).filter(
    (d) => FAILING_CLASSES.includes(d.class) && !(d.class === 'simulator-wrong' && d.sim === 'xfail'),
  );
}

const mdEsc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function cellText(c: MatrixCell | undefined): string {
  if (!c) return '–';
  const pair = c.real === c.sim ? (c.real ?? '–') : `${c.real ?? '–'}/${c.sim ?? '–'}`;
  if (c.agree === null) return `${pair} (not compared)`;
  if (c.agree) return pair;
  return `${pair} ✗ ${CLASS_TEXT[c.class ?? 'unexplained']}`;
}

function counts(s: Record<CheckStatus, number> | undefined): string {
  return s ? `${s.pass}/${s.fail}/${s.skip}/${s.xfail}` : '–';
}

/** per version: the real QEMU, the statuses on each side and the cells by class (matrix.md, the README) */
export function matrixSummaryTable(m: Matrix): string[] {
  const sums = summarizeMatrix(m);
  const lines = [
    '| version | real QEMU | package | real pass/fail/skip/xfail | sim pass/fail/skip/xfail | agree | simulator wrong | versions differ | unexplained | not compared |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [i, v] of m.versions.entries()) {
    const s = sums[i];
    lines.push(
      `| ${v.version} | ${v.real ? `${v.real.target}` : '(not run)'} | ${v.real?.package ?? '–'} | ${counts(s.real)} | ${counts(s.sim)} | ${s.agree} | ${s['simulator-wrong']} | ${s['versions-differ']} | ${s.unexplained} | ${s.notCompared} |`,
    );
  }
  return lines;
}

export function matrixMarkdown(m: Matrix): string {
  const lines = [
    '# fleece-lab version matrix',
    '',
    `Made ${m.createdAt}${m.shard ? ` (shard ${m.shard})` : ''}. Each check ran on the real QEMU and on the simulator with the matching profile; both are compared with the recording of that real QEMU version. A cell reads \`real/sim\` (one word when they are the same).`,
    '',
    ...matrixSummaryTable(m),
  ];
  const dis = disagreements(m);
  lines.push('', '## Differences between the simulator and real QEMU', '');
  if (dis.length === 0) lines.push('None: the simulator agrees with real QEMU on every check compared.');
  else
    lines.push(
      `${dis.length} cell${dis.length === 1 ? ' differs' : 's differ'}; each is classified below with its check and reason (simulator wrong: the simulator differs from that version's own real QEMU, whatever other versions answer; a known one is a runbook's xfail, which names the step and paths it excuses; how real versions differ from each other is the next section).`,
    );
  for (const cls of simVsRealClass.options) {
    const these = dis.filter((d) => d.class === cls);
    lines.push('', `### ${CLASS_TEXT[cls]} (${these.length})`, '');
    if (these.length === 0) {
      lines.push('None.');
      continue;
    }
    lines.push('| check | version | real | sim | reason |', '|---|---|---|---|---|');
    for (const d of these)
      lines.push(
        `| ${d.id} | ${d.version} | ${d.real ?? '–'} | ${d.sim ?? '–'} | ${mdEsc(d.reason.slice(0, 500))} |`,
      );
  }
  const changed = m.rows.filter((r) => r.versions.some((s) => s.same === false));
  lines.push(
    '',
    `## Real QEMU versions differ (${changed.length} checks)`,
    '',
    'The differential comparison of real transcripts between consecutive versions: the first place each check differs.',
    '',
  );
  if (changed.length > 0) {
    const steps = m.rows[0]?.versions ?? [];
    lines.push(
      `| check | ${steps.map((s) => `${s.from} → ${s.to}`).join(' | ')} |`,
      `|---|${steps.map(() => '---').join('|')}|`,
    );
    for (const r of changed)
      lines.push(
        `| ${r.id} | ${r.versions.map((s) => (s.same === null ? '–' : s.same ? 'same' : mdEsc((s.where ?? 'differs').slice(0, 240)))).join(' | ')} |`,
      );
  }
  lines.push(
    '',
    '## Matrix',
    '',
    `| check | ${m.versions.map((v) => v.version).join(' | ')} |`,
    `|---|${m.versions.map(() => '---').join('|')}|`,
  );
  for (const r of m.rows)
    lines.push(`| ${r.id} | ${m.versions.map((v) => cellText(r.cells[v.version])).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}
