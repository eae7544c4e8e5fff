import { fileURLToPath } from 'node:url';
import { type Feature, type Profile, profileSchema } from '../../contract/versions.ts';
import { QmpClient } from '../clients/qmp-client.ts';
import { resolveQemu } from '../qemu/install.ts';
import { checkNoGuests } from './attach.ts';

/** How a runbook reaches its target: the simulator in process, a QEMU process to start, or a running QEMU. */
export type TargetSpec =
  | {
      kind: 'sim';
      profile: Profile;
      seed?: number;
      /** features of the profile switched the other way (contract/versions.ts, withSwitched) */
      switched?: Feature[];
    }
  | { kind: 'attach'; socket: string; allowLiveVm: boolean; qmpTimeoutMs?: number }
  | {
      kind: 'qemu';
      argvPrefix?: string[];
      env?: NodeJS.ProcessEnv;
      qemuImg?: string[];
      qemuIo?: string[];
      /** bound on each QMP reply (default $FLEECE_LAB_QMP_TIMEOUT_MS, else 10 s): past it the target is stuck */
      qmpTimeoutMs?: number;
    };

/**
 * `--target` values: sim[:PROFILE] | serve[:PROFILE] | qsd[:BINARY_OR_ROOT_OR_VERSION] | system[:...] | qemu[:...]. A real
 * target runs each runbook on the program its flavour needs (qemu-storage-daemon or qemu-system-x86_64) of
 * the same QEMU installation; `qsd` skips the runbooks that need qemu-system, `qemu` runs both kinds.
 */
export interface ResolvedTarget {
  label: string;
  kind: 'sim' | 'qemu';
  /** the simulator, in process or as `serve`: its known differences are xfail, and it is never retried */
  simulator?: boolean;
  profile: Profile;
  qemu: { version: string; package: string };
  spec(flavour: 'qsd' | 'system'): TargetSpec;
}

export function resolveTarget(t: string): ResolvedTarget {
  const [kind, arg] = t.includes(':')
    ? [t.slice(0, t.indexOf(':')), t.slice(t.indexOf(':') + 1)]
    : [t, undefined];
  if (kind === 'sim') {
    const p = profileSchema.safeParse(arg ?? '7.2');
    if (!p.success) throw new Error(`--target sim:${arg}: unknown profile (known: 5.2, 7.2, 10.0, 11.1)`);
    return {
      label: `sim:${p.data}`,
      kind: 'sim',
      simulator: true,
      profile: p.data,
      qemu: { version: p.data, package: 'fleece-lab simulator' },
      spec: () => ({ kind: 'sim', profile: p.data }),
    };
  }
  if (kind === 'serve') {
    // the simulator as a process, started exactly like qemu-storage-daemon or qemu-system-x86_64
    const p = profileSchema.safeParse(arg ?? '7.2');
    if (!p.success) throw new Error(`--target serve:${arg}: unknown profile (known: 5.2, 7.2, 10.0, 11.1)`);
    const cli = fileURLToPath(new URL('../../bin/fleece-lab.js', import.meta.url));
    return {
      label: `serve:${p.data}`,
      kind: 'qemu',
      simulator: true,
      profile: p.data,
      qemu: { version: p.data, package: 'fleece-lab serve' },
      spec: (flavour) => ({
        kind: 'qemu',
        argvPrefix: [
          process.execPath,
          cli,
          'serve',
          ...(flavour === 'system' ? ['--flavour', 'system'] : []),
          '--profile',
          p.data,
        ],
      }),
    };
  }
  if (kind === 'qsd' || kind === 'system' || kind === 'qemu') {
    const q = resolveQemu(arg);
    const m = /^(\d+)\.(\d+)/.exec(q.version);
    const profile = profileSchema.safeParse(m ? `${m[1]}.${m[2]}` : '');
    if (!profile.success)
      throw new Error(`--target ${t}: QEMU ${q.version} is not one of the profiles 5.2, 7.2, 10.0, 11.1`);
    return {
      label: `${kind}:${q.version}`,
      kind: 'qemu',
      profile: profile.data,
      qemu: { version: q.version, package: q.package },
      spec: (flavour) => ({
        kind: 'qemu',
        argvPrefix: flavour === 'qsd' ? q.qsd : q.system,
        env: { ...process.env, ...q.env },
        qemuImg: q.img,
        qemuIo: q.io,
      }),
    };
  }
  throw new Error(
    `--target ${t}: expected sim[:PROFILE], serve[:PROFILE], qsd[:BINARY_OR_ROOT], system[:BINARY_OR_ROOT] or qemu[:BINARY_OR_ROOT]`,
  );
}

/**
 * `qmp:SOCKET`: a running QEMU reached through its QMP socket. Its version decides which recordings the
 * checks are compared with.
 */
export async function resolveAttachTarget(socket: string, allowLiveVm: boolean): Promise<ResolvedTarget> {
  const q = await QmpClient.connect(socket);
  try {
    await checkNoGuests(q, allowLiveVm);
    const v = (await q.execute('query-version')) as {
      qemu: { major: number; minor: number; micro: number };
      package: string;
    };
    const version = `${v.qemu.major}.${v.qemu.minor}.${v.qemu.micro}`;
    const p = profileSchema.safeParse(`${v.qemu.major}.${v.qemu.minor}`);
    if (!p.success)
      throw new Error(
        `--target qmp:${socket}: QEMU ${version} is not one of the profiles 5.2, 7.2, 10.0, 11.1`,
      );
    return {
      label: `qmp:${version}`,
      kind: 'qemu',
      profile: p.data,
      qemu: { version, package: v.package },
      spec: () => ({ kind: 'attach', socket, allowLiveVm }),
    };
  } finally {
    await q.close();
  }
}
