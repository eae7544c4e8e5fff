/**
 * The fuzz runner's core: a target turns one generated input into an outcome class ("accepted",
 * "rejected: checks.N.status", ...). Input number K of a run is generated from (seed, K) alone, so any input
 * replays by itself (`--replay K`). An exec that throws is a crash unless it threw a Breach (an invariant
 * of the target broken, also counted as a crash); one that does not settle within the target's bound is a
 * hang. Both make the run fail.
 */
import fc from 'fast-check';

export interface FuzzTarget<I = unknown, S = unknown> {
  name: string;
  /** one line: what is fuzzed and what must hold */
  what: string;
  input: fc.Arbitrary<I>;
  setup(): Promise<S>;
  /** run one input; returns its outcome class; throws Breach when an invariant is broken */
  exec(state: S, input: I): Promise<string> | string;
  /** a health check run every `checkEvery` inputs and at the end (e.g. a fresh connection still answers) */
  check?(state: S): Promise<void>;
  checkEvery?: number;
  teardown(state: S): Promise<void>;
  /** inputs in flight at once (socket targets) */
  concurrency?: number;
  /** an input that has not settled after this long is a hang (default 5000 ms) */
  timeoutMs?: number;
  /** a short text of an input, for --replay and failure reports */
  show?(input: I): string;
}

/** An invariant of the target broke on this input. */
export class Breach extends Error {
  override readonly name = 'Breach';
}

export interface Failure {
  index: number;
  kind: 'crash' | 'hang';
  message: string;
}

export interface TargetReport {
  target: string;
  what: string;
  seed: number;
  inputs: number;
  classes: Record<string, number>;
  crashes: number;
  hangs: number;
  seconds: number;
  /** why the run stopped: every input asked for was run, or the time cap came first */
  stoppedBy: 'count' | 'time';
  failures: Failure[];
}

export interface RunOptions {
  count: number;
  seconds: number;
  seed: number;
  /** run only this input (--replay K) */
  replay?: number;
  log?: (line: string) => void;
}

/** Input K of a run: a function of (seed, K) only. */
export function inputAt<I>(arb: fc.Arbitrary<I>, seed: number, index: number): I {
  const s = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) | 0;
  return fc.sample(arb, { seed: s, numRuns: 1 })[0];
}

/** One line, at most `max` characters, control characters escaped. */
export function oneLine(s: string, max = 200): string {
  const t = JSON.stringify(s).slice(1, -1);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** Breach unless `msg` is one line, not empty, with no stack-trace look. */
export function assertOneLine(msg: string, what: string): void {
  if (msg.trim() === '') throw new Breach(`${what}: empty error message`);
  if (/[\r\n]/.test(msg)) throw new Breach(`${what}: error message of several lines: ${oneLine(msg)}`);
  if (/\bat .*:\d+:\d+\)?$/.test(msg))
    throw new Breach(`${what}: a stack frame in the message: ${oneLine(msg)}`);
}

/** Raw JavaScript errors a loader must never let out: they name neither the file nor the field. */
export function isRawJsError(e: unknown): boolean {
  return (
    e instanceof TypeError ||
    e instanceof RangeError ||
    e instanceof SyntaxError ||
    e instanceof ReferenceError ||
    !(e instanceof Error)
  );
}

/** Digits, quoted texts and long tails out, so that outcome classes group like inputs together. */
export function normalizeClass(s: string, max = 70): string {
  const t = s
    .replace(/'[^']*'/g, "'…'")
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof HANG> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<typeof HANG>((r) => {
    timer = setTimeout(() => r(HANG), ms);
  });
  return Promise.race([p, bound]).finally(() => clearTimeout(timer));
}
const HANG = Symbol('hang');

export function replayCommand(target: string, seed: number, index: number): string {
  return `npm run fuzz -- --only ${target} --seed ${seed} --replay ${index}`;
}

/** Runs one target: `count` inputs or `seconds`, whichever comes first (or the one input of `replay`). */
export async function runTarget<I, S>(t: FuzzTarget<I, S>, o: RunOptions): Promise<TargetReport> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const deadline = t0 + o.seconds * 1000;
  const timeoutMs = t.timeoutMs ?? 5000;
  const report: TargetReport = {
    target: t.name,
    what: t.what,
    seed: o.seed,
    inputs: 0,
    classes: {},
    crashes: 0,
    hangs: 0,
    seconds: 0,
    stoppedBy: 'count',
    failures: [],
  };
  const fail = (f: Failure) => {
    if (f.kind === 'crash') report.crashes++;
    else report.hangs++;
    if (report.failures.length < 20) report.failures.push(f);
    log(
      `  ${f.kind.toUpperCase()} ${t.name} input ${f.index}: ${oneLine(f.message, 300)} — replay: ${replayCommand(t.name, o.seed, f.index)}`,
    );
  };
  const state = await t.setup();
  const runOne = async (index: number): Promise<void> => {
    let input: I;
    try {
      input = inputAt(t.input, o.seed, index);
    } catch (e) {
      fail({ index, kind: 'crash', message: `generating the input: ${errorText(e)}` });
      return;
    }
    if (o.replay !== undefined)
      log(`  input ${index}: ${t.show ? t.show(input) : oneLine(safeJson(input), 2000)}`);
    report.inputs++;
    try {
      const r = await withTimeout(
        Promise.resolve().then(() => t.exec(state, input)),
        timeoutMs,
      );
      if (r === HANG) {
        fail({ index, kind: 'hang', message: `no outcome within ${timeoutMs} ms` });
        return;
      }
      report.classes[r] = (report.classes[r] ?? 0) + 1;
      if (o.replay !== undefined) log(`  outcome: ${r}`);
    } catch (e) {
      fail({ index, kind: 'crash', message: errorText(e) });
    }
  };
  const health = async (at: number): Promise<void> => {
    if (!t.check) return;
    try {
      const r = await withTimeout(t.check(state), timeoutMs * 2);
      if (r === HANG) fail({ index: at, kind: 'hang', message: 'health check: no answer' });
    } catch (e) {
      fail({ index: at, kind: 'crash', message: `health check after input ${at}: ${errorText(e)}` });
    }
  };
  try {
    if (o.replay !== undefined) {
      await runOne(o.replay);
      await health(o.replay);
    } else {
      const width = Math.max(1, t.concurrency ?? 1);
      const every = t.checkEvery ?? 1000;
      let next = 0;
      let sinceCheck = 0;
      while (next < o.count) {
        if (performance.now() >= deadline) {
          report.stoppedBy = 'time';
          break;
        }
        const batch: Promise<void>[] = [];
        for (let i = 0; i < width && next < o.count; i++) batch.push(runOne(next++));
        await Promise.all(batch);
        sinceCheck += batch.length;
        if (sinceCheck >= every) {
          sinceCheck = 0;
          await health(next - 1);
        }
      }
      await health(next - 1);
    }
  } finally {
    await t.teardown(state);
    report.seconds = (performance.now() - t0) / 1000;
  }
  return report;
}

export function safeJson(v: unknown): string {
  try {
    return (
      JSON.stringify(v, (_k, x) =>
        typeof x === 'bigint'
          ? `${x}n`
          : typeof x === 'function'
            ? '[function]'
            : x instanceof Uint8Array
              ? `hex:${Buffer.from(x).toString('hex')}`
              : x,
      ) ?? String(v)
    );
  } catch {
    return String(v);
  }
}

/** The report's one line per target, then its outcome classes (most frequent first). */
export function formatReport(r: TargetReport, classesShown = 8): string[] {
  const classes = Object.entries(r.classes).sort((a, b) => b[1] - a[1]);
  const lines = [
    `${r.target}: ${r.inputs} inputs, ${classes.length} outcome classes, ${r.crashes} crashes, ${r.hangs} hangs, ${r.seconds.toFixed(1)} s${r.stoppedBy === 'time' ? ' (time cap)' : ''}`,
  ];
  for (const [c, n] of classes.slice(0, classesShown)) lines.push(`    ${String(n).padStart(7)}  ${c}`);
  if (classes.length > classesShown) lines.push(`    (${classes.length - classesShown} more classes)`);
  return lines;
}
