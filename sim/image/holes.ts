import { spawnSync } from 'node:child_process';

/**
 * Where a host file has data, as lseek(SEEK_DATA/SEEK_HOLE) says — what QEMU's file-posix driver
 * reports as block status (a hole reads as zeroes and is not data). Node has no SEEK_DATA, so perl asks
 * for us: perl-base is Essential on Debian, so it is there wherever QEMU's packages are. Without perl
 * (or on error) the answer is undefined and callers fall back to "all data", which is always safe.
 */
const PROBE = `
open(my $f, '<', $ARGV[0]) or exit 3;
my $size = -s $f; my $off = 0; my $n = 0;
while ($off < $size) {
  my $d = sysseek($f, $off, 3); last unless defined $d;
  my $h = sysseek($f, $d, 4); last unless defined $h;
  print $d + 0, " ", $h + 0, "\\n"; $off = $h + 0;
  exit 4 if ++$n > 100000;
}
`;

/** bounded: a probe that takes longer than this is given up on */
const PROBE_TIMEOUT_MS = 5_000;

export function probeDataExtents(path: string): [number, number][] | undefined {
  const r = spawnSync('perl', ['-e', PROBE, path], {
    encoding: 'utf8',
    timeout: PROBE_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  if (r.error || r.status !== 0) return undefined;
  const out: [number, number][] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [a, b] = line.split(' ').map(Number);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b <= a) return undefined;
    out.push([a, b]);
  }
  return out;
}
