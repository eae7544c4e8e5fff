import type { ReplyContext } from '../../contract/qemu-system/system-data.ts';

/**
 * The qemu-system machine the simulator stands for, as far as QMP reports it: what the command line
 * chose (machine type, accelerator, name, uuid, memory, CPUs) and the devices on it that are not guest
 * disks. The guest runs no code; these are remembered for the queries that report them.
 */
export interface PeripheralDevice {
  /** qdev id, or undefined for an anonymous device (/machine/peripheral-anon/device[N]) */
  id: string | undefined;
  /** the QOM type: 'pcie-root-port', 'virtio-blk-pci' */
  type: string;
  qomPath: string;
  /** the bus it sits on ('pcie.0', a root port's id) and its devfn */
  bus: string;
  devfn: number;
  multifunction: boolean;
  bootindex: number | undefined;
}

export interface MachineState {
  /** 'pc-q35-7.2', 'none' */
  type: string;
  family: 'q35' | 'pc' | 'none';
  accel: 'kvm' | 'tcg';
  name: string | undefined;
  uuid: string | undefined;
  ramBytes: number;
  cpus: number;
  cpuModel: string | undefined;
  /** which captured replies (contract/qemu-system) this machine answers with, if any matches it */
  context: ReplyContext | undefined;
  /** every -device in creation order (guest disks too), for QOM and bus lookups */
  readonly peripherals: PeripheralDevice[];
  /** migrate-set-capabilities as set so far (query-migrate-capabilities' initial list is captured) */
  readonly migrateCaps: Map<string, boolean>;
  /** told whenever the guest starts running (the serve process lets the firmware boot then) */
  onRunning: (() => void) | undefined;
  /** query-chardev, from whoever owns the chardevs (the serve process) */
  chardevs: () => { label: string; filename: string; 'frontend-open': boolean }[];
}

export function newMachineState(
  init: Partial<MachineState> & Pick<MachineState, 'type' | 'family'>,
): MachineState {
  return {
    accel: 'tcg',
    name: undefined,
    uuid: undefined,
    ramBytes: 128 * 1024 * 1024,
    cpus: 1,
    cpuModel: undefined,
    context: undefined,
    peripherals: [],
    migrateCaps: new Map(),
    chardevs: () => [],
    onRunning: undefined,
    ...init,
  };
}
