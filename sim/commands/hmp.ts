import { text } from '../../contract/versions.ts';
import { BlockBackend, type BlockNode } from '../block/graph.ts';
import { PERM, PERM_ALL } from '../block/perm.ts';
import type { SimCore } from '../core/core.ts';
import { resolveDevicePath } from '../core/qom-tree.ts';
import { IoError } from '../util/io-error.ts';
import { QmpError } from '../util/qmp-error.ts';

/**
 * human-monitor-command, the part fleece-lab uses: `qemu-io [-d] DEVICE "COMMAND"` (hmp_qemu_io), the way
 * tests do guest I/O on qemu-system. The reply is "" on success: qemu-io prints its report on QEMU's stdout,
 * which the simulator keeps in `core.stdout`.
 */
export function humanMonitorCommand(core: SimCore, commandLine: string): string {
  const words = commandLine.trim().split(/\s+/);
  if (words[0] !== 'qemu-io') return `unknown command: '${words[0] ?? ''}'\r\n`;
  const args = qemuIoArgs(commandLine.trim().slice('qemu-io'.length));
  if (args === 'no-device') return "Parameter 'device' is missing\r\n";
  // monitor_parse_arguments: a missing string argument
  if (args === 'no-command') return 'qemu-io: string expected\r\nTry "help qemu-io" for more information\r\n';
  if (args === 'unparsed') return `Error: fleece-lab: the HMP line '${commandLine}' is not simulated\r\n`;
  const { qdev, device, cmd } = args;
  let blk: BlockBackend | undefined;
  let local = false;
  if (qdev) {
    const found = deviceBackend(core, device);
    if (typeof found === 'string') return `Error: ${found}\r\n`;
    blk = found;
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

/**
 * qemu-io's HMP arguments ("qdev:-d,device:B,command:s"): the flag, then two strings, each a bare word or a
 * double-quoted string.
 */
function qemuIoArgs(
  rest: string,
): { qdev: boolean; device: string; cmd: string } | 'no-device' | 'no-command' | 'unparsed' {
  let at = 0;
  const word = (): string | undefined => {
    while (at < rest.length && /\s/.test(rest[at])) at++;
    if (at >= rest.length) return undefined;
    if (rest[at] === '"') {
      const end = rest.indexOf('"', at + 1);
      if (end < 0 || rest.slice(at + 1, end).includes('\\')) return undefined;
      const w = rest.slice(at + 1, end);
      at = end + 1;
      return w;
    }
    const start = at;
    while (at < rest.length && !/\s/.test(rest[at])) at++;
    return rest.slice(start, at);
  };
  let device = word();
  const qdev = device === '-d';
  if (qdev) device = word();
  if (device === undefined) return 'no-device';
  const cmd = word();
  if (cmd === undefined) return 'no-command';
  return rest.slice(at).trim() === '' ? { qdev, device, cmd } : 'unparsed';
}

/**
 * blk_by_qdev_id: the qdev path (absolute, or relative to /machine/peripheral) must name a device with a
 * BlockBackend. A virtio-blk-pci proxy has none: the backend belongs to its 'virtio-backend' child.
 */
function deviceBackend(core: SimCore, path: string): BlockBackend | string {
  const o = resolveDevicePath(core, path);
  if (o === 'absent') return `Device '${path}' not found`;
  if (o === 'unknown') return `fleece-lab: qemu-io -d on the QOM path '${path}' is not simulated`;
  if (o.kind === 'container' || o.kind === 'machine') return text(core.version, 'qdev.notADevice', path);
  if (o.kind === 'proxy') return 'Device does not have a block device backend';
  return o.device.blk;
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

/** qemu-io's dump_buffer: 16 bytes a line, hex then the alphanumerics */
function hexdump(data: Uint8Array, offset: number): string {
  let text = '';
  for (let i = 0; i < data.length; i += 16) {
    const row = data.subarray(i, Math.min(i + 16, data.length));
    const hex = [...row].map((b) => `${b.toString(16).padStart(2, '0')} `).join('');
    const ascii = [...row].map((b) =>
      /[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : '.',
    );
    text += `${(offset + i).toString(16).padStart(8, '0')}:  ${hex} ${ascii.join('')}\n`;
  }
  return text;
}

/** qemu-io's report of a done request, on QEMU's stdout (a module function: it runs for every guest write) */
function ioStats(core: SimCore, verb: string, offset: number, length: number): void {
  core.stdout.push(`${verb} ${length}/${length} bytes at offset ${offset}\n`);
  core.stdout.push(`${cvtstr(length)}, 1 ops; 00.00 sec (0 bytes/sec and 0.0000 ops/sec)\n`);
}

function runQemuIo(core: SimCore, blk: BlockBackend, cmd: string, temporary: boolean): string {
  const argv = cmd.trim().split(/\s+/);
  const name = argv.shift() ?? '';
  let pattern: number | undefined;
  let zero = false;
  let dump = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-P') pattern = parseNum(argv[++i] ?? '');
    else if (argv[i] === '-z') zero = true;
    else if (argv[i] === '-v') dump = true;
    else if (argv[i] === '-q') continue;
    else rest.push(argv[i]);
  }
  const node = blk.bs as BlockNode;
  const [offset, length] = [parseNum(rest[0] ?? ''), parseNum(rest[1] ?? '')];
  switch (name) {
    case 'read': {
      if (Number.isNaN(offset) || Number.isNaN(length)) return '';
      try {
        if (offset + length > node.size) throw new IoError(5);
        const data = node.read(offset, length);
        if (pattern !== undefined) {
          const bad = data.findIndex((b) => b !== (pattern! & 0xff));
          if (bad >= 0)
            core.stdout.push(`Pattern verification failed at offset ${offset}, ${length} bytes\n`);
        }
        if (dump) core.stdout.push(hexdump(data, offset));
        ioStats(core, 'read', offset, length);
      } catch (e) {
        if (!(e instanceof IoError)) throw e;
        core.stdout.push(`read failed: ${e.message}\n`);
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
        ioStats(core, name === 'discard' ? 'discard' : 'wrote', offset, length);
      } catch (e) {
        if (!(e instanceof IoError)) throw e;
        core.stdout.push(`${name} failed: ${e.message}\n`);
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
      // qemu-io reports an unknown command on stderr
      core.stderr.push(`command "${name}" not found\n`);
      return '';
  }
}
