/**
 * qemu-storage-daemon's command line (storage-daemon/qemu-storage-daemon.c), pure: argv in, either what
 * to do or the exact output and exit status qsd gives. Checked against the real binaries of every
 * profile (see qsd-options.test.ts):
 *
 * - getopt_long as glibc does it (getopt.ts); 5.2 permutes non-options to the end and processes
 *   everything in one pass; 7.2 and later run a first pass for -h, -V, --pidfile, --daemonize and
 *   errors, then the rest in order;
 * - error lines as error_report prints them: `qemu-storage-daemon: --blockdev ARG: MESSAGE` (7.2+; 5.2
 *   has no location; qsd-texts.ts);
 * - `--blockdev`, `--export`, `--nbd-server`, `--monitor`, `--object` through keyval or JSON and QEMU's
 *   input visitor (qsd-resolve.ts); `--chardev` through QemuOpts (qsd-chardev.ts).
 *
 * This file parses argv into those steps. Our own options, `--profile P`, `--seed N` and `--flavour qsd`,
 * are matched exactly (never as abbreviations), so they change nothing qsd would accept.
 */
import { PROFILES, type Profile } from '../../contract/versions.ts';
import { getopt, LONG_52, LONG_72 } from './getopt.ts';
import { helpText, PROG, versionText } from './qsd-texts.ts';

export type StepKind = 'chardev' | 'monitor' | 'blockdev' | 'export' | 'nbd-server' | 'object' | 'trace';

/** Work for the second pass, in command-line order. */
export type QsdStep =
  | { kind: StepKind; arg: string; loc: string }
  /** a non-option argument: qsd stops there */
  | { kind: 'unexpected'; arg: string; loc: string }
  /** 5.2 only (one pass): -h, -V or a getopt error met after other options */
  | { kind: 'exit'; status: number; stdout: string; stderr: string };

export interface QsdInvocation {
  profile: Profile;
  seed: number;
  pidfile: string | undefined;
  daemonize: boolean;
  steps: QsdStep[];
}

export type ParseOutcome =
  | { kind: 'run'; inv: QsdInvocation }
  | { kind: 'exit'; status: number; stdout: string; stderr: string };

function exit(status: number, stdout = '', stderr = ''): ParseOutcome {
  return { kind: 'exit', status, stdout, stderr };
}

/**
 * argv as qemu-storage-daemon gets it (without the program name), plus `--profile P` / `--seed N`.
 * `defaults.profile` applies when argv names none.
 */
export function parseQsdArgs(
  argv: readonly string[],
  defaults: { profile?: Profile; seed?: number; argv0?: string } = {},
): ParseOutcome {
  // glibc's getopt prefixes its messages with argv[0] as the program was started
  const argv0 = defaults.argv0 ?? PROG;
  // --profile and --seed first (exact names, wherever getopt would see them as options)
  let profile: Profile = defaults.profile ?? '7.2';
  let seed = defaults.seed ?? 1;
  const drop = new Set<number>();
  for (const e of getopt([...argv], LONG_72, true, PROG)) {
    if (e.kind !== 'opt' || (e.code !== 'profile' && e.code !== 'seed' && e.code !== 'flavour')) continue;
    for (const k of e.at ?? []) drop.add(k);
    const value = e.optarg ?? '';
    if (e.code === 'flavour') {
      if (value !== 'qsd')
        return exit(1, '', `fleece-lab serve: --flavour: unknown flavour '${value}' (qsd or system)\n`);
    } else if (e.code === 'profile') {
      if (!(PROFILES as readonly string[]).includes(value))
        return exit(
          1,
          '',
          `fleece-lab serve: --profile: unknown profile '${value}' (one of ${PROFILES.join(', ')})\n`,
        );
      profile = value as Profile;
    } else {
      if (!/^-?\d+$/.test(value))
        return exit(1, '', `fleece-lab serve: --seed: '${value}' is not an integer\n`);
      seed = Number(value);
    }
  }
  const rest = argv.filter((_, k) => !drop.has(k));

  const is52 = profile === '5.2';
  const events = getopt(rest, is52 ? LONG_52 : LONG_72, !is52, argv0);
  const inv: QsdInvocation = { profile, seed, pidfile: undefined, daemonize: false, steps: [] };

  if (is52) {
    // one pass, in order; non-options were permuted to the end
    for (const e of events) {
      if (e.kind === 'error') {
        inv.steps.push({ kind: 'exit', status: 1, stdout: '', stderr: e.message });
        break;
      }
      if (e.kind === 'nonopt') {
        inv.steps.push({
          kind: 'exit',
          status: 1,
          stdout: '',
          stderr: `${PROG}: Unexpected argument: ${e.arg}\n`,
        });
        break;
      }
      if (e.code === 'h') {
        inv.steps.push({ kind: 'exit', status: 0, stdout: helpText(profile), stderr: '' });
        break;
      }
      if (e.code === 'V') {
        inv.steps.push({ kind: 'exit', status: 0, stdout: versionText(profile), stderr: '' });
        break;
      }
      inv.steps.push({ kind: stepKind(e.code), arg: e.optarg ?? '', loc: e.loc });
    }
    // a leading exit needs no simulator at all
    const first = inv.steps[0];
    if (first?.kind === 'exit') return exit(first.status, first.stdout, first.stderr);
    return { kind: 'run', inv };
  }

  // 7.2+: the pre-init pass
  for (const e of events) {
    if (e.kind === 'error') return exit(1, '', e.message);
    if (e.kind !== 'opt') continue;
    if (e.code === 'h') return exit(0, helpText(profile));
    if (e.code === 'V') return exit(0, versionText(profile));
    if (e.code === 'pidfile') inv.pidfile = e.optarg;
    if (e.code === 'daemonize') inv.daemonize = true;
  }
  // the rest, in order
  for (const e of events) {
    if (e.kind === 'nonopt') {
      inv.steps.push({ kind: 'unexpected', arg: e.arg, loc: e.arg });
      break;
    }
    if (e.kind !== 'opt' || ['h', 'V', 'pidfile', 'daemonize'].includes(e.code)) continue;
    inv.steps.push({ kind: stepKind(e.code), arg: e.optarg ?? '', loc: e.loc });
  }
  return { kind: 'run', inv };
}

function stepKind(code: string): StepKind {
  return code === 'T' ? 'trace' : (code as StepKind);
}
