/**
 * The machine of qemu-system-x86_64's startup (vl.c after the option loop): select_machine, the legacy
 * machine options, the machine's properties set from machine_opts_dict (hash order, as
 * object_set_properties_from_keyval walks the QDict), -m/-smp/-boot checked as their setters and the
 * board check them, -rtc, and configure_accelerators. Pure: what the command line asked for and the
 * captured machine data in, the machine or QEMU's error text out.
 */
import * as fs from 'node:fs';
import type { MachineInfo, PropertyInfo, SystemData } from '../../contract/qemu-system/system-data.ts';
import { qdictOrder } from '../../contract/qjson.ts';
import type { Profile } from '../../contract/versions.ts';
import { strtoInt, strtosz } from './cutils.ts';
import type { KvDict, KvValue } from './keyval.ts';
import type { QemuOpts } from './qemu-opts.ts';
import { unsupportedMachineText } from './system-texts.ts';

export class StartupError extends Error {
  constructor(
    readonly loc: string | undefined,
    text: string,
  ) {
    super(text);
  }
}

export interface ChosenMachine {
  info: MachineInfo;
  family: 'q35' | 'pc' | 'none';
  /** the QOM class: 'pc-q35-7.2-machine' */
  className: string;
  props: PropertyInfo[];
}

/** select_machine (+ the family the simulator models it as) */
export function selectMachine(
  profile: Profile,
  data: SystemData,
  dict: KvDict,
  loc52: string,
): ChosenMachine {
  const type = dict.get('type');
  dict.delete('type');
  let info: MachineInfo | undefined;
  if (typeof type === 'string') {
    info = data.machines.find((m) => m.name === type || m.alias === type);
    if (!info)
      throw new StartupError(profile === '5.2' ? loc52 : undefined, unsupportedMachineText(profile, type));
  } else {
    info = data.machines.find((m) => m['is-default']);
    if (!info)
      throw new StartupError(
        undefined,
        'No machine specified, and there is no default\nUse -machine help to list supported machines',
      );
  }
  const family =
    info.name === 'none'
      ? 'none'
      : info.name.startsWith('pc-q35-')
        ? 'q35'
        : info.name.startsWith('pc-i440fx-')
          ? 'pc'
          : undefined;
  if (!family) throw new StartupError(undefined, `fleece-lab: machine type '${info.name}' is not simulated`);
  // every version of a family has the current one's properties (the captures hold the current ones)
  const className = `${info.name}-machine`;
  const current = Object.keys(data.machineProps).find((k) =>
    family === 'none' ? k === 'none-machine' : k.startsWith(family === 'q35' ? 'pc-q35-' : 'pc-i440fx-'),
  );
  return { info, family, className, props: current ? data.machineProps[current] : [] };
}

/** what the legacy machine options set aside (qemu_apply_legacy_machine_options) */
export interface LegacyMachineOptions {
  accelerators: string | undefined;
  memdev: string | undefined;
}

/** keyval_dashify + qemu_apply_legacy_machine_options */
export function applyLegacyMachineOptions(dict: KvDict): LegacyMachineOptions {
  for (const k of [...dict.keys()]) {
    if (!k.includes('_')) continue;
    const dashed = k.replaceAll('_', '-');
    if (dict.has(dashed)) throw new StartupError(undefined, `Conflict between '${k}' and '${dashed}'`);
    dict.set(dashed, dict.get(k)!);
    dict.delete(k);
  }
  const take = (k: string): string | undefined => {
    const v = dict.get(k);
    if (typeof v !== 'string') return undefined;
    dict.delete(k);
    return v;
  };
  const accelerators = take('accel');
  for (const k of ['igd-passthru', 'kvm-shadow-mem', 'kernel-irqchip']) take(k);
  return { accelerators, memdev: take('memory-backend') };
}

const LOCAL_STRUCTS: Record<string, Record<string, 'int' | 'bool' | 'str' | 'size'>> = {
  SMPConfiguration: Object.fromEntries(
    ['cpus', 'drawers', 'books', 'sockets', 'dies', 'clusters', 'modules', 'cores', 'threads', 'maxcpus'].map(
      (n) => [n, 'int' as const],
    ),
  ),
  BootConfiguration: {
    order: 'str',
    once: 'str',
    menu: 'bool',
    splash: 'str',
    'splash-time': 'int',
    'reboot-timeout': 'int',
    strict: 'bool',
  },
  MemorySizeConfiguration: { size: 'size', 'max-size': 'size', slots: 'int' },
};

function scalar(profile: Profile, name: string, type: string, v: KvValue): void {
  if (typeof v !== 'string')
    throw new StartupError(undefined, `Invalid parameter type for '${name}', expected: ${type}`);
  const bool = ['on', 'yes', 'true', 'y', 'off', 'no', 'false', 'n'];
  switch (type) {
    case 'bool':
      if (!bool.includes(v)) throw new StartupError(undefined, `Parameter '${name}' expects 'on' or 'off'`);
      return;
    case 'OnOffAuto':
      if (!['on', 'off', 'auto'].includes(v))
        throw new StartupError(
          undefined,
          profile === '5.2' ? `Invalid parameter '${v}'` : `Parameter '${name}' does not accept value '${v}'`,
        );
      return;
    case 'int':
    case 'uint64_t':
    case 'uint32_t':
      if (strtoInt(v, type !== 'int') === undefined)
        throw new StartupError(undefined, `Parameter '${name}' expects integer`);
      return;
    case 'size':
      if (strtosz(v) === undefined)
        throw new StartupError(undefined, `Parameter '${name}' expects a size value`);
      return;
  }
}

/** object_set_properties_from_keyval(machine, dict): each key in QDict order, found and visited */
export function applyMachineProperties(profile: Profile, m: ChosenMachine, dict: KvDict): void {
  for (const key of qdictOrder([...dict.keys()])) {
    const prop = m.props.find((p) => p.name === key);
    if (!prop) throw new StartupError(undefined, `Property '${m.className}.${key}' not found`);
    const v = dict.get(key)!;
    const struct = LOCAL_STRUCTS[prop.type];
    if (struct) {
      if (!(v instanceof Map))
        throw new StartupError(undefined, `Invalid parameter type for '${key}', expected: object`);
      for (const sub of qdictOrder([...v.keys()])) {
        const t = struct[sub];
        if (!t) throw new StartupError(undefined, `Parameter '${key}.${sub}' is unexpected`);
        scalar(profile, `${key}.${sub}`, t, v.get(sub)!);
      }
      continue;
    }
    if (prop.type.startsWith('link<') || prop.type.startsWith('child<'))
      throw new StartupError(undefined, `fleece-lab: machine property '${key}' is not simulated`);
    scalar(profile, key, prop.type, v);
  }
}

function dictNum(d: KvValue | undefined, k: string): bigint | undefined {
  if (!(d instanceof Map)) return undefined;
  const v = d.get(k);
  return typeof v === 'string' ? strtoInt(v, true) : undefined;
}

/** -smp against the machine (machine_parse_smp_config's first checks) */
export function checkSmp(m: ChosenMachine, dict: KvDict): number {
  const smp = dict.get('smp');
  const cpus = Number(dictNum(smp, 'cpus') ?? 1n);
  if (cpus > m.info['cpu-max'])
    throw new StartupError(
      undefined,
      `Invalid SMP CPUs ${cpus}. The max CPUs supported by machine '${m.info.name}' is ${m.info['cpu-max']}`,
    );
  return cpus;
}

/** -boot order (validate_bootdevices, pc: the x86 boot devices a to p) */
export function checkBoot(dict: KvDict): void {
  const boot = dict.get('boot');
  if (!(boot instanceof Map)) return;
  for (const k of ['order', 'once']) {
    const v = boot.get(k);
    if (typeof v !== 'string') continue;
    const seen = new Set<string>();
    for (const c of v) {
      if (c < 'a' || c > 'p') throw new StartupError(undefined, `Invalid boot device '${c}'`);
      if (seen.has(c)) throw new StartupError(undefined, `Boot device '${c}' was given twice`);
      seen.add(c);
    }
  }
}

/** parse_memory_options: -m into machine_opts_dict['memory'] (size in MiB without a suffix) */
export function memoryOptions(
  profile: Profile,
  opts: QemuOpts | undefined,
  dict: KvDict,
): number | undefined {
  if (!opts) return undefined;
  const size = opts.get('size');
  const mem: KvDict = new Map();
  let bytes: number | undefined;
  if (size !== undefined && strtosz(size) !== 0n) {
    const s = /[0-9]$/.test(size) ? `${size}M` : size;
    mem.set('size', s);
    bytes = Number(strtosz(s) ?? 0n);
  }
  const maxmem = opts.get('maxmem');
  const slots = opts.get('slots');
  if (maxmem !== undefined) mem.set('max-size', maxmem);
  if (slots !== undefined) mem.set('slots', slots);
  if (slots !== undefined && maxmem === undefined)
    throw new StartupError(
      profile === '5.2' ? opts.loc : undefined,
      profile === '5.2'
        ? "invalid -m option value: missing 'maxmem' option"
        : 'slots specified but no max-size',
    );
  dict.set('memory', mem);
  return bytes;
}

/** configure_rtc */
export function checkRtc(opts: QemuOpts | undefined): void {
  if (!opts) return;
  const base = opts.get('base');
  if (base !== undefined && base !== 'utc' && base !== 'localtime') {
    if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?$/.test(base))
      throw new StartupError(
        undefined,
        "invalid datetime format\nvalid formats: '2006-06-17T16:01:21' or '2006-06-17'",
      );
  }
  const clock = opts.get('clock');
  if (clock !== undefined && !['host', 'rt', 'vm'].includes(clock))
    throw new StartupError(undefined, `invalid option value '${clock}'`);
  const drift = opts.get('driftfix');
  if (drift !== undefined && !['none', 'slew'].includes(drift))
    throw new StartupError(undefined, `invalid option value '${drift}'`);
}

const ACCEL_PROPS: Record<string, Record<string, (v: string) => string | undefined>> = {
  tcg: {
    thread: (v) => (v === 'single' || v === 'multi' ? undefined : `Invalid 'thread' setting ${v}`),
    'tb-size': () => undefined,
    'split-wx': () => undefined,
    'one-insn-per-tb': () => undefined,
  },
  kvm: {
    'kernel-irqchip': () => undefined,
    'kvm-shadow-mem': () => undefined,
    'dirty-ring-size': () => undefined,
  },
};

/** whether this host gives QEMU KVM (kvm_init opens /dev/kvm read-write) */
export function kvmUsable(): boolean {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * configure_accelerators: -accel options in order, else "-machine accel=" or the default (tcg); the
 * first that initialises wins. Returns it and the lines QEMU reports on the way (each with its location).
 */
export function configureAccelerators(
  accels: readonly QemuOpts[],
  machineAccel: string | undefined,
  kvm: boolean,
): { accel: 'kvm' | 'tcg'; reports: { loc: string | undefined; text: string }[] } {
  const reports: { loc: string | undefined; text: string }[] = [];
  const list: { name: string; opts: QemuOpts | undefined; loc: string | undefined }[] = [];
  let initFailed = false;
  if (accels.length === 0) {
    for (const name of (machineAccel ?? 'tcg').split(':')) {
      if (name === 'tcg' || name === 'kvm') list.push({ name, opts: undefined, loc: undefined });
      else {
        initFailed = true;
        reports.push({ loc: undefined, text: `invalid accelerator ${name}` });
      }
    }
  } else {
    if (machineAccel !== undefined)
      throw new StartupError(undefined, 'The -accel and "-machine accel=" options are incompatible');
    for (const o of accels) list.push({ name: o.get('accel') ?? '', opts: o, loc: o.loc });
  }
  for (const a of list) {
    if (a.name !== 'tcg' && a.name !== 'kvm') {
      reports.push({ loc: a.loc, text: `invalid accelerator ${a.name}` });
      initFailed = true;
      continue;
    }
    for (const [k, v] of a.opts?.opts ?? []) {
      if (k === 'accel') continue;
      const check = ACCEL_PROPS[a.name][k];
      if (!check) throw new StartupError(a.loc, `Property '${a.name}-accel.${k}' not found`);
      const bad = check(v);
      if (bad) throw new StartupError(a.loc, bad);
    }
    if (a.name === 'kvm' && !kvm) {
      reports.push({ loc: a.loc, text: 'Could not access KVM kernel module: No such file or directory' });
      reports.push({ loc: a.loc, text: 'failed to initialize kvm: No such file or directory' });
      initFailed = true;
      continue;
    }
    if (initFailed) reports.push({ loc: undefined, text: `falling back to ${a.name}` });
    return { accel: a.name, reports };
  }
  if (!initFailed) reports.push({ loc: undefined, text: 'no accelerator found' });
  throw new AccelFailure(reports);
}

export class AccelFailure extends Error {
  constructor(readonly reports: { loc: string | undefined; text: string }[]) {
    super('no accelerator');
  }
}

/** parse_cpu_option: the model before the first comma must be a CPU model of the build */
export function checkCpu(data: SystemData, cpu: string | undefined): string | undefined {
  if (cpu === undefined) return undefined;
  const model = cpu.split(',')[0];
  if (!data.cpus.some((c) => c.name === model))
    throw new StartupError(undefined, `unable to find CPU model '${model}'`);
  return model;
}

export function bytesOf(v: string): number {
  return Number(strtosz(v) ?? 0n);
}
