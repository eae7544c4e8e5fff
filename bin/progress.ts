/**
 * A live progress line for long commands on a terminal: `what: done/total, rate, time left, failures so
 * far`, redrawn in place at most a few times a second. Quiet (a no-op) when stdout is not a terminal, in CI
 * ($CI) and for --json output, so logs and piped output hold only what the command prints. Lines the
 * command prints meanwhile (console.log/error) go above it: the line is cleared, the text printed, the line
 * drawn again. bin/ is the only writer to the terminal; the layers below take a plain callback.
 *
 * A module of our own: drawing one line needs a carriage return and an erase-line escape; the libraries that
 * do this (log-update, cli-progress) bring a dozen packages for width and cursor handling it does not need.
 */
export interface Progress {
  /** a new stage: `total` items of `unit` (runs, checks, replays) for `what` */
  start(total: number, unit: string, what?: string): void;
  /** one item done (failed: it counts among the failures) */
  tick(failed?: boolean): void;
  /** where the stage is, as a number (for callbacks that count themselves) */
  set(done: number, failed?: number, total?: number): void;
  /** the stage is over: the line goes */
  done(): void;
}

export const QUIET: Progress = { start() {}, tick() {}, set() {}, done() {} };

/** Whether a live line belongs on this output: a terminal, not CI, not machine-readable output. */
export function wantsProgress(
  o: { json?: unknown } = {},
  env: NodeJS.ProcessEnv = process.env,
  out: { isTTY?: boolean } = process.stdout,
): boolean {
  return out.isTTY === true && !env.CI && o.json === undefined && env.TERM !== 'dumb';
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The line for a stage: "check job-ids: 120/2000 runs, 41/s, 46s left, 0 failed". */
export function progressLine(s: {
  what: string;
  unit: string;
  done: number;
  total: number;
  failed: number;
  seconds: number;
}): string {
  const rate = s.seconds > 0 ? s.done / s.seconds : 0;
  const left = rate > 0 ? (s.total - s.done) / rate : Number.POSITIVE_INFINITY;
  const r = rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
  return `${s.what ? `${s.what}: ` : ''}${s.done}/${s.total} ${s.unit}, ${r}/s, ${s.done >= s.total ? 'done' : `${duration(left)} left`}, ${s.failed} failed`;
}

/** A live line on `out`, or QUIET where none belongs (see wantsProgress). */
export function progressFor(o: { json?: unknown } = {}, out: NodeJS.WriteStream = process.stdout): Progress {
  if (!wantsProgress(o, process.env, out)) return QUIET;
  let what = '';
  let unit = '';
  let total = 0;
  let done = 0;
  let failed = 0;
  let t0 = 0;
  let shown = false;
  let last = 0;
  let active = false;
  const log = console.log;
  const error = console.error;
  const clear = () => {
    if (shown) out.write('\r\x1b[2K');
    shown = false;
  };
  const draw = (force = false) => {
    const now = performance.now();
    if (!active || (!force && now - last < 200)) return;
    last = now;
    const line = progressLine({ what, unit, done, total, failed, seconds: (now - t0) / 1000 });
    const width = out.columns ?? 100;
    out.write(`\r\x1b[2K${line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line}`);
    shown = true;
  };
  const above =
    (f: (...a: unknown[]) => void) =>
    (...a: unknown[]) => {
      clear();
      f(...a);
      draw(true);
    };
  return {
    start(n, u, w = '') {
      total = n;
      unit = u;
      what = w;
      done = 0;
      failed = 0;
      t0 = performance.now();
      if (!active) {
        console.log = above(log);
        console.error = above(error);
      }
      active = true;
      draw(true);
    },
    tick(f = false) {
      done++;
      if (f) failed++;
      draw(done === total);
    },
    set(d, f, t) {
      done = d;
      if (f !== undefined) failed = f;
      if (t !== undefined) total = t;
      draw();
    },
    done() {
      clear();
      active = false;
      console.log = log;
      console.error = error;
    },
  };
}
