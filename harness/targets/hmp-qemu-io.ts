/**
 * Guest-like I/O on a qemu-system-x86_64 through HMP `qemu-io`, sent with QMP human-monitor-command.
 *
 * Seen on 7.2: the QMP reply carries only HMP-level errors; qemu-io's own report (including
 * "Pattern verification failed" and "read failed: Input/output error") is printed to QEMU's
 * *stdout*, and the reply is "" whatever happened. So the outcome is read from the stdout file.
 * `-d ID` names a qdev device, not a node: for virtio-blk-pci the backend sits on its child,
 * `ID/virtio-backend`; a plain name is looked up as a BlockBackend, then as a node name.
 * qemu-storage-daemon has no HMP at all.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { QemuProcess } from './qemu-process.js';

export type IoTarget = { node: string } | { qdev: string };

export type IoOutcome = 'ok' | 'pattern-mismatch' | 'io-error' | 'hmp-error' | 'unknown';

export interface IoResult {
  outcome: IoOutcome;
  /** the human-monitor-command return value (empty unless HMP itself refused) */
  hmp: string;
  /** what qemu-io printed to QEMU's stdout for this command */
  stdout: string;
  /** what appeared on QEMU's stderr meanwhile (qemu-io prints unknown-command errors there) */
  stderr: string;
}

/** stdout is a file and QEMU flushes per line, but allow a short grace before calling it silent. */
const OUTPUT_GRACE_MS = 500;

export function classifyIo(hmp: string, stdout: string): IoOutcome {
  if (hmp.trim() !== '') return 'hmp-error';
  if (stdout.includes('Pattern verification failed')) return 'pattern-mismatch';
  if (/^\w+ failed: /m.test(stdout)) return 'io-error';
  if (/^(read|wrote) \d+\/\d+ bytes at offset \d+$/m.test(stdout)) return 'ok';
  return 'unknown';
}

/** The HMP command line: `qemu-io [-d] NAME "COMMAND"`. */
export function qemuIoCommand(target: IoTarget, command: string): string {
  if (command.includes('"')) throw new Error(`qemu-io command must not contain '"': ${command}`);
  const name = 'node' in target ? target.node : target.qdev;
  return `qemu-io ${'qdev' in target ? '-d ' : ''}${name} "${command}"`;
}

/** A guest's I/O that did not happen, in one line (undefined when it did). */
export function guestIoOutcome(hmp: string, stdout: string): string | undefined {
  const outcome = classifyIo(hmp, stdout);
  if (outcome === 'ok') return undefined;
  const text = (hmp.trim() || stdout.trim() || 'no output').split('\n')[0].trim();
  return `${outcome}: ${text}`;
}

export async function hmpQemuIo(q: QemuProcess, target: IoTarget, command: string): Promise<IoResult> {
  const line = qemuIoCommand(target, command);
  const outBefore = q.stdoutText().length;
  const errBefore = q.stderrText().length;
  const ret = await q.qmp.execute('human-monitor-command', {
    'command-line': line,
  });
  const hmp = typeof ret === 'string' ? ret : JSON.stringify(ret);
  let stdout = q.stdoutText().slice(outBefore);
  const until = Date.now() + OUTPUT_GRACE_MS;
  while (hmp === '' && stdout === '' && Date.now() < until) {
    await sleep(10);
    stdout = q.stdoutText().slice(outBefore);
  }
  const stderr = q.stderrText().slice(errBefore);
  return { outcome: classifyIo(hmp, stdout), hmp, stdout, stderr };
}
