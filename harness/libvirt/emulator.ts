/**
 * What a domain's <emulator> can be: the host's qemu-system-x86_64, or a wrapper script in the scratch
 * folder that runs anything else as one — a debootstrapped QEMU root through its own dynamic loader
 * (harness/qemu/install.ts rootInvocation, with the root's firmware folders on -L), or the simulator
 * (`fleece-lab serve --flavour system`). libvirt runs the emulator with a clean environment (LC_ALL,
 * PATH, HOME, XDG_*), so whatever the program needs from the environment the script sets itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARIES, rootInvocation, rootLoader } from '../qemu/install.js';

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The host's qemu-system-x86_64 (the first on PATH). */
export function hostEmulator(envPath: string = process.env.PATH ?? ''): string {
  for (const dir of envPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, BINARIES.system);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.realpathSync(p);
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${BINARIES.system} not found on PATH`);
}

/** A script that execs `argv` followed by libvirt's own arguments, with `env` set. */
export function wrapperScript(argv: readonly string[], env: Readonly<Record<string, string>> = {}): string {
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
  return ['#!/bin/sh', ...exports, `exec ${argv.map(shellQuote).join(' ')} "$@"`, ''].join('\n');
}

export function writeWrapper(
  file: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
): string {
  fs.writeFileSync(file, wrapperScript(argv, env), { mode: 0o755 });
  return file;
}

/** Where the host's own QEMU keeps its loadable modules (Debian). */
export const HOST_MODULE_DIR = '/usr/lib/x86_64-linux-gnu/qemu';

/**
 * A wrapper running a debootstrapped QEMU root's qemu-system-x86_64 (e.g. ~/.cache/fleece-lab/qemu/10.0).
 *
 * QEMU looks for modules in $QEMU_MODULE_DIR and then in the folder it was built for, which is the
 * host's: a module the root lacks (ui-opengl, not in a minbase root) is then loaded from the host's QEMU
 * 7.2, refused ("Only modules from the same build can be loaded"), and the next one aborts QEMU
 * (module_load_dso: Assertion `QTAILQ_EMPTY(&dso_init_list)' failed) — seen on 10.0 at libvirt's
 * capability probe (qom-list-types loads every module). So the wrapper runs QEMU in a private mount
 * namespace where the root's module folder is mounted over the host's; the host sees no change, and
 * QEMU keeps the wrapper's pid (unshare without --fork execs in place).
 */
export function rootEmulator(root: string, file: string): string {
  const inv = rootInvocation(root, rootLoader(root));
  const mods = inv.env.QEMU_MODULE_DIR;
  // a root without modules (5.2's) has nothing to mount
  if (!mods || !fs.existsSync(mods) || !fs.existsSync(HOST_MODULE_DIR))
    return writeWrapper(file, inv.system, inv.env);
  const argv = [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount --bind "$0" ${HOST_MODULE_DIR} && exec "$@"`,
    mods,
    ...inv.system,
  ];
  return writeWrapper(file, argv, inv.env);
}

/**
 * The simulator as a domain's <emulator>: `fleece-lab serve --flavour system --profile V` behind a wrapper
 * (libvirt passes the script its qemu-system-x86_64 options; node is named by its full path, as libvirt's
 * PATH may not have it).
 */
export function simulatorEmulator(version: string, file: string): string {
  const cli = fileURLToPath(new URL('../../bin/fleece-lab.js', import.meta.url));
  return writeWrapper(file, [process.execPath, cli, 'serve', '--flavour', 'system', '--profile', version]);
}
