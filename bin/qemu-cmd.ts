import {
  installQemu,
  isQemuVersion,
  listQemu,
  QEMU_VERSIONS,
  type QemuVersion,
  versionKey,
} from '../harness/qemu/install.ts';
import { type Progress, progressFor } from './progress.ts';

/** `fleece-lab qemu list`: one line per QEMU: requested version (or PATH), version, package, root */
export function cmdQemuList(): number {
  const all = listQemu();
  if (all.length === 0) console.log('no QEMU installed; try: fleece-lab qemu install 7.2');
  for (const q of all)
    console.log(`${q.requested ?? 'PATH'}\t${q.version}\t${q.package}\t${q.root ?? '(system)'}`);
  return 0;
}

/**
 * `fleece-lab qemu install VERSION|all`. A version named alone is installed into the cache. `all` installs
 * every version this machine cannot run yet: one already in the cache is reported as such, and one that
 * the QEMU on PATH already is (7.2 from Debian's apt here) is not installed a second time, because every
 * command that asks for that version gets the one on PATH.
 */
export async function cmdQemuInstall(arg: string): Promise<number> {
  const versions: QemuVersion[] = arg === 'all' ? [...QEMU_VERSIONS] : isQemuVersion(arg) ? [arg] : [];
  if (versions.length === 0) {
    console.error(
      `fleece-lab qemu install: unknown version '${arg}' (known: ${QEMU_VERSIONS.join(', ')}, all)`,
    );
    return 2;
  }
  const have = arg === 'all' ? listQemu() : [];
  const onPath = have.find((q) => q.root === undefined);
  let failed = 0;
  for (const v of versions) {
    if (onPath && versionKey(onPath.version) === v && !have.some((q) => q.requested === v)) {
      console.log(`${v}\t${onPath.version}\t${onPath.package}\ton PATH, not installed again`);
      continue;
    }
    const progress = progressFor();
    try {
      const r = await installQemu(v, { onLine: debootstrapSteps(progress, `qemu install ${v}`) });
      progress.done();
      const q = r.manifest.binaries.qsd;
      console.log(
        `${v}\t${q.version}\t${q.package}\t${r.installed ? `installed in ${r.seconds.toFixed(0)} s` : 'already installed'}`,
      );
    } catch (e) {
      progress.done();
      failed++;
      console.error(`${v}\tfailed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

/**
 * debootstrap's steps as progress: every package is retrieved, validated, unpacked and configured, and all
 * are retrieved first, so four steps per package retrieved is the whole once the downloads are done.
 */
export function debootstrapSteps(progress: Progress, what: string): (line: string) => void {
  let packages = 0;
  let steps = 0;
  progress.start(0, 'debootstrap steps', what);
  return (line) => {
    const m = /^I: (Retrieving|Validating|Unpacking|Configuring) \S+/.exec(line);
    if (!m || /(Release|Packages|InRelease)\b/.test(line)) return;
    if (m[1] === 'Retrieving') packages++;
    steps++;
    progress.set(Math.min(steps, packages * 4), 0, packages * 4);
  };
}
