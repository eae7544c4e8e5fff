/**
 * What a system libvirtd leaves on the host besides its sockets: domain configs and checkpoint metadata
 * under /etc and /var/lib, run-state under /run/libvirt, QEMU's log per domain, and the capability cache
 * (/var/cache/libvirt/qemu/capabilities/, one XML per emulator binary it probed). The harness lists these
 * folders before it starts libvirtd and removes, at teardown, every entry that was not there before —
 * nothing else — so the machine is left as it was found. Files that existed and changed are reported,
 * not reverted (only qemu.conf is ours to put back).
 */
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
  mtimeMs: number;
}

/** Every entry under the roots (the roots included when they exist), without following symlinks. */
export function listFootprint(roots: readonly string[] = LIBVIRT_HOST_ROOTS): FootprintEntry[] {
  const out: FootprintEntry[] = [];
  const walk = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    out.push({ path: p, kind, size: st.size, mtimeMs: st.mtimeMs });
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
    else if (e.kind === 'file' && (o.size !== e.size || o.mtimeMs !== e.mtimeMs)) changed.push(e.path);
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

export function footprintToText(entries: readonly FootprintEntry[]): string {
  return `${JSON.stringify(entries)}\n`;
}

export function footprintFromText(text: string): FootprintEntry[] {
  return JSON.parse(text) as FootprintEntry[];
}
