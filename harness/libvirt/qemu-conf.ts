/**
 * The one file outside its own folders the private libvirtd needs: a root-run (qemu:///system) libvirtd
 * reads the QEMU driver's settings only from /etc/libvirt/qemu.conf, with no option to point elsewhere.
 * What it must say (FACTS §11) for a test-owned QEMU without the system's helpers:
 *
 *   user/group root              the QEMU runs as root: it opens images in the test's scratch folder
 *   security_driver "none"       no AppArmor/SELinux labelling of scratch files
 *   namespaces []                no private /dev mount namespace (scratch paths stay visible as they are)
 *   cgroup_controllers []        no cgroup setup (none is delegated inside a container)
 *   stdio_handler "file"         QEMU's stdout/stderr go straight to /var/log/libvirt/qemu/NAME.log, no virtlogd
 *   dynamic_ownership 0          libvirt leaves the owner of every image as it is
 *
 * The file is replaced whole (the Debian default is all comments) and the original is kept byte-exact
 * and put back, mode and times included, at teardown.
 */
import fs from 'node:fs';

export const QEMU_CONF = '/etc/libvirt/qemu.conf';

export const QEMU_CONF_SETTINGS: Readonly<Record<string, string>> = {
  user: '"root"',
  group: '"root"',
  security_driver: '"none"',
  namespaces: '[]',
  cgroup_controllers: '[]',
  stdio_handler: '"file"',
  dynamic_ownership: '0',
};

export function qemuConfText(): string {
  const lines = Object.entries(QEMU_CONF_SETTINGS).map(([k, v]) => `${k} = ${v}`);
  return `# written by fleece-lab's libvirt harness for a test-owned libvirtd; the original is restored at teardown\n${lines.join('\n')}\n`;
}

/** Copies `from` over `to` and gives it back `from`'s mode and times. */
export function copyExact(from: string, to: string): void {
  const st = fs.statSync(from);
  fs.copyFileSync(from, to);
  fs.chmodSync(to, st.mode & 0o7777);
  fs.utimesSync(to, st.atime, st.mtime);
}

/** Saves the current qemu.conf (if any) to `backup` and writes ours. Returns whether there was one. */
export function installQemuConf(backup: string, target: string = QEMU_CONF): boolean {
  const had = fs.existsSync(target);
  if (had) copyExact(target, backup);
  fs.writeFileSync(target, qemuConfText(), { mode: 0o600 });
  return had;
}

/** Puts back what installQemuConf found: the saved file, or no file at all. */
export function restoreQemuConf(backup: string, had: boolean, target: string = QEMU_CONF): void {
  if (had) {
    copyExact(backup, target);
    fs.rmSync(backup, { force: true });
  } else {
    fs.rmSync(target, { force: true });
  }
}
