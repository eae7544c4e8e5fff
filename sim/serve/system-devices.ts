/**
 * -device as qemu-system-x86_64 creates it (qdev_device_add_from_qdict): the driver a QOM device type,
 * the bus found (a machine's root bus pcie.0 or pci.0, or a pcie-root-port's), the properties set from
 * the options in QDict order against the type's captured properties, the id unique, then realize: a
 * PCI slot and function (mch and the ICH9/PIIX functions taken; the first free slot when none is given;
 * multifunction rules), and for virtio-blk-pci its drive. Simulated types: virtio-blk-pci (a guest disk)
 * and pcie-root-port (a bus for one device); other device types are refused as not simulated.
 */
import type { SystemData } from '../../contract/qemu-system/system-data.ts';
import { qdictOrder } from '../../contract/qjson.ts';
import type { Profile } from '../../contract/versions.ts';
import type { MachineState, PeripheralDevice } from '../core/machine.ts';
import { strtoInt } from './cutils.ts';
import { QNum, type QValue } from './qobject/qobject.ts';
import { StartupError } from './system-machine.ts';

const SIMULATED = new Set(['virtio-blk-pci', 'pcie-root-port']);

/** the machine's own PCI functions: devfn -> QOM type */
function builtinFunctions(family: MachineState['family']): Map<number, string> {
  if (family === 'q35')
    return new Map([
      [0x00, 'mch'],
      [(0x1f << 3) | 0, 'ICH9-LPC'],
      [(0x1f << 3) | 2, 'ich9-ahci'],
      [(0x1f << 3) | 3, 'ICH9-SMB'],
    ]);
  if (family === 'pc')
    return new Map([
      [0x00, 'i440FX'],
      [(1 << 3) | 0, 'PIIX3'],
      [(1 << 3) | 1, 'piix3-ide'],
      [(1 << 3) | 3, 'PIIX4_PM'],
    ]);
  return new Map();
}

interface Bus {
  name: string;
  /** devfn -> who is there */
  used: Map<number, { type: string; id: string | undefined; multifunction: boolean }>;
  /** a root port's bus holds one device, at slot 0 */
  rootPort: boolean;
}

export type DeviceOptions =
  | { kind: 'opts'; values: Map<string, string> }
  | { kind: 'json'; values: Map<string, QValue> };

/** what realizing a guest disk needs from the simulator: attach it, or throw QEMU's error text */
export type AttachDisk = (
  id: string,
  node: string,
  shareRw: boolean,
  writeCache: boolean | undefined,
) => void;

export class DeviceBuilder {
  private readonly buses = new Map<string, Bus>();
  private anon = 0;
  private readonly bootindexes = new Set<number>();

  constructor(
    private readonly profile: Profile,
    private readonly data: SystemData,
    private readonly machine: MachineState,
    private readonly nodeExists: (name: string) => boolean,
    private readonly attachDisk: AttachDisk,
  ) {
    const root = machine.family === 'q35' ? 'pcie.0' : machine.family === 'pc' ? 'pci.0' : undefined;
    if (root) {
      const used = new Map(
        [...builtinFunctions(machine.family)].map(([devfn, type]) => [
          devfn,
          { type, id: undefined, multifunction: true },
        ]),
      );
      this.buses.set(root, { name: root, used, rootPort: false });
    }
  }

  /** qdev_device_add_from_qdict(opts, from_json) */
  add(o: DeviceOptions, loc: string): void {
    const get = (k: string): QValue | undefined => o.values.get(k);
    const driver = get('driver');
    if (driver === undefined) throw new StartupError(loc, "Parameter 'driver' is missing");
    if (typeof driver !== 'string')
      throw new StartupError(loc, "Invalid parameter type for 'driver', expected: string");
    if (driver === 'help' || driver === '?')
      throw new StartupError(loc, 'fleece-lab: -device help is not simulated');
    const t = this.data.types.find((x) => x.name === driver);
    if (!t || !this.isDevice(driver))
      throw new StartupError(loc, `'${driver}' is not a valid device model name`);
    if (!SIMULATED.has(driver))
      throw new StartupError(loc, `fleece-lab: device '${driver}' is not simulated`);
    // find the bus
    const busName = get('bus');
    let bus: Bus | undefined;
    if (busName !== undefined) {
      bus = typeof busName === 'string' ? this.buses.get(busName) : undefined;
      if (!bus) throw new StartupError(loc, `Bus '${String(busName)}' not found`);
    } else {
      bus = [...this.buses.values()][0];
      if (!bus) throw new StartupError(loc, `No 'PCI' bus found for device '${driver}'`);
    }
    // properties, in QDict order
    const props = new Map(this.data.deviceProps[driver].map((p) => [p.name, p.type]));
    const set: Record<string, unknown> = {};
    const keys = qdictOrder([...o.values.keys()].filter((k) => k !== 'driver' && k !== 'bus' && k !== 'id'));
    for (const k of keys) {
      const type = props.get(k);
      if (!type) throw new StartupError(loc, `Property '${driver}.${k}' not found`);
      set[k] = this.value(driver, k, type, o.kind, o.values.get(k)!, loc);
    }
    const idv = get('id');
    const id = typeof idv === 'string' ? idv : undefined;
    if (id !== undefined && this.machine.peripherals.some((d) => d.id === id))
      throw new StartupError(loc, `Duplicate ID '${id}' for device`);
    // realize
    if (typeof set.bootindex === 'number') {
      if (this.bootindexes.has(set.bootindex))
        throw new StartupError(loc, `The bootindex ${set.bootindex} has already been used`);
    }
    const devfn = this.place(bus, driver, set, loc);
    if (driver === 'virtio-blk-pci') {
      if (set.drive === undefined) throw new StartupError(loc, 'drive property not set');
      if (id === undefined)
        throw new StartupError(loc, 'fleece-lab: a virtio-blk-pci without an id is not simulated');
      try {
        const wce = set['write-cache'];
        this.attachDisk(
          id,
          set.drive as string,
          set['share-rw'] === true,
          wce === 'on' ? true : wce === 'off' ? false : undefined,
        );
      } catch (e) {
        throw new StartupError(loc, e instanceof Error ? e.message : String(e));
      }
    }
    if (typeof set.bootindex === 'number') this.bootindexes.add(set.bootindex);
    const multifunction = set.multifunction === true;
    bus.used.set(devfn, { type: driver, id, multifunction });
    const dev: PeripheralDevice = {
      id,
      type: driver,
      qomPath:
        id !== undefined ? `/machine/peripheral/${id}` : `/machine/peripheral-anon/device[${this.anon++}]`,
      bus: bus.name,
      devfn,
      multifunction,
      bootindex: typeof set.bootindex === 'number' ? set.bootindex : undefined,
    };
    this.machine.peripherals.push(dev);
    if (driver === 'pcie-root-port' && id !== undefined)
      this.buses.set(id, { name: id, used: new Map(), rootPort: true });
  }

  private isDevice(name: string): boolean {
    const parents = new Map(this.data.types.map((t) => [t.name, t.parent]));
    for (let t: string | undefined = name; t; t = parents.get(t))
      if (t === 'device') return !this.abstract(name);
    return false;
  }

  private abstract(name: string): boolean {
    return this.data.types.find((t) => t.name === name)?.abstract === true;
  }

  /** a property's value: QemuOpts strings through the property's parser, JSON by its type */
  private value(
    driver: string,
    name: string,
    type: string,
    kind: DeviceOptions['kind'],
    v: QValue,
    loc: string,
  ): unknown {
    const fail = (text: string): never => {
      throw new StartupError(loc, text);
    };
    if (name === 'addr') {
      const s =
        typeof v === 'string'
          ? v
          : v instanceof QNum
            ? String(v.value)
            : fail(`Property '${driver}.addr' doesn't take value '${String(v)}'`);
      return s;
    }
    const isInt = /^u?int(8|16|32|64)?$|^size$/.test(type);
    if (kind === 'json') {
      if (type === 'bool')
        return typeof v === 'boolean' ? v : fail(`Invalid parameter type for '${name}', expected: boolean`);
      if (isInt) {
        if (!(v instanceof QNum) || v.kind === 'double')
          fail(`Invalid parameter type for '${name}', expected: integer`);
        return Number((v as QNum).value);
      }
      if (typeof v !== 'string') fail(`Invalid parameter type for '${name}', expected: string`);
      return this.enumValue(name, type, v as string, fail);
    }
    const s = v as string;
    if (type === 'bool') {
      if (['on', 'yes', 'true', 'y'].includes(s)) return true;
      if (['off', 'no', 'false', 'n'].includes(s)) return false;
      return fail(`Parameter '${name}' expects 'on' or 'off'`);
    }
    if (isInt) {
      const n = strtoInt(s, false);
      if (n === undefined) fail(`Parameter '${name}' expects integer`);
      return Number(n);
    }
    return this.enumValue(name, type, s, fail);
  }

  private enumValue(name: string, type: string, s: string, fail: (t: string) => never): string {
    const enums: Record<string, string[]> = {
      OnOffAuto: ['on', 'off', 'auto'],
      BlockdevOnError: ['report', 'ignore', 'enospc', 'stop', 'auto'],
    };
    const values = enums[type];
    if (values && !values.includes(s))
      fail(
        this.profile === '5.2'
          ? `Invalid parameter '${s}'`
          : `Parameter '${name}' does not accept value '${s}'`,
      );
    if (name === 'drive' && !this.nodeExists(s))
      fail(`Property '${this.driveOwner()}.drive' can't find value '${s}'`);
    if (type.startsWith('link<')) fail(`fleece-lab: property '${name}' is not simulated`);
    return s;
  }

  private driveOwner(): string {
    return 'virtio-blk-device';
  }

  /** pci_qdev_realize's placement: the given slot.function, or the first free slot */
  private place(bus: Bus, driver: string, set: Record<string, unknown>, loc: string): number {
    const fail = (text: string): never => {
      throw new StartupError(loc, text);
    };
    let devfn: number;
    if (set.addr !== undefined) {
      const m = /^(?:0x)?([0-9a-fA-F]{1,2})(?:\.(?:0x)?([0-7]))?$/.exec(set.addr as string);
      if (!m) return fail(`Property '${driver}.addr' doesn't take value '${String(set.addr)}'`);
      devfn = (Number.parseInt(m[1], 16) << 3) | Number(m[2] ?? 0);
      const there = bus.used.get(devfn);
      if (there)
        fail(
          `PCI: slot ${devfn >> 3} function ${devfn & 7} not available for ${driver}, in use by ${there.type},id=${there.id ?? '(null)'}`,
        );
    } else {
      devfn = -1;
      const limit = bus.rootPort ? 8 : 256;
      for (let d = 0; d < limit; d += 8) {
        if (!bus.used.has(d)) {
          devfn = d;
          break;
        }
      }
      if (devfn < 0) fail(`PCI: no slot/function available for ${driver}, all in use or reserved`);
    }
    if (bus.rootPort && devfn >> 3 !== 0)
      fail(
        `PCI: slot ${devfn >> 3} is not valid for ${driver}, parent device only allows plugging into slot 0.`,
      );
    const slot = devfn >> 3;
    const fn = devfn & 7;
    if (fn !== 0) {
      const f0 = bus.used.get(slot << 3);
      if (f0 && !f0.multifunction)
        fail(
          `PCI: single function device can't be populated in function ${slot.toString(16)}.${fn.toString(16)}`,
        );
    } else if (set.multifunction !== true) {
      for (let f = 1; f < 8; f++)
        if (bus.used.has((slot << 3) | f))
          fail(
            `PCI: ${slot.toString(16)}.0 indicates single function, but ${slot.toString(16)}.${f.toString(16)} is already populated.`,
          );
    }
    return devfn;
  }
}
