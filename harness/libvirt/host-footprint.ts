/**
 * What a system libvirtd leaves on the host besides its sockets: domain configs and checkpoint metadata
 * under /etc and /var/lib, run-state under /run/libvirt, QEMU's log per domain, and the capability cache
 * (/var/cache/libvirt/qemu/capabilities/, one XML per emulator binary it probed). And on its first start
 * on a machine it rewrites files the packages installed: every /etc/libvirt/nwfilter/*.xml and
 * /etc/libvirt/qemu/networks/default.xml get an "AUTO-GENERATED" header and a generated <uuid> (seen on
 * Debian 12's 9.0). The harness lists these folders, and copies every file in them, before it starts
 * libvirtd; at teardown it removes every entry that was not there before, puts back every file that
 * changed (bytes, mode, times) and the access and modification times of everything that was there —
 * so the machine is left as it was found (only change times, which no one can set, move on).
 *
 * Times are kept to the nanosecond as "SECONDS.NANOS" text and set back with `touch -d @…`: a JavaScript
 * number cannot hold them (fs.utimes would round to about a microsecond).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const LIBVIRT_HOST_ROOTS = [
  '/etc/libvirt',
  '/var/lib/libvirt',
  '/var/log/libvirt',
  '/var/cache/libvirt',
  '/run/libvirt',
] as const;

export interface FootprintEntry {
  path: string;
  kind: 'dir' | 'file' | 'other';
  size: number;
  mode: number;
  /** "SECONDS.NANOSECONDS" */
  atime: string;
  mtime: string;
}

function nsText(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  return `${s}.${(ns - s * 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Sets a path's access and modification times (not following a symlink), to the nanosecond. */
export function setTimes(p: string, atime: string, mtime: string): boolean {
  const a = spawnSync('touch', ['-h', '-a', '-d', `@${atime}`, '--', p], { timeout: 5_000 });
  const m = spawnSync('touch', ['-h', '-m', '-d', `@${mtime}`, '--', p], { timeout: 5_000 });
  return a.status === 0 && m.status === 0;
}

/** Every entry under the roots (the roots included when they exist), without following symlinks. */
export function listFootprint(roots: readonly string[] = LIBVIRT_HOST_ROOTS): FootprintEntry[] {
  const out: FootprintEntry[] = [];
  const walk = (p: string): void => {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(p, { bigint: true });
    } catch {
      return;
    }
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    out.push({
      path: p,
      kind,
      size: Number(st.size),
      mode: Number(st.mode & 0o7777n),
      atime: nsText(st.atimeNs),
      mtime: nsText(st.mtimeNs),
    });
    if (kind !== 'dir') return;
    let names: string[] = [];
    try {
      names = fs.readdirSync(p);
    } catch {
      return;
    }
    for (const n of names.sort()) walk(path.join(p, n));
  };
  for (const r of roots) walk(r);
  return out;
}

export interface FootprintDiff {
  added: string[];
  /** regular files that existed before and differ now in size or modification time */
  changed: string[];
}

export function diffFootprint(
  before: readonly FootprintEntry[],
  after: readonly FootprintEntry[],
): FootprintDiff {
  const old = new Map(before.map((e) => [e.path, e]));
  const added: string[] = [];
  const changed: string[] = [];
  for (const e of after) {
    const o = old.get(e.path);
    if (!o) added.push(e.path);
    else if (e.kind === 'file' && (o.size !== e.size || o.mtime !== e.mtime || o.mode !== e.mode))
      changed.push(e.path);
  }
  return { added, changed };
}

/**
 * Removes what was added since `before`: a new folder goes with everything in it. Never touches a path
 * outside the roots, nor anything listed in `before`. Returns the paths it could not remove.
 */
export function removeAdded(
  before: readonly FootprintEntry[],
  roots: readonly string[] = LIBVIRT_HOST_ROOTS,
): string[] {
  const { added } = diffFootprint(before, listFootprint(roots));
  const inside = (p: string): boolean => roots.some((r) => p === r || p.startsWith(`${r}/`));
  // parents before children: removing a new folder takes its new children with it
  const tops = added.filter((p) => inside(p) && !added.some((q) => q !== p && p.startsWith(`${q}/`)));
  const failed: string[] = [];
  for (const p of tops) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      failed.push(p);
    }
  }
  return failed;
}

/** Copies every regular file of `entries` under `into` (same relative path), keeping mode and times. */
export function backupFiles(entries: readonly FootprintEntry[], into: string): void {
  for (const e of entries) {
    if (e.kind !== 'file') continue;
    const to = path.join(into, e.path);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(e.path, to);
    fs.chmodSync(to, e.mode);
  }
}

/**
 * Puts back, from `backup` (made by backupFiles), every file of `before` that differs now in size, mode
 * or modification time (libvirt writes a file anew, so its time moves), and then the access and
 * modification times of everything in `before`, deepest first (putting a file back touches its folder;
 * reading one, libvirt's or the backup's, may move its access time). Returns the files it put back and
 * the paths it could not.
 */
export function restoreChanged(
  before: readonly FootprintEntry[],
  backup: string,
  roots: readonly string[] = LIBVIRT_HOST_ROOTS,
): { restored: string[]; failed: string[] } {
  const now = new Map(listFootprint(roots).map((e) => [e.path, e]));
  const changed = new Set(diffFootprint(before, [...now.values()]).changed);
  const restored: string[] = [];
  const failed: string[] = [];
  for (const e of before) {
    if (e.kind !== 'file') continue;
    const cur = now.get(e.path);
    if (cur?.kind === 'file' && !changed.has(e.path)) continue;
    try {
      if (cur) fs.rmSync(e.path, { recursive: true, force: true });
      fs.copyFileSync(path.join(backup, e.path), e.path);
      fs.chmodSync(e.path, e.mode);
      restored.push(e.path);
    } catch {
      failed.push(e.path);
    }
  }
  const deepestFirst = [...before].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const e of deepestFirst)
    if (e.kind !== 'other' && !setTimes(e.path, e.atime, e.mtime)) failed.push(e.path);
  return { restored, failed };
}

export function footprintToText(entries: readonly FootprintEntry[]): string {
  return `${JSON.stringify(entries)}\n`;
}

export function footprintFromText(text: string): FootprintEntry[] {
  return JSON.parse(text) as FootprintEntry[];
}
