/**
 * "Is this pid still a running process?" — a zombie counts as dead. Needed because an orphaned
 * QEMU is reparented to pid 1, and a container's pid 1 may never reap it (seen on this CI machine),
 * so kill(pid, 0) alone would report a killed QEMU as alive forever.
 */
import fs from 'node:fs';

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) S ..."; comm may contain spaces and parens, so cut at the last ')'
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    // no /proc (not Linux) or the process vanished between the two checks
    return !fs.existsSync('/proc');
  }
}
