/** QEMU's block permissions (include/block/block-common.h), and their names as error messages print them. */
export const PERM = {
  CONSISTENT_READ: 0x01,
  WRITE: 0x02,
  WRITE_UNCHANGED: 0x04,
  RESIZE: 0x08,
} as const;
export const PERM_ALL = 0x0f;
/** bdrv_filter_default_perms forwards these; DEFAULT_PERM_UNCHANGED is the rest */
export const PERM_PASSTHROUGH = PERM_ALL;

const NAMES: [number, string][] = [
  [PERM.CONSISTENT_READ, 'consistent read'],
  [PERM.WRITE, 'write'],
  [PERM.WRITE_UNCHANGED, 'write unchanged'],
  [PERM.RESIZE, 'resize'],
];

/** bdrv_perm_names */
export function permNames(perm: number): string {
  return NAMES.filter(([bit]) => perm & bit)
    .map(([, n]) => n)
    .join(', ');
}
