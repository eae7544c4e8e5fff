import { PERM, PERM_ALL, PERM_PASSTHROUGH } from '../block/perm.ts';

/** block.c's default permission rules for a node's children, by child role. */

/** bdrv_filter_default_perms: a filter forwards what its parents take and share. */
export function filterPerms(perm: number, shared: number): [number, number] {
  return [perm & PERM_PASSTHROUGH, (shared & PERM_PASSTHROUGH) | (PERM_ALL & ~PERM_PASSTHROUGH)];
}

/** bdrv_default_perms_for_storage, for a child holding metadata and/or data. */
export function storagePerms(
  perm: number,
  shared: number,
  opts: { metadata: boolean; data: boolean; writable: boolean },
): [number, number] {
  let [p, s] = filterPerms(perm, shared);
  if (opts.metadata) {
    // Format drivers may touch metadata even if the guest doesn't write.
    if (opts.writable) p |= PERM.WRITE | PERM.RESIZE;
    p |= PERM.CONSISTENT_READ;
    s &= ~(PERM.WRITE | PERM.RESIZE);
  }
  if (opts.data) {
    s &= ~PERM.RESIZE;
    if (p & PERM.WRITE_UNCHANGED) p |= PERM.WRITE;
    if (p & PERM.WRITE) p |= PERM.RESIZE;
  }
  return [p, s];
}

/** bdrv_default_perms_for_cow: a backing file is only read, and may change if the parent can cope. */
export function cowPerms(perm: number, shared: number): [number, number] {
  const p = perm & PERM.CONSISTENT_READ;
  let s = shared & PERM.WRITE ? PERM.WRITE | PERM.RESIZE : 0;
  s |= PERM.CONSISTENT_READ | PERM.WRITE_UNCHANGED;
  return [p, s];
}
