import type { Device } from '../block/devices.ts';
import type { SimCore } from './core.ts';

/**
 * The part of qemu-system's QOM tree the simulator knows: the root, /machine, /machine/peripheral, each
 * guest disk (a virtio-blk-pci proxy) and its virtio-blk-device child 'virtio-backend' that owns the
 * BlockBackend. Real QEMU has many more objects; a path that may name one of them resolves to 'unknown',
 * which callers answer as not simulated rather than guess.
 */
export type QomObject =
  | { kind: 'container'; typeName: string; children: readonly string[] }
  | { kind: 'machine'; typeName: string }
  | { kind: 'proxy'; typeName: 'virtio-blk-pci'; device: Device }
  | { kind: 'backend'; typeName: 'virtio-blk-device'; device: Device };

export type Resolved = QomObject | 'absent' | 'unknown';

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/** the QOM type of /machine: 'pc-q35-7.2-machine' for the versioned q35 of a profile */
function machineType(core: SimCore): string {
  // serve --flavour system knows the machine type the command line chose
  if (core.machineState) return `${core.machineState.type}-machine`;
  const q = core.version.qemu;
  return core.machine === 'q35' ? `pc-q35-${q.major}.${q.minor}-machine` : 'none-machine';
}

/** An absolute path, component by component (object_resolve_path_component from the root). */
function resolveComponents(core: SimCore, parts: string[]): Resolved {
  if (parts.length === 0) return { kind: 'container', typeName: 'container', children: ['machine'] };
  if (parts[0] !== 'machine') return 'unknown';
  // qemu-storage-daemon has no machine
  if (core.flavour === 'qsd') return 'absent';
  if (parts.length === 1) return { kind: 'machine', typeName: machineType(core) };
  if (parts[1] !== 'peripheral') return 'unknown';
  if (parts.length === 2)
    return { kind: 'container', typeName: 'container', children: [...core.devices.keys()] };
  const device = core.devices.get(parts[2]);
  // /machine/peripheral holds the devices given an id, and nothing else
  if (!device) return 'absent';
  if (parts.length === 3) return { kind: 'proxy', typeName: 'virtio-blk-pci', device };
  if (parts.length === 4 && parts[3] === 'virtio-backend')
    return { kind: 'backend', typeName: 'virtio-blk-device', device };
  // "." and ".." are no property names; anything else may be a child the simulator does not model
  return parts.slice(3).some((c) => c === '.' || c === '..') ? 'absent' : 'unknown';
}

/**
 * object_resolve_path: an absolute path, or a partial one matched against the end of every path in the
 * tree (found only when exactly one object matches). Partial paths are resolved when they end in a device
 * id or 'virtio-backend' and are a suffix of such an object's path.
 */
export function resolvePath(core: SimCore, path: string): Resolved {
  if (path.startsWith('/')) return resolveComponents(core, components(path));
  const parts = components(path);
  if (parts.length === 0) return 'absent';
  const last = parts[parts.length - 1];
  if (last !== 'virtio-backend' && !core.devices.has(last)) return 'unknown';
  const matches: QomObject[] = [];
  for (const id of core.devices.keys()) {
    for (const full of [
      ['machine', 'peripheral', id],
      ['machine', 'peripheral', id, 'virtio-backend'],
    ]) {
      const tail = full.slice(full.length - parts.length);
      if (tail.length === parts.length && tail.every((c, i) => c === parts[i])) {
        const o = resolveComponents(core, full);
        if (typeof o === 'object') matches.push(o);
      }
    }
  }
  return matches.length === 1 ? matches[0] : 'absent';
}

/**
 * object_resolve_path_at(/machine/peripheral, path) as find_device_state uses it: an absolute path, or a
 * path relative to /machine/peripheral (no partial matching).
 */
export function resolveDevicePath(core: SimCore, path: string): Resolved {
  if (path.startsWith('/')) return resolveComponents(core, components(path));
  return resolveComponents(core, ['machine', 'peripheral', ...components(path)]);
}
