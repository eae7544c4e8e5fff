/**
 * Provisioning of real QEMU versions: each one is a Debian suite laid out by debootstrap in a cache
 * folder and run in place with that folder's own dynamic loader. No chroot, so unix sockets and
 * image paths on the host work unchanged.
 *
 * The pure half (tables, apt sources parsing, argv building) comes first and is unit-tested; the
 * effects (debootstrap, running --version, reading the cache) follow.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';

export type QemuVersion = '5.2' | '7.2' | '10.0' | '11.1';

export interface SuiteInfo {
  suite: string;
  /** debootstrap script to use when the installed debootstrap has none for this suite yet */
  script?: string;
}

export const QEMU_SUITES: Readonly<Record<QemuVersion, SuiteInfo>> = {
  '5.2': { suite: 'bullseye' },
  '7.2': { suite: 'bookworm' },
  '10.0': { suite: 'trixie' },
  '11.1': { suite: 'forky', script: 'sid' },
};

export const QEMU_VERSIONS = Object.keys(QEMU_SUITES) as QemuVersion[];

export function isQemuVersion(s: string): s is QemuVersion {
  return Object.hasOwn(QEMU_SUITES, s);
}

/**
 * qemu-system-common holds qemu-storage-daemon up to bookworm, qemu-utils from trixie on; asking for
 * both covers every suite. qemu-system-x86 is the only package with qemu-system-x86_64.
 */
export const QEMU_PACKAGES = ['qemu-system-common', 'qemu-utils', 'qemu-system-x86'] as const;

export const BINARIES = {
  qsd: 'qemu-storage-daemon',
  system: 'qemu-system-x86_64',
  img: 'qemu-img',
  io: 'qemu-io',
} as const;
export type BinaryKey = keyof typeof BINARIES;
const BINARY_KEYS = Object.keys(BINARIES) as BinaryKey[];

export const DEBOOTSTRAP_TIMEOUT_MS = 10 * 60 * 1000;
export const MANIFEST = 'fleece-lab.json';
const ARCH_LIB = 'x86_64-linux-gnu';

export interface ReportedVersion {
  version: string;
  package: string;
}

export interface Manifest {
  /** the version this root was installed for (a QEMU_SUITES key) */
  requested: QemuVersion;
  suite: string;
  mirror: string;
  installedAt: string;
  binaries: Record<BinaryKey, ReportedVersion>;
}

export interface ResolvedQemu extends ReportedVersion {
  /** the debootstrapped folder; absent for binaries found on PATH or in a plain folder */
  root?: string;
  qsd: string[];
  system: string[];
  img: string[];
  io: string[];
  /** extra environment the argv prefixes need (empty for host binaries) */
  env: Record<string, string>;
}

// ---------------------------------------------------------------- pure

interface AptSource {
  uris: string[];
  suites: string[];
}

/** deb822 `.sources` stanzas: only `deb` ones that are not disabled */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const cont = /^\s+(\S.*)$/.exec(line);
      if (cont && last) {
        fields.set(last, `${fields.get(last) ?? ''} ${cont[1]}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      last = (m[1] ?? '').toLowerCase();
      fields.set(last, m[2] ?? '');
    }
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter((w) => w !== '');
    if (!words('types').includes('deb')) continue;
    if (/^(no|false)$/i.test(fields.get('enabled')?.trim() ?? '')) continue;
    out.push({ uris: words('uris'), suites: words('suites') });
  }
  return out;
}

/** one-line `sources.list`: `deb [opts] URI SUITE COMPONENTS...` */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2]) out.push({ uris: [m[1]], suites: [m[2]] });
  }
  return out;
}

/** The main archive: security and updates suites carry only a few packages, not QEMU. */
export function pickMirror(sources: AptSource[]): string | undefined {
  for (const s of sources) {
    if (
      s.suites.length > 0 &&
      s.suites.every((x) => /-(security|updates|backports)$/.test(x) || x.includes('/'))
    )
      continue;
    const uri = s.uris.find((u) => /^(https?|file):/.test(u) && !/-security\/?$/.test(u));
    if (uri) return uri;
  }
  return undefined;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.FLEECE_LAB_CACHE) return env.FLEECE_LAB_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'fleece-lab');
  return join(home, '.cache', 'fleece-lab');
}

export function qemuRoot(version: QemuVersion, cache: string = cacheDir()): string {
  return join(cache, 'qemu', version);
}

export function debootstrapArgv(version: QemuVersion, dir: string, mirror: string): string[] {
  const { suite, script } = QEMU_SUITES[version];
  return [
    'debootstrap',
    '--variant=minbase',
    `--include=${QEMU_PACKAGES.join(',')}`,
    suite,
    dir,
    mirror,
    ...(script ? [script] : []),
  ];
}

/** `qemu-img version 10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)` -> version and package */
export function parseVersionOutput(text: string): ReportedVersion | undefined {
  const m = /version (\d+\.\d+\.\d+)(?: \(([^)]*)\))?/.exec(text);
  if (!m?.[1]) return undefined;
  return { version: m[1], package: m[2] ?? '' };
}

/** major.minor of a reported version, the key QEMU_SUITES uses */
export function versionKey(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

/**
 * Run a root's binaries with its own loader and libraries. The module dir matters: QEMU would
 * otherwise look for modules in the host's compiled-in path and find another version's. `-L` does
 * the same for firmware and keymaps.
 */
export function rootInvocation(root: string, loader: string): Pick<ResolvedQemu, BinaryKey | 'env'> {
  const libs = [join(root, 'lib', ARCH_LIB), join(root, 'usr', 'lib', ARCH_LIB)].join(':');
  const run = (bin: string): string[] => [loader, '--library-path', libs, join(root, 'usr', 'bin', bin)];
  return {
    qsd: run(BINARIES.qsd),
    // a q35 machine needs SeaBIOS, which Debian keeps beside QEMU's own data: both go on the search path
    system: [
      ...run(BINARIES.system),
      '-L',
      join(root, 'usr', 'share', 'qemu'),
      ...(existsSync(join(root, 'usr', 'share', 'seabios'))
        ? ['-L', join(root, 'usr', 'share', 'seabios')]
        : []),
    ],
    img: run(BINARIES.img),
    io: run(BINARIES.io),
    env: { QEMU_MODULE_DIR: join(root, 'usr', 'lib', ARCH_LIB, 'qemu') },
  };
}

export function folderInvocation(dir: string): Pick<ResolvedQemu, BinaryKey | 'env'> {
  return {
    qsd: [join(dir, BINARIES.qsd)],
    system: [join(dir, BINARIES.system)],
    img: [join(dir, BINARIES.img)],
    io: [join(dir, BINARIES.io)],
    env: {},
  };
}

// ---------------------------------------------------------------- effects

/** The Debian mirror this machine's apt uses. */
export function hostMirror(): string {
  const candidates: AptSource[] = [];
  const dir = '/etc/apt/sources.list.d';
  const files = existsSync(dir) ? readdirSync(dir).sort() : [];
  for (const f of files) {
    if (f.endsWith('.sources')) candidates.push(...parseDeb822Sources(readFileSync(join(dir, f), 'utf8')));
    else if (f.endsWith('.list')) candidates.push(...parseOneLineSources(readFileSync(join(dir, f), 'utf8')));
  }
  if (existsSync('/etc/apt/sources.list')) {
    candidates.push(...parseOneLineSources(readFileSync('/etc/apt/sources.list', 'utf8')));
  }
  const mirror = pickMirror(candidates.filter((s) => s.uris.some((u) => /debian/.test(u))));
  if (!mirror) throw new Error('no Debian mirror found in /etc/apt/sources.list{,.d}');
  return mirror;
}

/**
 * Follow symlinks as if `root` were `/`: Debian's /lib64/ld-linux-x86-64.so.2 link is absolute in
 * some suites, and following it on the host would pick the host's loader.
 */
export function resolveInRoot(root: string, path: string): string {
  let rel = path;
  for (let hops = 0; hops < 40; hops++) {
    const parts = rel.split('/').filter((p) => p !== '');
    let cur = root;
    let redirected = false;
    for (let i = 0; i < parts.length; i++) {
      const next = join(cur, parts[i] ?? '');
      if (lstatSafe(next) && lstatSync(next).isSymbolicLink()) {
        const target = readlinkSync(next);
        const base = isAbsolute(target) ? target : join(cur.slice(root.length) || '/', target);
        rel = join(base, ...parts.slice(i + 1));
        redirected = true;
        break;
      }
      cur = next;
    }
    if (!redirected) return cur;
  }
  throw new Error(`too many symlinks resolving ${path} in ${root}`);
}

function lstatSafe(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

export function rootLoader(root: string): string {
  const loader = resolveInRoot(root, `/lib64/ld-linux-x86-64.so.2`);
  if (!existsSync(loader)) throw new Error(`${root} has no dynamic loader (not a debootstrapped root?)`);
  return loader;
}

function reportVersion(argv: string[], env: Record<string, string>): ReportedVersion {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('empty argv');
  const r = spawnSync(cmd, [...args, '--version'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
  const parsed = parseVersionOutput(r.stdout ?? '');
  if (r.status !== 0 || !parsed) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0];
    throw new Error(`${argv.at(-1)} --version failed: ${why}`);
  }
  return parsed;
}

function readManifest(root: string): Manifest | undefined {
  const p = join(root, MANIFEST);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as Manifest;
}

function onPath(bin: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d && existsSync(join(d, bin))) return join(d, bin);
  }
  return undefined;
}

export interface InstallOptions {
  cache?: string;
  mirror?: string;
  timeoutMs?: number;
  /** debootstrap's output goes here (default: `<cache>/qemu/<version>.log`) */
  log?: string;
  /** each line debootstrap prints, as it prints it (a progress line counts its steps) */
  onLine?: (line: string) => void;
}

export interface InstallResult {
  root: string;
  manifest: Manifest;
  /** false when the root was already there */
  installed: boolean;
  seconds: number;
}

export async function installQemu(version: QemuVersion, opts: InstallOptions = {}): Promise<InstallResult> {
  const started = Date.now();
  const cache = opts.cache ?? cacheDir();
  const root = qemuRoot(version, cache);
  const existing = readManifest(root);
  if (existing) return { root, manifest: existing, installed: false, seconds: 0 };

  const mirror = opts.mirror ?? process.env.FLEECE_LAB_DEBIAN_MIRROR ?? hostMirror();
  const tmp = join(cache, 'qemu', `.${version}.tmp-${process.pid}`);
  const log = opts.log ?? join(cache, 'qemu', `${version}.log`);
  await mkdir(dirname(tmp), { recursive: true });
  removeTree(tmp);
  try {
    await runBounded(
      debootstrapArgv(version, tmp, mirror),
      log,
      opts.timeoutMs ?? DEBOOTSTRAP_TIMEOUT_MS,
      opts.onLine,
    );
    // debootstrap leaves the downloaded .debs behind; they are a sixth of the root's size
    spawnSync('sh', ['-c', 'rm -f -- "$1"/var/cache/apt/archives/*.deb', 'sh', tmp]);
    const inv = rootInvocation(tmp, rootLoader(tmp));
    const binaries = {} as Record<BinaryKey, ReportedVersion>;
    for (const k of BINARY_KEYS) binaries[k] = reportVersion(inv[k], inv.env);
    const got = versionKey(binaries.qsd.version);
    if (got !== version) {
      throw new Error(
        `${QEMU_SUITES[version].suite} now ships QEMU ${binaries.qsd.version}, not ${version}: update QEMU_SUITES`,
      );
    }
    const manifest: Manifest = {
      requested: version,
      suite: QEMU_SUITES[version].suite,
      mirror,
      installedAt: new Date().toISOString(),
      binaries,
    };
    await writeFile(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      await rename(tmp, root);
    } catch (e) {
      // another installer won the race: keep theirs
      const theirs = readManifest(root);
      if (!theirs) throw e;
      removeTree(tmp);
      return { root, manifest: theirs, installed: false, seconds: (Date.now() - started) / 1000 };
    }
    return { root, manifest, installed: true, seconds: (Date.now() - started) / 1000 };
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
}

/** debootstrap mounts /proc and /sys in the target; never let rm walk into a mount */
function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  spawnSync('rm', ['-rf', '--one-file-system', '--', dir]);
}

function runBounded(
  argv: string[],
  log: string,
  timeoutMs: number,
  onLine?: (line: string) => void,
): Promise<void> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error('empty argv'));
  return new Promise((done, fail) => {
    const out = createWriteStream(log);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    if (onLine) {
      let rest = '';
      child.stdout.on('data', (d: Buffer) => {
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) onLine(l);
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // debootstrap runs dpkg and friends as children: end the whole group
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      out.end();
      fail(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      out.end(() => {
        if (timedOut)
          fail(new Error(`${cmd} timed out after ${Math.round(timeoutMs / 1000)} s (log: ${log})`));
        else if (code !== 0) fail(new Error(`${cmd} failed (exit ${code}): ${lastLine(log)} (log: ${log})`));
        else done();
      });
    });
  });
}

function lastLine(file: string): string {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  return [...lines].reverse().find((l) => l.startsWith('E:')) ?? lines.at(-1) ?? '';
}

export interface ListedQemu extends ReportedVersion {
  /** the debootstrapped root, or absent for the one on PATH */
  root?: string;
  requested?: QemuVersion;
}

export function listQemu(cache: string = cacheDir()): ListedQemu[] {
  const out: ListedQemu[] = [];
  const dir = join(cache, 'qemu');
  for (const name of existsSync(dir) ? readdirSync(dir).sort() : []) {
    if (!isQemuVersion(name)) continue;
    const m = readManifest(join(dir, name));
    if (m) out.push({ ...m.binaries.qsd, root: join(dir, name), requested: m.requested });
  }
  const sys = systemQemu();
  if (sys) out.push({ version: sys.version, package: sys.package });
  return out;
}

function systemQemu(): ResolvedQemu | undefined {
  const qsd = onPath(BINARIES.qsd);
  if (!qsd) return undefined;
  try {
    return fromFolder(dirname(qsd));
  } catch {
    return undefined;
  }
}

function fromFolder(dir: string): ResolvedQemu {
  const inv = folderInvocation(dir);
  return { ...reportVersion(inv.qsd, inv.env), ...inv };
}

function fromRoot(root: string): ResolvedQemu {
  const inv = rootInvocation(root, rootLoader(root));
  const m = readManifest(root);
  const reported = m ? m.binaries.qsd : reportVersion(inv.qsd, inv.env);
  return { ...reported, root, ...inv };
}

function isRoot(dir: string): boolean {
  return (
    existsSync(join(dir, 'usr', 'bin', BINARIES.qsd)) && lstatSafe(join(dir, 'lib64', 'ld-linux-x86-64.so.2'))
  );
}

/**
 * spec: a version ('5.2'), a debootstrapped root, a folder or binary path, or undefined for PATH.
 * '7.2' may be answered by the host's own QEMU when that is what it is.
 */
export function resolveQemu(spec?: string, cache: string = cacheDir()): ResolvedQemu {
  if (spec === undefined) {
    const sys = systemQemu();
    if (!sys) throw new Error(`${BINARIES.qsd} not found on PATH`);
    return sys;
  }
  if (isQemuVersion(spec)) {
    const root = qemuRoot(spec, cache);
    if (readManifest(root)) return fromRoot(root);
    const sys = systemQemu();
    if (sys && versionKey(sys.version) === spec) return sys;
    throw new Error(`QEMU ${spec} is not installed: run 'fleece-lab qemu install ${spec}'`);
  }
  if (!existsSync(spec)) throw new Error(`no such QEMU version, root or binary: ${spec}`);
  const path = resolve(spec);
  if (statSync(path).isDirectory()) return path !== '/' && isRoot(path) ? fromRoot(path) : fromFolder(path);
  // a binary inside a root (ROOT/usr/bin/x) runs with that root's loader
  const maybeRoot = resolve(dirname(path), '..', '..');
  if (maybeRoot !== '/' && dirname(path) === join(maybeRoot, 'usr', 'bin') && isRoot(maybeRoot))
    return fromRoot(maybeRoot);
  return fromFolder(dirname(path));
}
