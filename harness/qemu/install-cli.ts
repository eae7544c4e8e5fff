/**
 * `tsx conformance/qemu/install-cli.ts install VERSION|all` and `... list`: a stand-in for
 * `fleece-lab qemu install|list` until bin/ wires these in.
 */
import { installQemu, isQemuVersion, listQemu, QEMU_VERSIONS, type QemuVersion } from './install.ts';

async function main(argv: string[]): Promise<number> {
  const [cmd, arg] = argv;
  if (cmd === 'list') {
    for (const q of listQemu()) {
      console.log(`${q.requested ?? 'PATH'}\t${q.version}\t${q.package}\t${q.root ?? '(system)'}`);
    }
    return 0;
  }
  if (cmd === 'install' && arg) {
    // 7.2 normally comes from the host's apt, so `all` leaves it out
    const versions: QemuVersion[] =
      arg === 'all' ? QEMU_VERSIONS.filter((v) => v !== '7.2') : isQemuVersion(arg) ? [arg] : [];
    if (versions.length === 0) {
      console.error(`unknown version ${arg}; known: ${QEMU_VERSIONS.join(' ')}`);
      return 2;
    }
    let failed = 0;
    for (const v of versions) {
      try {
        const r = await installQemu(v);
        const q = r.manifest.binaries.qsd;
        const how = r.installed ? `installed in ${r.seconds.toFixed(1)} s` : 'already installed';
        console.log(`${v}\t${q.version}\t${q.package}\t${r.root}\t${how}`);
      } catch (e) {
        failed++;
        console.log(`${v}\tFAILED\t${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return failed ? 1 : 0;
  }
  console.error('usage: install-cli.ts install VERSION|all | list');
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
