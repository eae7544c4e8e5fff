/** An I/O error inside the block layer, carrying the errno QEMU would see (it shows on NBD and in HMP qemu-io). */
export const ERRNO = {
  EPERM: 1,
  EIO: 5,
  EACCES: 13,
  EINVAL: 22,
  ENOSPC: 28,
  ENOTSUP: 95,
  ETIMEDOUT: 110,
} as const;

const STRERROR: Record<number, string> = {
  1: 'Operation not permitted',
  5: 'Input/output error',
  13: 'Permission denied',
  22: 'Invalid argument',
  28: 'No space left on device',
  95: 'Operation not supported',
  110: 'Connection timed out',
};

export class IoError extends Error {
  constructor(readonly errno: number) {
    super(STRERROR[errno] ?? `errno ${errno}`);
  }
}

export function strerror(errno: number): string {
  return STRERROR[errno] ?? `Unknown error ${errno}`;
}
