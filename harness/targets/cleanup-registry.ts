/**
 * Last-resort cleanup of QEMU processes and scratch folders this process started.
 * Normal teardown is `stop()`; this exists because a test that crashes, a Ctrl-C, or a vitest
 * worker being torn down would otherwise leave QEMUs running and /tmp littered.
 * Everything here is synchronous: an 'exit' handler cannot await.
 */
import fs from 'node:fs';

export interface CleanupEntry {
  /** pids to SIGKILL: the child, and the pid from QEMU's pidfile when a wrapper sits between */
  pids(): number[];
  scratch: string;
  /** settles when our child is reaped; a signal handler waits for it so no zombie is left behind */
  exited?: Promise<unknown> | undefined;
}

const entries = new Set<CleanupEntry>();
let installed = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone: exactly what we wanted
  }
}

/** Kills and removes everything registered. Exported for tests and for callers' own handlers. */
export function cleanupAllSync(): void {
  for (const e of entries) {
    for (const pid of e.pids()) killQuietly(pid);
    try {
      fs.rmSync(e.scratch, { recursive: true, force: true });
    } catch {
      // best effort: nothing more can be done while exiting
    }
  }
  entries.clear();
}

/** Bounded: a child that will not die must not keep a Ctrl-C from working. */
const REAP_BOUND_MS = 2_000;

function onSignal(sig: NodeJS.Signals): void {
  const reaped = [...entries].map((e) => e.exited ?? Promise.resolve());
  cleanupAllSync();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  // Unlike 'exit', a signal handler may wait: reaping our killed children here spares the machine
  // zombies when pid 1 does not reap orphans (as in some containers).
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise((r) => {
    timer = setTimeout(r, REAP_BOUND_MS);
  });
  void Promise.race([Promise.allSettled(reaped), bound]).then(() => {
    clearTimeout(timer);
    reRaise(sig);
  });
}

function reRaise(sig: NodeJS.Signals): void {
  // Adding a listener disabled Node's default "die on signal"; restore it unless someone else
  // (e.g. the test runner) also listens and so owns what the signal means.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function install(): void {
  if (installed) return;
  installed = true;
  // 'exit' also runs after an uncaught exception or unhandled rejection kills the process.
  process.on('exit', cleanupAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}

/** Returns the function that unregisters the entry (call it once stop() has cleaned up itself). */
export function registerCleanup(entry: CleanupEntry): () => void {
  install();
  entries.add(entry);
  return () => {
    entries.delete(entry);
  };
}

export function registeredCount(): number {
  return entries.size;
}
