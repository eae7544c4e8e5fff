/**
 * qemu-storage-daemon's command line (storage-daemon/qemu-storage-daemon.c), pure: argv in, either what
 * to do or the exact output and exit status qsd gives. Checked against the real binaries of every
 * profile (see qsd-options.test.ts):
 *
 * - getopt_long as glibc does it: abbreviations (`--hel`), `--opt=value`, clustered short options, its
 *   own error texts; 5.2 permutes non-options to the end and processes everything in one pass; 7.2 and
 *   later run a first pass for -h, -V, --pidfile, --daemonize and errors, then the rest in order;
 * - error lines as error_report prints them: `qemu-storage-daemon: --blockdev ARG: MESSAGE` (7.2+; 5.2
 *   has no location);
 * - `--blockdev`, `--export`, `--nbd-server`, `--monitor`, `--object` through keyval or JSON and QEMU's
 *   input visitor (sim/serve/keyval.ts, qobject-input-visitor.ts); `--chardev` through QemuOpts.
 *
 * Our own options, `--profile P` and `--seed N`, are matched exactly (never as abbreviations), so they
 * change nothing qsd would accept.
 */
import type { Introspection } from '../../contract/qapi/introspection.ts';
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import { PROFILES, type Profile, VERSIONS } from '../../contract/versions.ts';
import type { SocketAddr } from './chardev/char-socket.ts';
import { keyvalParse, QemuOptError } from './keyval.ts';
import { type OptType, optBool, optGet, qemuOptsParse } from './qemu-option.ts';
import { qmpFormat } from './qmp-server.ts';
import { qobjectFromJson } from './qobject/qobject-from-json.ts';
import { InputVisitor, type LocalType, type TypeRef, type VisitorTexts } from './qobject-input-visitor.ts';

export const PROG = 'qemu-storage-daemon';

// ---------------------------------------------------------------- what each profile prints

const HELP_52 = `Usage: qemu-storage-daemon [options]
QEMU storage daemon

  -h, --help             display this help and exit
  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                         specify tracing options
  -V, --version          output version information and exit

  --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]
             [,cache.direct=on|off][,cache.no-flush=on|off]
             [,read-only=on|off][,auto-read-only=on|off]
             [,force-share=on|off][,detect-zeroes=on|off|unmap]
             [,driver specific parameters...]
                         configure a block backend

  --chardev <options>    configure a character device backend
                         (see the qemu(1) man page for possible options)

  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
           [,writable=on|off][,bitmap=<name>]
                         export the specified block node over NBD
                         (requires --nbd-server)

  --monitor [chardev=]name[,mode=control][,pretty[=on|off]]
                         configure a QMP monitor

  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
  --nbd-server addr.type=unix,addr.path=<path>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
                         start an NBD server for exporting block nodes

  --object help          list object types that can be added
  --object <type>,help   list properties for the given object type
  --object <type>[,<property>=<value>...]
                         create a new object of type <type>, setting
                         properties in the order they are specified. Note
                         that the 'id' property must be set.
                         See the qemu(1) man page for documentation of the
                         objects that can be added.

See <https://qemu.org/contribute/report-a-bug> for how to report bugs.
More information on the QEMU project at <https://qemu.org>.
`;
const HELP_72 = `Usage: qemu-storage-daemon [options]
QEMU storage daemon

  -h, --help             display this help and exit
  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                         specify tracing options
  -V, --version          output version information and exit

  --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]
             [,cache.direct=on|off][,cache.no-flush=on|off]
             [,read-only=on|off][,auto-read-only=on|off]
             [,force-share=on|off][,detect-zeroes=on|off|unmap]
             [,driver specific parameters...]
                         configure a block backend

  --chardev <options>    configure a character device backend
                         (see the qemu(1) man page for possible options)

  --daemonize            daemonize the process, and have the parent exit
                         once startup is complete

  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
           [,writable=on|off][,bitmap=<name>]
                         export the specified block node over NBD
                         (requires --nbd-server)

  --export [type=]fuse,id=<id>,node-name=<node-name>,mountpoint=<file>
           [,growable=on|off][,writable=on|off][,allow-other=on|off|auto]
                         export the specified block node over FUSE

  --export [type=]vhost-user-blk,id=<id>,node-name=<node-name>,
           addr.type=unix,addr.path=<socket-path>[,writable=on|off]
           [,logical-block-size=<block-size>][,num-queues=<num-queues>]
                         export the specified block node as a
                         vhost-user-blk device over UNIX domain socket
  --export [type=]vhost-user-blk,id=<id>,node-name=<node-name>,
           addr.type=fd,addr.str=<fd>[,writable=on|off]
           [,logical-block-size=<block-size>][,num-queues=<num-queues>]
                         export the specified block node as a
                         vhost-user-blk device over file descriptor

  --export [type=]vduse-blk,id=<id>,node-name=<node-name>
           ,name=<vduse-name>[,writable=on|off]
           [,num-queues=<num-queues>][,queue-size=<queue-size>]
           [,logical-block-size=<logical-block-size>]
           [,serial=<serial-number>]
                         export the specified block node as a
                         vduse-blk device

  --monitor [chardev=]name[,mode=control][,pretty[=on|off]]
                         configure a QMP monitor

  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
  --nbd-server addr.type=unix,addr.path=<path>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
                         start an NBD server for exporting block nodes

  --object help          list object types that can be added
  --object <type>,help   list properties for the given object type
  --object <type>[,<property>=<value>...]
                         create a new object of type <type>, setting
                         properties in the order they are specified. Note
                         that the 'id' property must be set.
                         See the qemu(1) man page for documentation of the
                         objects that can be added.

  --pidfile <path>       write process ID to a file after startup

See <https://qemu.org/contribute/report-a-bug> for how to report bugs.
More information on the QEMU project at <https://qemu.org>.
`;

const COPYRIGHT_YEAR: Record<Profile, number> = { '5.2': 2020, '7.2': 2022, '10.0': 2025, '11.1': 2026 };

const CHARDEV_BACKENDS: Record<Profile, string[]> = {
  '5.2': [
    'pty',
    'udp',
    'memory',
    'stdio',
    'socket',
    'file',
    'ringbuf',
    'parallel',
    'pipe',
    'null',
    'mux',
    'serial',
    'parport',
    'tty',
  ],
  '7.2': [
    'pty',
    'udp',
    'memory',
    'file',
    'socket',
    'stdio',
    'ringbuf',
    'null',
    'parallel',
    'pipe',
    'mux',
    'serial',
  ],
  '10.0': [
    'pty',
    'file',
    'udp',
    'memory',
    'stdio',
    'socket',
    'ringbuf',
    'null',
    'parallel',
    'pipe',
    'mux',
    'serial',
    'hub',
  ],
  '11.1': [
    'pty',
    'file',
    'udp',
    'memory',
    'stdio',
    'socket',
    'ringbuf',
    'null',
    'parallel',
    'pipe',
    'mux',
    'serial',
    'hub',
  ],
};

const CHARDEV_OPTS_COMMON: Record<string, OptType> = {
  abstract: 'bool',
  append: 'bool',
  backend: 'str',
  chardev: 'str',
  cols: 'num',
  debug: 'num',
  delay: 'bool',
  fd: 'str',
  height: 'num',
  host: 'str',
  ipv4: 'bool',
  ipv6: 'bool',
  localaddr: 'str',
  localport: 'str',
  logappend: 'bool',
  logfile: 'str',
  mux: 'bool',
  name: 'str',
  path: 'str',
  port: 'str',
  rows: 'num',
  server: 'bool',
  signal: 'bool',
  size: 'size',
  telnet: 'bool',
  tight: 'bool',
  'tls-authz': 'str',
  'tls-creds': 'str',
  tn3270: 'bool',
  to: 'num',
  wait: 'bool',
  websocket: 'bool',
  width: 'num',
};

function chardevOpts(p: Profile): Record<string, OptType> {
  const o: Record<string, OptType> = { ...CHARDEV_OPTS_COMMON };
  if (p !== '5.2') Object.assign(o, { clipboard: 'bool', mouse: 'bool', nodelay: 'bool' });
  if (p === '5.2' || p === '7.2' || p === '10.0') o.reconnect = 'num';
  if (p === '10.0' || p === '11.1') {
    Object.assign(o, {
      'chardevs.0': 'str',
      'chardevs.1': 'str',
      'chardevs.2': 'str',
      'chardevs.3': 'str',
      'input-path': 'str',
      'reconnect-ms': 'num',
    });
  }
  if (p === '11.1') Object.assign(o, { encoding: 'str', logtimestamp: 'bool' });
  return o;
}

const OBJECT_TYPES_52 = [
  'authz-list',
  'authz-list-file',
  'authz-simple',
  'iothread',
  'pr-manager-helper',
  'secret',
  'secret_keyring',
  'throttle-group',
  'tls-cipher-suites',
  'tls-creds-anon',
  'tls-creds-psk',
  'tls-creds-x509',
];

/** `-V`: the version line from the profile's captured greeting, and its copyright year */
export function versionText(profile: Profile): string {
  const g = loadSnapshot(profile, 'qsd').greeting.QMP.version;
  const v = `${g.qemu.major}.${g.qemu.minor}.${g.qemu.micro}`;
  const full = g.package ? `${v} (${g.package})` : v;
  return `${PROG} version ${full}\nCopyright (c) 2003-${COPYRIGHT_YEAR[profile]} Fabrice Bellard and the QEMU Project developers\n`;
}

export function helpText(profile: Profile): string {
  return profile === '5.2' ? HELP_52 : HELP_72;
}

/** error_report / warn_report / info_report with the command-line location (none in 5.2) */
export function report(
  profile: Profile,
  loc: string | undefined,
  msg: string,
  level?: 'warning' | 'info',
): string {
  const where = profile !== '5.2' && loc !== undefined ? `${loc}: ` : '';
  return `${PROG}: ${where}${level ? `${level}: ` : ''}${msg}\n`;
}

// ---------------------------------------------------------------- getopt_long

interface LongOpt {
  name: string;
  hasArg: boolean;
  code: string;
}

const LONG_52: LongOpt[] = [
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
const LONG_72: LongOpt[] = [
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
];
const SHORT: Record<string, boolean> = { h: false, T: true, V: false };

type GetoptEvent = (
  | { kind: 'opt'; code: string; optarg?: string; loc: string }
  | { kind: 'error'; message: string }
  | { kind: 'nonopt'; arg: string }
) & { at?: number[] };

/**
 * glibc getopt_long over argv (without argv[0]). `inOrder` is optstring "-..." (7.2+): non-options come
 * back as events; otherwise (5.2) they are permuted to the end and returned after the options.
 */
function getopt(args: string[], longs: LongOpt[], inOrder: boolean, prog: string): GetoptEvent[] {
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

// ---------------------------------------------------------------- the parse

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
    if (e.kind !== 'opt' || (e.code !== 'profile' && e.code !== 'seed')) continue;
    for (const k of e.at ?? []) drop.add(k);
    const value = e.optarg ?? '';
    if (e.code === 'profile') {
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

// ---------------------------------------------------------------- resolving steps

export interface SchemaContext {
  profile: Profile;
  intro: Introspection;
  texts: VisitorTexts;
}

export function schemaContext(profile: Profile, intro: Introspection): SchemaContext {
  const t = VERSIONS[profile].texts;
  return {
    profile,
    intro,
    texts: {
      missing: t['qapi.missing'],
      badType: t['qapi.badType'],
      badEnum: t['qapi.badEnum'],
      unexpected: t['qapi.unexpected'],
    },
  };
}

export type Resolved<T> = { ok: T } | { error: string };

function guard<T>(fn: () => T): Resolved<T> {
  try {
    return { ok: fn() };
  } catch (e) {
    if (e instanceof QemuOptError) return { error: e.message };
    throw e;
  }
}

/** qobject_input_visitor_new_str: JSON when the text starts with '{', keyval otherwise */
function visitStr(
  ctx: SchemaContext,
  text: string,
  implied: string | undefined,
  type: TypeRef,
): Record<string, unknown> {
  if (text.startsWith('{')) {
    const r = qobjectFromJson(text, qmpFormat(ctx.profile).generation);
    if ('error' in r) throw new QemuOptError(r.error);
    return new InputVisitor(ctx.intro, ctx.texts, 'json').visit(type, r.value);
  }
  return new InputVisitor(ctx.intro, ctx.texts, 'keyval').visit(type, keyvalParse(text, implied));
}

function argType(ctx: SchemaContext, command: string): string {
  const c = ctx.intro.commands.get(command);
  if (!c) throw new Error(`profile ${ctx.profile} has no ${command}`);
  return c['arg-type'];
}

/** --blockdev: the arguments blockdev-add gets */
export function resolveBlockdev(ctx: SchemaContext, arg: string): Resolved<Record<string, unknown>> {
  return guard(() => visitStr(ctx, arg, 'driver', argType(ctx, 'blockdev-add')));
}

/** --export: the arguments block-export-add gets */
export function resolveExport(ctx: SchemaContext, arg: string): Resolved<Record<string, unknown>> {
  return guard(() => visitStr(ctx, arg, 'type', argType(ctx, 'block-export-add')));
}

/**
 * --nbd-server: NbdServerOptions is nbd-server-start's arguments with a flat SocketAddress for `addr`
 * (built from SocketAddressLegacy's branches); returns nbd-server-start's arguments.
 */
export function resolveNbdServer(ctx: SchemaContext, arg: string): Resolved<Record<string, unknown>> {
  return guard(() => {
    const cmd = ctx.intro.type(argType(ctx, 'nbd-server-start'));
    if (cmd['meta-type'] !== 'object') throw new Error('nbd-server-start arguments are not an object');
    const addrMember = cmd.members.find((m) => m.name === 'addr')!;
    const legacy = ctx.intro.type(addrMember.type);
    if (legacy['meta-type'] !== 'object' || !legacy.tag || !legacy.variants)
      throw new Error('unexpected SocketAddressLegacy');
    const tagMember = legacy.members.find((m) => m.name === legacy.tag)!;
    const flat: LocalType = {
      kind: 'object',
      members: [{ name: 'type', type: tagMember.type, optional: false }],
      tag: 'type',
      variants: legacy.variants.map((v) => {
        const wrapper = ctx.intro.type(v.type);
        const data =
          wrapper['meta-type'] === 'object' ? wrapper.members.find((m) => m.name === 'data') : undefined;
        return { case: v.case, type: data ? data.type : v.type };
      }),
    };
    const opts: LocalType = {
      kind: 'object',
      members: cmd.members.map((m) => ({
        name: m.name,
        type: m.name === 'addr' ? flat : m.type,
        optional: m.default === null,
      })),
    };
    const v = visitStr(ctx, arg, undefined, opts);
    const addr = v.addr as Record<string, unknown>;
    const { type, ...data } = addr;
    return { ...v, addr: { type, data } };
  });
}

export interface MonitorSpec {
  chardev: string;
  mode: 'control' | 'readline' | undefined;
  pretty: boolean;
  id: string | undefined;
}

const MONITOR_OPTIONS: LocalType = {
  kind: 'object',
  members: [
    { name: 'id', type: 'str', optional: true },
    { name: 'mode', type: { kind: 'enum', values: ['readline', 'control'] }, optional: true },
    { name: 'pretty', type: 'bool', optional: true },
    { name: 'chardev', type: 'str', optional: false },
  ],
};

/** --monitor [chardev=]ID[,mode=control][,pretty=on|off] */
export function resolveMonitor(ctx: SchemaContext, arg: string): Resolved<MonitorSpec> {
  return guard(() => {
    const v = visitStr(ctx, arg, 'chardev', MONITOR_OPTIONS);
    if (v.mode === 'readline') throw new QemuOptError('Only QMP is supported');
    return {
      chardev: v.chardev as string,
      mode: v.mode as MonitorSpec['mode'],
      pretty: v.pretty === true,
      id: v.id as string | undefined,
    };
  });
}

/** --object: only iothread is taken (and changes nothing here); anything else is refused */
export function resolveObject(
  ctx: SchemaContext,
  arg: string,
): Resolved<{ qomType: string; id: string; args?: Record<string, unknown> }> {
  return guard(() => {
    if (ctx.profile === '5.2') {
      const kv = keyvalParse(arg, 'qom-type');
      const type = kv.get('qom-type');
      if (typeof type !== 'string' || !OBJECT_TYPES_52.includes(type))
        throw new QemuOptError(`invalid object type: ${String(type ?? '')}`);
      const id = kv.get('id');
      if (typeof id !== 'string') throw new QemuOptError("Parameter 'id' is missing");
      if (type === 'throttle-group') {
        // 5.2's object-add takes the properties in 'props'; keyval gives strings, the visitor numbers
        const props: Record<string, unknown> = {};
        for (const [k, val] of kv)
          if (k !== 'qom-type' && k !== 'id')
            props[k] = typeof val === 'string' && /^\d+$/.test(val) ? Number(val) : val;
        return { qomType: type, id, args: { 'qom-type': type, id, props } };
      }
      if (type !== 'iothread') throw new QemuOptError(`fleece-lab: --object ${type} is not simulated`);
      return { qomType: type, id };
    }
    const v = visitStr(ctx, arg, 'qom-type', argType(ctx, 'object-add'));
    const type = v['qom-type'] as string;
    if (type !== 'iothread' && type !== 'throttle-group')
      throw new QemuOptError(`fleece-lab: --object ${type} is not simulated`);
    return { qomType: type, id: v.id as string, args: v };
  });
}

export type ChardevSpec =
  | { id: string; backend: 'socket'; server: boolean; wait: boolean; addr: SocketAddr }
  | { id: string; backend: 'stdio' | 'null' };

export type ChardevResolution = {
  warnings: string[];
  /** --chardev help (or socket,help): print and exit */
  exit?: { status: number; stdout: string };
} & ({ ok: ChardevSpec } | { error: string } | { exitOnly: true });

function chardevHelp(profile: Profile): string {
  const o = chardevOpts(profile);
  const word: Record<OptType, string> = {
    bool: '<bool (on/off)>',
    num: '<num>',
    size: '<size>',
    str: '<str>',
  };
  // qemu_opts_print_help sorts the printed "name=<type>" strings
  const lines = Object.keys(o)
    .map((k) => `  ${k}=${word[o[k]]}\n`)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `chardev options:\n${lines.join('')}`;
}

/**
 * --chardev: QemuOpts, then qemu_chr_new_from_opts' checks in its order. Sockets (unix or TCP, server or
 * client), stdio and null are simulated; other backends are refused.
 */
export function resolveChardev(profile: Profile, arg: string): ChardevResolution {
  let r: ReturnType<typeof qemuOptsParse>;
  try {
    r = qemuOptsParse(arg, 'backend', chardevOpts(profile), profile !== '5.2');
  } catch (e) {
    if (e instanceof QemuOptError) {
      return { warnings: (e as QemuOptError & { warnings?: string[] }).warnings ?? [], error: e.message };
    }
    throw e;
  }
  const warnings = r.warnings;
  if (r.help) return { warnings, exit: { status: 1, stdout: chardevHelp(profile) }, exitOnly: true };
  const backend = optGet(r, 'backend');
  if (backend === 'help' || backend === '?') {
    const list = CHARDEV_BACKENDS[profile].map((b) => `  ${b}`).join('\n');
    return {
      warnings,
      exit: { status: 0, stdout: `Available chardev backend types: \n${list}\n` },
      exitOnly: true,
    };
  }
  const id = r.id;
  if (id === undefined) return { warnings, error: 'chardev: no id specified' };
  if (backend === undefined) return { warnings, error: `chardev: "${id}" missing backend` };
  if (!CHARDEV_BACKENDS[profile].includes(backend))
    return { warnings, error: `'${backend}' is not a valid char driver name` };
  if (backend === 'stdio' || backend === 'null') return { warnings, ok: { id, backend } };
  if (backend !== 'socket')
    return { warnings, error: `fleece-lab: chardev backend '${backend}' is not simulated` };

  const path = optGet(r, 'path');
  const host = optGet(r, 'host');
  const port = optGet(r, 'port');
  const fd = optGet(r, 'fd');
  const given = Number(path !== undefined) + Number(host !== undefined) + Number(fd !== undefined);
  if (profile === '5.2') {
    if (given !== 1) return { warnings, error: "Exactly one of 'path', 'fd' or 'host' required" };
  } else if (given > 1) {
    return { warnings, error: "None or one of 'path', 'fd' or 'host' option required." };
  }
  if (host !== undefined && port === undefined) return { warnings, error: 'chardev: socket: no port given' };
  if (optGet(r, 'delay') !== undefined && optGet(r, 'nodelay') !== undefined)
    return { warnings, error: "'delay' and 'nodelay' are mutually exclusive" };
  const server = optBool(r, 'server', false);
  const hasWait = optGet(r, 'wait') !== undefined || server;
  const wait = optBool(r, 'wait', true);
  const reconnect = optGet(r, 'reconnect') !== undefined || optGet(r, 'reconnect-ms') !== undefined;
  if (server) {
    if (reconnect)
      return { warnings, error: "'reconnect' option is incompatible with socket in server listen mode" };
  } else {
    if (optBool(r, 'websocket', false)) return { warnings, error: 'Websocket client is not implemented' };
    if (hasWait) {
      if (profile === '5.2') warnings.push("'wait' option is deprecated with socket in client connect mode");
      else return { warnings, error: "'wait' option is incompatible with socket in client connect mode" };
    }
  }
  for (const o of ['telnet', 'tn3270', 'websocket'])
    if (optBool(r, o, false))
      return { warnings, error: `fleece-lab: chardev socket ${o}=on is not simulated` };
  if (optGet(r, 'tls-creds') !== undefined)
    return { warnings, error: 'fleece-lab: chardev socket tls-creds is not simulated' };
  if (optBool(r, 'abstract', false))
    return { warnings, error: 'fleece-lab: abstract unix sockets are not simulated' };
  if (path === undefined && host === undefined) {
    const f = fd ?? '';
    if (!/^\d+$/.test(f)) return { warnings, error: `Unable to parse FD number ${f}` };
    return { warnings, error: `fleece-lab: chardev socket fd= is not simulated` };
  }
  const addr: SocketAddr =
    path !== undefined ? { type: 'unix', path } : { type: 'inet', host: host!, port: port! };
  return { warnings, ok: { id, backend: 'socket', server, wait: server && wait, addr } };
}

/** duplicate chardev ids: 7.2+ trip over the yank instance, 5.2 over the QOM child */
export function duplicateChardevText(profile: Profile, id: string): string {
  return profile === '5.2'
    ? `attempt to add duplicate property '${id}' to object (type 'container')`
    : 'duplicate yank instance';
}

/** a chardev already has a monitor */
export function chardevInUseText(profile: Profile, id: string): string {
  return profile === '5.2' || profile === '7.2'
    ? `Device '${id}' is in use`
    : `chardev '${id}' is already in use`;
}

/** "Unexpected argument" as each version words it */
export function unexpectedArgumentText(profile: Profile, arg: string): string {
  return profile === '5.2'
    ? `${PROG}: Unexpected argument: ${arg}\n`
    : `${PROG}: ${arg}: Unexpected argument\n`;
}
