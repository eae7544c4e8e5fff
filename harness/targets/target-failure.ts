/**
 * How a check on a real target ends when the target itself fails rather than behaves differently: the
 * process died (exit or signal), the QMP connection closed under us, or the target stopped answering
 * within the bound. Each becomes one line naming the program, its pid and the step it happened in:
 *
 *   qemu-storage-daemon (pid 4242) was killed by SIGKILL during step 7 (query-jobs)
 *   QMP connection closed during step 7 (query-jobs) (qemu-storage-daemon (pid 4242) is still running)
 *   qemu-storage-daemon (pid 4242) stuck: no reply to 'query-jobs' within 10000 ms during step 7 (query-jobs)
 *
 * The runner fails such a check without the retry it gives a transcript difference (conform.ts): a QEMU
 * that crashes or hangs is a finding, not an event-order race.
 */
import {
  DEFAULT_TIMEOUT_MS,
  QmpConnectionClosedError,
  QmpProtocolError,
  QmpTimeoutError,
} from '../clients/qmp-client.ts';
import type { ExitStatus, QemuProcess } from './qemu-process.ts';

export class TargetFailure extends Error {
  override readonly name = 'TargetFailure';
  constructor(
    readonly kind: 'died' | 'closed' | 'stuck',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shortens (or lengthens) the bound on every QMP reply of a real target; tests use it to make "stuck" quick. */
export const QMP_TIMEOUT_ENV = 'FLEECE_LAB_QMP_TIMEOUT_MS';

/** The bound on each QMP reply: the option, else $FLEECE_LAB_QMP_TIMEOUT_MS, else the client's 10 s. */
export function qmpBoundMs(option?: number): number {
  if (option !== undefined) {
    if (!Number.isFinite(option) || option <= 0) throw new Error(`QMP timeout ${option}: expected > 0 ms`);
    return option;
  }
  const env = process.env[QMP_TIMEOUT_ENV];
  if (env === undefined || env.trim() === '') return DEFAULT_TIMEOUT_MS;
  const n = Number(env);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`${QMP_TIMEOUT_ENV}=${env}: expected a positive whole number of milliseconds`);
  return n;
}

/** "step 7 (query-jobs)", "step 3 (waiting for BLOCK_JOB_READY)", "step 6 (sleep 200 ms)" */
export function describeStep(s: object, i: number): string {
  const st = s as Record<string, unknown>;
  if (typeof st.qmp === 'string') return `step ${i} (${st.qmp})`;
  if (st.wait && typeof st.wait === 'object')
    return `step ${i} (waiting for ${String((st.wait as { event?: unknown }).event)})`;
  if (typeof st.io === 'string') return `step ${i} (qemu-io ${st.io})`;
  if (typeof st.sleepMs === 'number') return `step ${i} (sleep ${st.sleepMs} ms)`;
  const kind = Object.keys(st)[0];
  return kind ? `step ${i} (${kind})` : `step ${i}`;
}

/** Resolves after `ms`, or as soon as `p` settles, whichever is first; leaves no timer behind. */
export async function sleepUnless(ms: number, p: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p.then(
        () => undefined,
        () => undefined,
      ),
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** "was killed by SIGKILL", "exited with status 1" */
export function exitWords(s: ExitStatus): string {
  if (s.spawnError !== undefined) return `could not be started (${s.spawnError})`;
  if (s.signal !== null) return `was killed by ${s.signal}`;
  return `exited with status ${s.code}`;
}

function lastLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .at(-1) ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** "no reply to 'query-jobs' within 10000 ms", from the client's timeout error */
function noReply(err: Error, boundMs: number): string {
  const m = /no reply to '([^']+)'/.exec(err.message);
  return m ? `no reply to '${m[1]}' within ${boundMs} ms` : err.message;
}

/** How long a failed request waits for the process to be reaped, so the message can say how it ended. */
const EXIT_GRACE_MS = 1_500;

/**
 * The error a check on a real QEMU process fails with when `err` happened while `doing` (e.g. "step 7
 * (query-jobs)"): a TargetFailure when the process died, hung up or got stuck; `err` itself otherwise.
 */
export async function explainQemu(
  q: QemuProcess,
  err: unknown,
  doing: string,
  boundMs: number,
): Promise<Error> {
  if (err instanceof TargetFailure) return err;
  const who = `${q.name} (pid ${q.proc.pid ?? '?'})`;
  const transport =
    err instanceof QmpConnectionClosedError || err instanceof QmpProtocolError || q.qmp.closed;
  // a hang-up usually means the process is on its way out: give it a moment to be reaped
  if (transport && q.exitStatus() === undefined) await sleepUnless(EXIT_GRACE_MS, q.exited);
  const st = q.exitStatus();
  if (st !== undefined) {
    const tail = lastLine(q.stderrText());
    return new TargetFailure(
      'died',
      `${who} ${exitWords(st)} during ${doing}${tail ? `; stderr: ${tail}` : ''}`,
      {
        cause: err,
      },
    );
  }
  if (err instanceof QmpTimeoutError)
    return new TargetFailure('stuck', `${who} stuck: ${noReply(err, boundMs)} during ${doing}`, {
      cause: err,
    });
  if (err instanceof QmpConnectionClosedError)
    return new TargetFailure('closed', `QMP connection closed during ${doing} (${who} is still running)`, {
      cause: err,
    });
  return err instanceof Error ? err : new Error(String(err));
}

/** The same for an endpoint reached through its QMP socket (attach mode): no process to look at. */
export function explainAttach(socket: string, err: unknown, doing: string, boundMs: number): Error {
  if (err instanceof TargetFailure) return err;
  if (err instanceof QmpTimeoutError)
    return new TargetFailure(
      'stuck',
      `QMP endpoint ${socket} stuck: ${noReply(err, boundMs)} during ${doing}`,
      {
        cause: err,
      },
    );
  if (err instanceof QmpConnectionClosedError)
    return new TargetFailure('closed', `QMP connection closed during ${doing} (endpoint ${socket})`, {
      cause: err,
    });
  return err instanceof Error ? err : new Error(String(err));
}

/** What stopping a stuck process took: "stopped: SIGTERM went unanswered, then killed by SIGKILL" */
export function stopNote(q: QemuProcess): string {
  const st = q.exitStatus();
  if (st === undefined) return 'still alive after SIGKILL';
  if (st.signal === 'SIGKILL') return 'stopped: SIGTERM went unanswered, then killed by SIGKILL';
  return `stopped: ${exitWords(st)}`;
}
