/**
 * glibc's getopt_long as qemu-storage-daemon calls it: abbreviations (`--hel`), `--opt=value`, clustered
 * short options, its own error texts, and 5.2's permuting of non-options against 7.2+'s in-order mode.
 * Our own options, `--profile`, `--seed` and `--flavour`, are matched exactly (never as abbreviations).
 */

interface LongOpt {
  name: string;
  hasArg: boolean;
  code: string;
}

export const LONG_52: LongOpt[] = [
  { name: 'blockdev', hasArg: true, code: 'blockdev' },
  { name: 'chardev', hasArg: true, code: 'chardev' },
  { name: 'export', hasArg: true, code: 'export' },
  { name: 'help', hasArg: false, code: 'h' },
  { name: 'monitor', hasArg: true, code: 'monitor' },
  { name: 'nbd-server', hasArg: true, code: 'nbd-server' },
  { name: 'object', hasArg: true, code: 'object' },
  { name: 'trace', hasArg: true, code: 'T' },
  { name: 'version', hasArg: false, code: 'V' },
];
export const LONG_72: LongOpt[] = [
  ...LONG_52.slice(0, 2),
  { name: 'daemonize', hasArg: false, code: 'daemonize' },
  ...LONG_52.slice(2, 7),
  { name: 'pidfile', hasArg: true, code: 'pidfile' },
  ...LONG_52.slice(7),
];
/** ours: exact names only */
const FLEECE: LongOpt[] = [
  { name: 'profile', hasArg: true, code: 'profile' },
  { name: 'seed', hasArg: true, code: 'seed' },
  { name: 'flavour', hasArg: true, code: 'flavour' },
];
const SHORT: Record<string, boolean> = { h: false, T: true, V: false };

export type GetoptEvent = (
  | { kind: 'opt'; code: string; optarg?: string; loc: string }
  | { kind: 'error'; message: string }
  | { kind: 'nonopt'; arg: string }
) & { at?: number[] };

/**
 * glibc getopt_long over argv (without argv[0]). `inOrder` is optstring "-..." (7.2+): non-options come
 * back as events; otherwise (5.2) they are permuted to the end and returned after the options.
 */
export function getopt(args: string[], longs: LongOpt[], inOrder: boolean, prog: string): GetoptEvent[] {
  const out: GetoptEvent[] = [];
  const skipped: string[] = [];
  let i = 0;
  while (i < args.length) {
    const a = args[i];
    if (a === '--') {
      i++;
      if (!inOrder) {
        for (const s of [...skipped, ...args.slice(i)]) out.push({ kind: 'nonopt', arg: s });
        return out;
      }
      return out;
    }
    if (!a.startsWith('-') || a === '-') {
      if (inOrder) out.push({ kind: 'nonopt', arg: a });
      else skipped.push(a);
      i++;
      continue;
    }
    const start = i;
    if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const exactFleece = FLEECE.find((o) => o.name === name);
      let opt: LongOpt | undefined = exactFleece ?? longs.find((o) => o.name === name);
      if (!opt) {
        const cands = longs.filter((o) => o.name.startsWith(name));
        if (cands.length > 1) {
          out.push({
            kind: 'error',
            message: `${prog}: option '--${name}' is ambiguous; possibilities:${cands.map((c) => ` '--${c.name}'`).join('')}\n`,
          });
          i++;
          continue;
        }
        opt = cands[0];
      }
      i++;
      if (!opt) {
        out.push({ kind: 'error', message: `${prog}: unrecognized option '${a}'\n` });
        continue;
      }
      if (eq >= 0) {
        if (!opt.hasArg) {
          out.push({ kind: 'error', message: `${prog}: option '--${opt.name}' doesn't allow an argument\n` });
          continue;
        }
        out.push({
          kind: 'opt',
          code: opt.code,
          optarg: body.slice(eq + 1),
          loc: args.slice(start, i).join(' '),
          at: [start],
        });
        continue;
      }
      if (opt.hasArg) {
        if (i >= args.length) {
          out.push({ kind: 'error', message: `${prog}: option '--${opt.name}' requires an argument\n` });
          continue;
        }
        const optarg = args[i++];
        out.push({
          kind: 'opt',
          code: opt.code,
          optarg,
          loc: args.slice(start, i).join(' '),
          at: [start, start + 1],
        });
        continue;
      }
      out.push({ kind: 'opt', code: opt.code, loc: a });
      continue;
    }
    // a cluster of short options
    i++;
    for (let k = 1; k < a.length; k++) {
      const c = a[k];
      if (!(c in SHORT)) {
        out.push({ kind: 'error', message: `${prog}: invalid option -- '${c}'\n` });
        continue;
      }
      if (!SHORT[c]) {
        out.push({ kind: 'opt', code: c, loc: a });
        continue;
      }
      if (k + 1 < a.length) {
        out.push({ kind: 'opt', code: c, optarg: a.slice(k + 1), loc: a });
      } else if (i < args.length) {
        const optarg = args[i++];
        out.push({ kind: 'opt', code: c, optarg, loc: args.slice(start, i).join(' ') });
      } else {
        out.push({ kind: 'error', message: `${prog}: option requires an argument -- '${c}'\n` });
      }
      break;
    }
  }
  if (!inOrder) for (const s of skipped) out.push({ kind: 'nonopt', arg: s });
  return out;
}
