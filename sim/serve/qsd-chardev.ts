/**
 * `--chardev` as qemu-storage-daemon takes it: QemuOpts with each profile's option list and backends,
 * then qemu_chr_new_from_opts' checks (and char-socket.c's qemu_chr_parse_socket) in their order.
 */
import type { Profile } from '../../contract/versions.ts';
import type { SocketAddr } from './chardev/char-socket.ts';
import { QemuOptError } from './keyval.ts';
import { type OptType, optBool, optGet, qemuOptsParse } from './qemu-option.ts';

export const CHARDEV_BACKENDS: Record<Profile, string[]> = {
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

export function chardevOpts(p: Profile): Record<string, OptType> {
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

export type ChardevSpec =
  | { id: string; backend: 'socket'; server: boolean; wait: boolean; addr: SocketAddr }
  /** fd=N: a socket the caller passed in (qemu-system; qsd refuses it as not simulated) */
  | { id: string; backend: 'socket'; server: boolean; wait: boolean; fd: number }
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
  const res = chardevFromOpts(profile, r, { backends: CHARDEV_BACKENDS[profile] });
  return { ...res, warnings: [...warnings, ...(res.warnings ?? [])] };
}

/**
 * qemu_chr_new_from_opts' checks (and char-socket.c's qemu_chr_parse_socket) in their order, over options
 * QemuOpts has parsed. Sockets (unix or TCP, server or client; fd=N when `fd` allows it), stdio and null
 * are simulated; other backends of `backends` are refused as not simulated.
 */
export function chardevFromOpts(
  profile: Profile,
  r: { id: string | undefined; opts: [string, string][] },
  o: { backends: readonly string[]; fd?: boolean },
): { ok: ChardevSpec; warnings?: string[] } | { error: string; warnings?: string[] } {
  const warnings: string[] = [];
  const get = (n: string) => optGet(r, n);
  const bool = (n: string, d: boolean) => optBool(r, n, d);
  const backend = get('backend');
  const id = r.id;
  if (id === undefined) return { warnings, error: 'chardev: no id specified' };
  if (backend === undefined) return { warnings, error: `chardev: "${id}" missing backend` };
  if (!o.backends.includes(backend))
    return { warnings, error: `'${backend}' is not a valid char driver name` };
  if (backend === 'stdio' || backend === 'null') return { warnings, ok: { id, backend } };
  if (backend !== 'socket')
    return { warnings, error: `fleece-lab: chardev backend '${backend}' is not simulated` };

  const path = get('path');
  const host = get('host');
  const port = get('port');
  const fd = get('fd');
  const given = Number(path !== undefined) + Number(host !== undefined) + Number(fd !== undefined);
  if (profile === '5.2') {
    if (given !== 1) return { warnings, error: "Exactly one of 'path', 'fd' or 'host' required" };
  } else if (given > 1) {
    return { warnings, error: "None or one of 'path', 'fd' or 'host' option required." };
  }
  if (host !== undefined && port === undefined) return { warnings, error: 'chardev: socket: no port given' };
  if (get('delay') !== undefined && get('nodelay') !== undefined)
    return { warnings, error: "'delay' and 'nodelay' are mutually exclusive" };
  const server = bool('server', false);
  const hasWait = get('wait') !== undefined || server;
  const wait = bool('wait', true);
  const reconnect = get('reconnect') !== undefined || get('reconnect-ms') !== undefined;
  if (server) {
    if (reconnect)
      return { warnings, error: "'reconnect' option is incompatible with socket in server listen mode" };
  } else {
    if (bool('websocket', false)) return { warnings, error: 'Websocket client is not implemented' };
    if (hasWait) {
      if (profile === '5.2') warnings.push("'wait' option is deprecated with socket in client connect mode");
      else return { warnings, error: "'wait' option is incompatible with socket in client connect mode" };
    }
  }
  for (const flag of ['telnet', 'tn3270', 'websocket'])
    if (bool(flag, false))
      return { warnings, error: `fleece-lab: chardev socket ${flag}=on is not simulated` };
  if (get('tls-creds') !== undefined)
    return { warnings, error: 'fleece-lab: chardev socket tls-creds is not simulated' };
  if (bool('abstract', false))
    return { warnings, error: 'fleece-lab: abstract unix sockets are not simulated' };
  if (path === undefined && host === undefined) {
    const f = fd ?? '';
    if (!/^\d+$/.test(f)) return { warnings, error: `Unable to parse FD number ${f}` };
    if (!o.fd) return { warnings, error: `fleece-lab: chardev socket fd= is not simulated` };
    return { warnings, ok: { id, backend: 'socket', server, wait: server && wait, fd: Number(f) } };
  }
  const addr: SocketAddr =
    path !== undefined ? { type: 'unix', path } : { type: 'inet', host: host!, port: port! };
  return { warnings, ok: { id, backend: 'socket', server, wait: server && wait, addr } };
}
