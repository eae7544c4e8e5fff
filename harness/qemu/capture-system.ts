/**
 * Capture what a real qemu-system-x86_64 says about itself beyond the QAPI schema, as the simulator's
 * system flavour answers it (contract/qemu-system/<version>.json, loaded by contract/qemu-system/
 * system-data.ts):
 *
 * - what its command line prints for -h, -machine help and -accel help;
 * - over QMP on `-M none`: its machines, QOM types, CPU models, and the properties of the machine and
 *   device types the simulator creates;
 * - its replies to the requests real libvirt 9.0 sends, each under the command line libvirt sends them
 *   to: the capability probe with KVM (when /dev/kvm is there) and with TCG, and a q35 domain as libvirt
 *   starts it (`-machine pc-q35-V,...`, `-cpu qemu64`, pcie-root-ports, two virtio disks). The requests
 *   are libvirt's own, taken once from its monitor log (harness/qemu/libvirt-requests.json; see
 *   `requestsFromConversation`).
 *
 * Raw QMP over node's net module, as capture-schema.ts does.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ReplyContext,
  type SystemData,
  systemDataSchema,
} from '../../contract/qemu-system/system-data.ts';
import { kvmUsable } from '../../sim/serve/system-machine.ts';
import { connectWhenReady, QmpConnection, withTimeout } from './capture-schema.ts';
import { type ResolvedQemu, versionKey } from './install.ts';

type Json = Record<string, unknown>;
export interface Request {
  execute: string;
  arguments?: Json;
}
export type RequestTable = Record<string, Partial<Record<ReplyContext, Request[]>>>;

/** the device types the simulator creates (their properties check -device) */
export const DEVICES = ['virtio-blk-pci', 'pcie-root-port'] as const;

export const REQUESTS_FILE = fileURLToPath(new URL('./libvirt-requests.json', import.meta.url));

export function loadRequests(file = REQUESTS_FILE): RequestTable {
  return JSON.parse(readFileSync(file, 'utf8')) as RequestTable;
}

/** what the simulator answers itself (state, block layer, the schema snapshot): not captured */
const SIMULATED = new Set([
  'qmp_capabilities',
  'query-version',
  'query-qmp-schema',
  'query-commands',
  'query-chardev',
  'query-named-block-nodes',
  'query-block',
  'query-block-jobs',
  'query-jobs',
  'query-status',
  'query-iothreads',
  'migrate-set-capabilities',
  'cont',
  'stop',
  'human-monitor-command',
]);

/**
 * The requests of one libvirt conversation that the capture replays, in order, without repeats: those
 * the simulator answers from captured data. `messages` are [direction, step, message] as
 * harness/libvirt's fixtures keep them; the domain's requests stop at its first `cont`.
 */
export function requestsFromConversation(messages: readonly [string, string, unknown][]): Request[] {
  const out: Request[] = [];
  const seen = new Set<string>();
  for (const [dir, , m] of messages) {
    if (dir !== 'send') continue;
    const msg = m as { execute?: string; arguments?: Json };
    if (!msg.execute) continue;
    if (msg.execute === 'cont') break;
    if (SIMULATED.has(msg.execute) || msg.execute.startsWith('block') || msg.execute.startsWith('job-'))
      continue;
    const r: Request = { execute: msg.execute };
    if (msg.arguments) r.arguments = msg.arguments;
    const key = JSON.stringify(r);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

/** the q35 domain libvirt 9.0 starts for two virtio disks (its command line, as its domain log shows it) */
export function domainArgv(q: ResolvedQemu, dir: string, socket: string): string[] {
  const v = versionKey(q.version);
  const json = v !== '5.2';
  writeFileSync(join(dir, 'master-key.aes'), Buffer.alloc(32, 7));
  const disks = [0, 1].map((i) => {
    const f = join(dir, `disk${i}.img`);
    writeFileSync(f, Buffer.alloc(0));
    spawnSync('truncate', ['-s', '1M', f]);
    return f;
  });
  const dev = (o: Json) =>
    json
      ? JSON.stringify(o)
      : Object.entries(o)
          .map(([k, x]) => (k === 'driver' ? String(x) : `${k}=${x === true ? 'on' : String(x)}`))
          .join(',');
  const obj = (o: Json) =>
    json
      ? JSON.stringify(o)
      : Object.entries(o)
          .map(([k, x]) => (k === 'qom-type' ? String(x) : `${k}=${String(x)}`))
          .join(',');
  const argv = [
    '-name',
    'guest=fleece,debug-threads=on',
    '-S',
    '-object',
    obj({ 'qom-type': 'secret', id: 'masterKey0', format: 'raw', file: join(dir, 'master-key.aes') }),
    '-machine',
    `pc-q35-${v},usb=off,dump-guest-core=off,memory-backend=pc.ram`,
    '-accel',
    'tcg',
    '-cpu',
    'qemu64',
    '-m',
    '128',
    '-object',
    obj({ 'qom-type': 'memory-backend-ram', id: 'pc.ram', size: 134217728 }),
    '-overcommit',
    'mem-lock=off',
    '-smp',
    '1,sockets=1,cores=1,threads=1',
    '-uuid',
    '93048900-276a-4903-a768-6d5028c0fae3',
    '-display',
    'none',
    '-no-user-config',
    '-nodefaults',
    '-chardev',
    `socket,id=charmonitor,path=${socket},server=on,wait=off`,
    '-mon',
    'chardev=charmonitor,id=monitor,mode=control',
    '-rtc',
    'base=utc',
    '-no-shutdown',
    '-boot',
    'strict=on',
  ];
  const ports = [0, 1, 2].map((i) => ({
    driver: 'pcie-root-port',
    port: 8 + i,
    chassis: i + 1,
    id: `pci.${i + 1}`,
    bus: 'pcie.0',
    ...(i === 0 ? { multifunction: true } : {}),
    addr: i === 0 ? '0x1' : `0x1.0x${i}`,
  }));
  for (const p of ports) argv.push('-device', dev(p));
  disks.forEach((file, i) => {
    const n = 2 - i;
    argv.push(
      '-blockdev',
      JSON.stringify({
        driver: 'file',
        filename: file,
        'node-name': `libvirt-${n}-storage`,
        'auto-read-only': true,
        discard: 'unmap',
      }),
      '-blockdev',
      JSON.stringify({
        'node-name': `libvirt-${n}-format`,
        'read-only': false,
        driver: 'raw',
        file: `libvirt-${n}-storage`,
      }),
      '-device',
      dev({
        driver: 'virtio-blk-pci',
        bus: `pci.${i + 1}`,
        addr: '0x0',
        drive: `libvirt-${n}-format`,
        id: `virtio-disk${i}`,
        ...(i === 0 ? { bootindex: 1 } : {}),
      }),
    );
  });
  argv.push('-audiodev', json ? JSON.stringify({ id: 'audio1', driver: 'none' }) : 'none,id=audio1');
  argv.push('-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
  argv.push('-msg', 'timestamp=on');
  return argv;
}

function contextArgv(context: ReplyContext | 'none', q: ResolvedQemu, dir: string, socket: string): string[] {
  const qmp = ['-qmp', `unix:${socket},server=on,wait=off`];
  switch (context) {
    case 'none':
      return ['-M', 'none', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-S', ...qmp];
    case 'probe-kvm':
    case 'probe-tcg': {
      const accel = context === 'probe-kvm' ? 'kvm:tcg' : 'tcg';
      const pid = ['-pidfile', join(dir, 'qmp.pid')];
      return [
        '-S',
        '-no-user-config',
        '-nodefaults',
        '-nographic',
        '-machine',
        `none,accel=${accel}`,
        ...qmp,
        ...pid,
      ];
    }
    case 'q35-tcg':
      return domainArgv(q, dir, socket);
  }
}

/** where the host's own QEMU keeps its loadable modules (Debian) */
const HOST_MODULE_DIR = '/usr/lib/x86_64-linux-gnu/qemu';

/**
 * A debootstrapped root's QEMU looks for modules in its QEMU_MODULE_DIR and then in the host's folder,
 * whose modules (another build) it refuses and then aborts on (module_load_dso's assertion, as
 * qom-list-types loads every module): it runs in a private mount namespace with its own module folder
 * mounted over the host's. The host sees no change and QEMU keeps the pid (unshare execs in place).
 */
function isolated(q: ResolvedQemu, argv: string[]): string[] {
  const mods = q.env.QEMU_MODULE_DIR;
  if (!q.root || !mods) return argv;
  try {
    accessSync(HOST_MODULE_DIR);
    accessSync(mods);
  } catch {
    return argv;
  }
  const script = `mount --bind "$0" ${HOST_MODULE_DIR} && exec "$@"`;
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, mods, ...argv];
}

/** Start QEMU under `context`, send `requests` in order, return each raw reply; always stops QEMU. */
async function session(
  q: ResolvedQemu,
  context: ReplyContext | 'none',
  requests: readonly Request[],
  timeoutMs: number,
): Promise<Json[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fleece-capsys-'));
  const sock = join(dir, 'qmp.sock');
  const argv = isolated(q, [...q.system, ...contextArgv(context, q, dir, sock)]);
  const child: ChildProcess = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, ...q.env },
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: dir,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let s: Socket | undefined;
  try {
    const run = async (): Promise<Json[]> => {
      s = await connectWhenReady(sock, child, Date.now() + timeoutMs);
      const qmp = new QmpConnection(s);
      let greeting = await qmp.next();
      while (!('QMP' in greeting)) greeting = await qmp.next();
      await qmp.execute('qmp_capabilities', 0);
      const out: Json[] = [];
      let id = 1;
      for (const r of requests) out.push(await qmp.executeRaw(r.execute, r.arguments, id++));
      return out;
    };
    return await withTimeout(run(), timeoutMs, `${context} capture`);
  } catch (e) {
    const why = stderr.trim().split('\n').at(-1);
    throw new Error(`${e instanceof Error ? e.message : String(e)}${why ? ` (stderr: ${why})` : ''}`);
  } finally {
    (s as Socket | undefined)?.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function cli(q: ResolvedQemu, args: string[]): string {
  const argv = isolated(q, [...q.system, ...args]);
  const r = spawnSync(argv[0], argv.slice(1), {
    env: { ...process.env, ...q.env },
    encoding: 'utf8',
    timeout: 30_000,
    argv0: q.system.length === 1 ? 'qemu-system-x86_64' : undefined,
  });
  if (r.status !== 0) throw new Error(`qemu-system-x86_64 ${args.join(' ')}: exit ${r.status}`);
  return r.stdout;
}

export async function captureSystem(
  q: ResolvedQemu,
  requests: Partial<Record<ReplyContext, Request[]>>,
  timeoutMs = 60_000,
): Promise<SystemData> {
  const [machines, types, cpus] = (
    await session(
      q,
      'none',
      [
        { execute: 'query-machines' },
        { execute: 'qom-list-types', arguments: { abstract: true } },
        { execute: 'query-cpu-definitions' },
      ],
      timeoutMs,
    )
  ).map((r) => r.return) as [Json[], Json[], Json[]];
  const machineTypes = ['none', 'q35', 'pc'].map((n) => {
    const m = machines.find((x) => x.name === n || x.alias === n);
    if (!m) throw new Error(`no machine ${n}`);
    return `${String(m.name)}-machine`;
  });
  const propReplies = await session(
    q,
    'none',
    [
      ...machineTypes.map((typename) => ({ execute: 'qom-list-properties', arguments: { typename } })),
      ...DEVICES.map((typename) => ({ execute: 'device-list-properties', arguments: { typename } })),
    ],
    timeoutMs,
  );
  const props = propReplies.map((r) => r.return as Json[]);
  const replies: SystemData['replies'] = [];
  for (const [context, list] of Object.entries(requests) as [ReplyContext, Request[]][]) {
    if (context === 'probe-kvm' && !kvmUsable()) continue;
    const got = await session(q, context, list, timeoutMs);
    list.forEach((request, i) => {
      replies.push({ context, request, reply: got[i] as SystemData['replies'][0]['reply'] });
    });
  }
  const version = q.package ? `${q.version} (${q.package})` : q.version;
  return systemDataSchema.parse({
    qemu: version,
    cli: {
      help: cli(q, ['-h']),
      machineHelp: cli(q, ['-machine', 'help']),
      accelHelp: cli(q, ['-accel', 'help']),
    },
    machines,
    types,
    machineProps: Object.fromEntries(machineTypes.map((t, i) => [t, props[i]])),
    deviceProps: Object.fromEntries(DEVICES.map((t, i) => [t, props[machineTypes.length + i]])),
    cpus,
    replies,
  });
}
