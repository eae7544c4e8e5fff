import { text } from '../../contract/versions.ts';
import { BlockBackend, type BlockNode } from '../block/graph.ts';
import { PERM, PERM_ALL } from '../block/perm.ts';
import type { SimCore } from '../core/core.ts';
import { IoError } from '../util/io-error.ts';
import { generic, QmpError } from '../util/qmp-error.ts';

/**
 * human-monitor-command, the part fleece-lab uses: `qemu-io [-d] DEVICE "COMMAND"` (hmp_qemu_io), the way
 * tests do guest I/O on qemu-system. The reply is "" on success: qemu-io prints its report on QEMU's stdout,
 * which the simulator keeps in `core.stdout`.
 */
export function humanMonitorCommand(core: SimCore, commandLine: string): string {
  const m =
    /^\s*qemu-io\s+(-d\s+)?(\S+)\s+"(.*)"\s*$/.exec(commandLine) ??
    /^\s*qemu-io\s+(-d\s+)?(\S+)\s+(.*)$/.exec(commandLine);
  if (!m) {
    const word = commandLine.trim().split(/\s+/)[0] ?? '';
    if (word === 'qemu-io') return "Parameter 'device' is missing\r\n";
    return `unknown command: '${word}'\r\n`;
  }
  const [, qdev, device, cmd] = m;
  let blk: BlockBackend | undefined;
  let local = false;
  if (qdev) {
    const id = device.replace(/\/virtio-backend$/, '');
    const dev = core.devices.get(id);
    if (!dev) return `Error: Device '${device}' not found\r\n`;
    blk = dev.blk;
  } else {
    const node = core.graph.find(device);
    if (!node) return `Error: ${text(core.version, 'node.notFoundDeviceOrNode', '', device)}\r\n`;
    blk = new BlockBackend(undefined, 'an unnamed block device', 0, PERM_ALL);
    core.graph.attach({ kind: 'blk', blk }, node, 'root', 'other');
    core.addBlk(blk);
    local = true;
  }
  try {
    return runQemuIo(core, blk, cmd, local);
  } finally {
    if (local) {
      core.removeBlk(blk);
      core.refreshPerms();
    }
  }
}

function parseNum(s: string): number {
  const m = /^(0x[0-9a-f]+|\d+)([kKmMgGtT]?)$/.exec(s);
  if (!m) return Number.NaN;
  const base = Number(m[1]);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  return base * mult;
}

/** cvtstr of qemu-io: "64 KiB", "1.500000 KiB" */
function cvtstr(value: number): string {
  const units: [number, string][] = [
    [1024 ** 4, ' TiB'],
    [1024 ** 3, ' GiB'],
    [1024 ** 2, ' MiB'],
    [1024, ' KiB'],
  ];
  for (const [u, suffix] of units) {
    if (value >= u) {
      const s = (value / u).toFixed(6);
      return s.endsWith('.000000') ? s.slice(0, -7) + suffix : s + suffix;
    }
  }
  return `${value.toFixed(6).replace(/\.000000$/, '')} bytes`;
}

function runQemuIo(core: SimCore, blk: BlockBackend, cmd: string, temporary: boolean): string {
  const argv = cmd.trim().split(/\s+/);
  const name = argv.shift() ?? '';
  let pattern: number | undefined;
  let zero = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-P') pattern = parseNum(argv[++i] ?? '');
    else if (argv[i] === '-z') zero = true;
    else if (argv[i] === '-q' || argv[i] === '-v') continue;
    else rest.push(argv[i]);
  }
  const out = (line: string) => core.stdout.push(line);
  const node = blk.bs as BlockNode;
  const [offset, length] = [parseNum(rest[0] ?? ''), parseNum(rest[1] ?? '')];
  const stats = (verb: string) => {
    out(`${verb} ${length}/${length} bytes at offset ${offset}\n`);
    out(`${cvtstr(length)}, 1 ops; 00.00 sec (0 bytes/sec and 0.0000 ops/sec)\n`);
  };
  switch (name) {
    case 'read': {
      if (Number.isNaN(offset) || Number.isNaN(length)) return '';
      try {
        if (offset + length > node.size) throw new IoError(5);
        const data = node.read(offset, length);
        if (pattern !== undefined) {
          const bad = data.findIndex((b) => b !== (pattern! & 0xff));
          if (bad >= 0) out(`Pattern verification failed at offset ${offset}, ${length} bytes\n`);
        }
        stats('read');
      } catch (e) {
        if (!(e instanceof IoError)) throw e;
        out(`read failed: ${e.message}\n`);
      }
      return '';
    }
    case 'write':
    case 'discard': {
      if (Number.isNaN(offset) || Number.isNaN(length)) return '';
      // qemu-io asks for write permission just for this command
      const saved = blk.perm;
      blk.perm |= PERM.WRITE;
      try {
        core.refreshPerms();
      } catch (e) {
        blk.perm = saved;
        core.refreshPerms();
        if (e instanceof QmpError) return `${e.desc}\r\n`;
        throw e;
      }
      try {
        if (offset + length > node.size) throw new IoError(5);
        if (name === 'discard') node.discard(offset, length);
        else if (zero) node.writeZeroes(offset, length);
        else node.write(offset, new Uint8Array(length).fill((pattern ?? 0xcd) & 0xff));
        stats(name === 'discard' ? 'discard' : 'wrote');
      } catch (e) {
        if (!(e instanceof IoError)) throw e;
        out(`${name} failed: ${e.message}\n`);
      } finally {
        blk.perm = saved;
        // a temporary BlockBackend goes away next, and that refresh covers this one
        if (!temporary) core.refreshPerms();
      }
      return '';
    }
    case 'flush':
      node.flush();
      return '';
    default:
      core.stdout.push(`command "${name}" not found\n`);
      return '';
  }
}

/** qom-set PATH drive NODE: switch a guest device to another node (libvirt does this to insert a filter) */
export function qomSet(core: SimCore, path: string, property: string, value: unknown): void {
  const m = /^\/machine\/peripheral\/([^/]+)(\/virtio-backend)?$/.exec(path);
  const dev = m ? core.devices.get(m[1]) : undefined;
  if (!dev) throw new QmpError('DeviceNotFound', `Device '${path}' not found`);
  if (property !== 'drive') throw generic(`Property '${property}' not found`);
  if (typeof value !== 'string') throw generic("Invalid parameter type for 'value', expected: string");
  const node = core.graph.find(value);
  if (!node) throw generic(text(core.version, 'node.notFoundDeviceOrNode', value, value));
  const old = dev.blk.root;
  if (!old) throw generic('fleece-lab: device has no drive');
  const prev = old.bs;
  core.graph.retarget(old, node);
  try {
    core.refreshPerms();
  } catch (e) {
    core.graph.retarget(old, prev);
    core.refreshPerms();
    throw e;
  }
}
