/**
 * One test at a time may own the host's libvirt: a system libvirtd takes /run/libvirt/qemu/driver.pid and
 * reads the one /etc/libvirt/qemu.conf, so two private instances would fight. The lease is a folder made
 * atomically (mkdir) that also holds what is needed to put the host back if its owner dies without a
 * teardown (SIGKILL, a crashed worker): the original qemu.conf, the list of libvirt's folders before, the
 * owner's pid, scratch folder and libvirtd pid, and a copy of every file under libvirt's folders. The
 * next lease-taker finds a dead owner's folder and recovers: kills that libvirtd and the QEMUs it left
 * (found by the scratch folder or probe folder on their command line), restores qemu.conf, removes what
 * was added, puts back what changed, and only then takes the lease.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isProcessAlive } from '../targets/proc-alive.js';
import {
  backupFiles,
  diffFootprint,
  type FootprintEntry,
  footprintFromText,
  footprintToText,
  listFootprint,
  removeAdded,
  restoreChanged,
} from './host-footprint.js';
import { installQemuConf, QEMU_CONF, restoreQemuConf } from './qemu-conf.js';
import { StepError } from './run-bounded.js';

export const LEASE_DIR = path.join(os.tmpdir(), 'fleece-lab-libvirt-host');

interface Owner {
  pid: number;
  scratch: string;
  libvirtdPid?: number;
  /** whether /etc/libvirt/qemu.conf existed (and so was saved) */
  hadQemuConf: boolean;
}

const OWNER = 'owner.json';
const CONF_BACKUP = 'qemu.conf.orig';
const FOOTPRINT = 'footprint.json';
const FILES_BACKUP = 'files';

export interface HostLease {
  dir: string;
  before: FootprintEntry[];
  /** records the libvirtd pid, so a recovery can find it */
  setLibvirtdPid(pid: number | undefined): void;
  /**
   * Restores qemu.conf, removes what libvirt added, puts back what it changed, frees the lease. Returns
   * what it could not do, in words, and the files it put back.
   */
  release(): { problems: string[]; restored: string[] };
}

function readOwner(dir: string): Owner | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, OWNER), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Processes named `name` (by /proc/PID/comm), e.g. a system libvirtd this harness must not touch. */
export function pidsNamed(name: string): number[] {
  return allPids().filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name && isProcessAlive(pid);
    } catch {
      return false;
    }
  });
}

/**
 * QEMUs a libvirtd of ours started: a domain's names the scratch folder (its images are there), a
 * capability probe's names a qmp-* folder libvirt made under /var/lib/libvirt/qemu after `before`.
 */
export function strayQemuPids(scratch: string, before: readonly FootprintEntry[]): number[] {
  const added = diffFootprint(before, listFootprint(['/var/lib/libvirt/qemu'])).added.filter((p) =>
    /\/qmp-[^/]+$/.test(p),
  );
  return allPids().filter((pid) => {
    if (pid === process.pid || !isProcessAlive(pid)) return false;
    const cl = cmdline(pid);
    if (!/qemu-system|fleece-lab/.test(cl)) return false;
    return cl.includes(`${scratch}/`) || added.some((p) => cl.includes(`${p}/`));
  });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Puts the host back after a dead owner, from what its lease folder says. */
function recover(dir: string, owner: Owner | undefined): void {
  const before = fs.existsSync(path.join(dir, FOOTPRINT))
    ? footprintFromText(fs.readFileSync(path.join(dir, FOOTPRINT), 'utf8'))
    : undefined;
  if (owner?.libvirtdPid && cmdline(owner.libvirtdPid).includes(owner.scratch))
    killQuietly(owner.libvirtdPid);
  if (owner && before) for (const pid of strayQemuPids(owner.scratch, before)) killQuietly(pid);
  if (owner?.hadQemuConf && fs.existsSync(path.join(dir, CONF_BACKUP)))
    restoreQemuConf(path.join(dir, CONF_BACKUP), true);
  else if (owner && !owner.hadQemuConf) restoreQemuConf(path.join(dir, CONF_BACKUP), false);
  if (before) {
    removeAdded(before);
    if (fs.existsSync(path.join(dir, FILES_BACKUP))) restoreChanged(before, path.join(dir, FILES_BACKUP));
  }
  if (owner?.scratch) fs.rmSync(owner.scratch, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface LeaseOptions {
  scratch: string;
  /** how long to wait for another live owner to finish (default 10 min) */
  waitMs?: number;
  dir?: string;
}

/** Takes the host's libvirt for this process, installs qemu.conf; bounded by waitMs. */
export async function takeHostLease(opts: LeaseOptions): Promise<HostLease> {
  const dir = opts.dir ?? LEASE_DIR;
  const until = Date.now() + (opts.waitMs ?? 600_000);
  for (;;) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = readOwner(dir);
    const ownerAlive = owner !== undefined && owner.pid !== process.pid && isProcessAlive(owner.pid);
    // an owner folder with no owner file yet may be one being made this instant: give it a moment
    const young = owner === undefined && Date.now() - fs.statSync(dir).mtimeMs < 5_000;
    if (!ownerAlive && !young) {
      recover(dir, owner);
      continue;
    }
    if (Date.now() > until)
      throw new StepError(
        'take the host libvirt lease',
        `${dir} is held by pid ${owner?.pid ?? '?'} for more than ${opts.waitMs ?? 600_000} ms`,
      );
    await sleep(500);
  }
  const before = listFootprint();
  backupFiles(before, path.join(dir, FILES_BACKUP));
  fs.writeFileSync(path.join(dir, FOOTPRINT), footprintToText(before));
  const owner: Owner = { pid: process.pid, scratch: opts.scratch, hadQemuConf: fs.existsSync(QEMU_CONF) };
  const writeOwner = (): void => fs.writeFileSync(path.join(dir, OWNER), JSON.stringify(owner));
  writeOwner();
  installQemuConf(path.join(dir, CONF_BACKUP));
  let released = false;
  return {
    dir,
    before,
    setLibvirtdPid(pid) {
      owner.libvirtdPid = pid;
      writeOwner();
    },
    release() {
      if (released) return { problems: [], restored: [] };
      released = true;
      const problems: string[] = [];
      try {
        restoreQemuConf(path.join(dir, CONF_BACKUP), owner.hadQemuConf);
      } catch (e) {
        problems.push(`qemu.conf not restored (the original is in ${dir}): ${(e as Error).message}`);
      }
      const failed = removeAdded(before);
      if (failed.length > 0) problems.push(`could not remove ${failed.join(', ')}`);
      // after qemu.conf's own restore: it is in `before` too, and the same again by now
      const back = restoreChanged(before, path.join(dir, FILES_BACKUP));
      if (back.failed.length > 0) problems.push(`could not put back ${back.failed.join(', ')}`);
      if (problems.length === 0) fs.rmSync(dir, { recursive: true, force: true });
      return { problems, restored: back.restored };
    },
  };
}
