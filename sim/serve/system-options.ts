/**
 * qemu-system-x86_64's command line (softmmu/vl.c qemu_init's two passes), pure: argv in, either what to
 * do or the exact output and exit status QEMU gives. Checked against the real binaries of every profile
 * (checks/conformance/serve/system-options.test.ts):
 *
 * - lookup_opt: "-name" and "--name" alike, exact names from the profile's table (system-option-table.ts),
 *   "invalid option" and "requires an argument" in a first pass over everything, before any option acts;
 * - the second pass in order: QemuOpts lists (qemu-opts.ts), keyval for -machine/-smp/-boot (6.0+), the
 *   input visitor for -blockdev/-display/-object/-audiodev, JSON for -device/-object (6.x+), each with
 *   the option's location in its error ("qemu-system-x86_64: -m foo: ...");
 * - what the second pass only records is checked later, as QEMU does (system-serve.ts).
 *
 * Our own options, `--profile P`, `--seed N` and `--flavour system`, are taken exactly (two dashes, never
 * abbreviated) wherever QEMU would see an option; QEMU's `-seed` keeps its single dash.
 */

import { Introspection } from '../../contract/qapi/introspection.ts';
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import { loadSystemData } from '../../contract/qemu-system/system-data.ts';
import { PROFILES, type Profile } from '../../contract/versions.ts';
import { type KvDict, keyvalParseHelp, keyvalParseInto, QemuOptError } from './keyval.ts';
import { printHelp, QemuOptsHelp } from './qemu-opts.ts';
import { qmpFormat } from './qmp-server.ts';
import { isQDict } from './qobject/qobject.ts';
import { qobjectFromJson } from './qobject/qobject-from-json.ts';
import { resolveBlockdev, schemaContext } from './qsd-resolve.ts';
import { chrParseCompat, parseGlobal, uuidValid } from './system-compat.ts';
import { SystemConfig } from './system-config.ts';
import { optionTable } from './system-option-table.ts';
import { keyvalListHelpNames } from './system-opts-lists.ts';
import { monDeprecated, SYSTEM_PROG, systemReport, systemVersionText } from './system-texts.ts';
import { visitAudiodev, visitDisplay, visitObject } from './system-visit.ts';

export type SystemParse =
  | { kind: 'exit'; status: number; stdout: string; stderr: string }
  | { kind: 'run'; config: SystemConfig; stderr: string };

/** our own options: exact, two dashes */
const OURS = ['profile', 'seed', 'flavour'] as const;

function ours(a: string): { name: (typeof OURS)[number]; value?: string } | undefined {
  for (const n of OURS) {
    if (a === `--${n}`) return { name: n };
    if (a.startsWith(`--${n}=`)) return { name: n, value: a.slice(n.length + 3) };
  }
  return undefined;
}

/** Stop parsing: QEMU's exit(status) after printing. */
class Exit extends Error {
  constructor(
    readonly status: number,
    readonly stdout = '',
  ) {
    super(`exit ${status}`);
  }
}

const intros = new Map<Profile, Introspection>();
function introOf(profile: Profile): Introspection {
  let i = intros.get(profile);
  if (!i) {
    i = new Introspection(loadSnapshot(profile, 'system').schema);
    intros.set(profile, i);
  }
  return i;
}

/** argv as qemu-system-x86_64 gets it (without the program name), plus our own options. */
export function parseSystemArgs(
  argv: readonly string[],
  defaults: { profile?: Profile; seed?: number } = {},
): SystemParse {
  // ours first, stepping over what QEMU's first pass would take as an option's argument
  let profile: Profile = defaults.profile ?? '7.2';
  let seed = defaults.seed ?? 1;
  const union = optionTable('11.1');
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const o = ours(a);
    if (o) {
      const value = o.value ?? argv[++i];
      if (value === undefined) return fail(`fleece-lab serve: --${o.name}: requires an argument\n`);
      if (o.name === 'profile') {
        if (!(PROFILES as readonly string[]).includes(value))
          return fail(
            `fleece-lab serve: --profile: unknown profile '${value}' (one of ${PROFILES.join(', ')})\n`,
          );
        profile = value as Profile;
      } else if (o.name === 'seed') {
        if (!/^-?\d+$/.test(value)) return fail(`fleece-lab serve: --seed: '${value}' is not an integer\n`);
        seed = Number(value);
      } else if (value !== 'system') {
        return fail(`fleece-lab serve: --flavour: '${value}' here must be system\n`);
      }
      continue;
    }
    args.push(a);
    const name = a.startsWith('--') ? a.slice(2) : a.slice(1);
    if (a.startsWith('-') && union.get(name)?.hasArg && i + 1 < argv.length) args.push(argv[++i]);
  }
  return new SystemParser(profile, seed, args).run();
}

function fail(stderr: string): SystemParse {
  return { kind: 'exit', status: 1, stdout: '', stderr };
}

class SystemParser {
  private stderr = '';
  private monWarned = false;
  /** 5.2 prints -machine help after the second pass (a -version after it wins) */
  private machineHelp52 = false;
  private readonly c: SystemConfig;
  private readonly table;

  constructor(
    readonly profile: Profile,
    seed: number,
    private readonly args: string[],
  ) {
    this.c = new SystemConfig(profile, seed);
    this.table = optionTable(profile);
  }

  private report(loc: string | undefined, text: string, level?: 'warning'): void {
    this.stderr += systemReport(this.c.msg, loc, text, level);
  }

  private error(loc: string | undefined, text: string): never {
    this.report(loc, text);
    throw new Exit(1);
  }

  run(): SystemParse {
    try {
      this.firstPass();
      this.secondPass();
    } catch (e) {
      if (e instanceof Exit) return { kind: 'exit', status: e.status, stdout: e.stdout, stderr: this.stderr };
      throw e;
    }
    return { kind: 'run', config: this.c, stderr: this.stderr };
  }

  /** lookup_opt over everything: unknown options and missing arguments end it before anything acts */
  private firstPass(): void {
    const a = this.args;
    for (let i = 0; i < a.length; ) {
      if (!a[i].startsWith('-')) {
        i++;
        continue;
      }
      const opt = this.lookup(a[i]);
      if (!opt) this.error(a[i], 'invalid option');
      i++;
      if (opt.hasArg) {
        if (i >= a.length) this.error(a[i - 1], 'requires an argument');
        i++;
      }
    }
  }

  private lookup(arg: string) {
    const name = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    return this.table.get(name);
  }

  private secondPass(): void {
    const a = this.args;
    for (let i = 0; i < a.length; ) {
      if (!a[i].startsWith('-')) {
        this.c.diskImages.push({ value: a[i], loc: a[i] });
        i++;
        continue;
      }
      const opt = this.lookup(a[i])!;
      const arg = opt.hasArg ? a[i + 1] : undefined;
      const loc = opt.hasArg ? `${a[i]} ${arg}` : a[i];
      i += opt.hasArg ? 2 : 1;
      if (!opt.forTarget) this.error(loc, 'Option not supported for this target');
      try {
        this.option(opt.name, arg ?? '', loc);
      } catch (e) {
        if (e instanceof QemuOptsHelp) throw new Exit(1, e.stdout);
        if (e instanceof QemuOptError) this.error(loc, e.message);
        throw e;
      }
    }
    if (this.profile === '5.2') this.machine52();
  }

  private warn = (loc: string) => (text: string) => {
    this.stderr += `${this.prefixFor(loc)}${text}\n`;
  };

  private prefixFor(loc: string): string {
    return systemReport(this.c.msg, loc, '').slice(0, -1);
  }

  private parseList(list: keyof SystemConfig['lists'], arg: string, loc: string, abbrev = true) {
    return this.c.lists[list].parse(arg, abbrev, loc, this.warn(loc));
  }

  /** one option of the second pass (vl.c's switch) */
  private option(name: string, arg: string, loc: string): void {
    const c = this.c;
    const p = this.profile;
    switch (name) {
      case 'h':
      case 'help':
        throw new Exit(0, loadSystemData(p).cli.help);
      case 'version':
        throw new Exit(0, systemVersionText(p));
      case 'M':
      case 'machine':
        this.machineOption(arg, loc);
        return;
      case 'accel': {
        const o = this.parseList('accel', arg, loc);
        const acc = o.get('accel');
        if (acc === undefined || acc === 'help' || acc === '?')
          throw new Exit(0, loadSystemData(p).cli.accelHelp);
        return;
      }
      case 'enable-kvm':
        this.machineSet('accel', 'kvm');
        return;
      case 'S':
        c.autostart = false;
        return;
      case 'nodefaults':
        c.hasDefaults = false;
        return;
      case 'no-user-config':
        return;
      case 'display':
        if (arg === 'help' || arg === '?') this.error(loc, 'fleece-lab: -display help is not simulated');
        c.display = { value: visitDisplay(p, introOf(p), arg), loc };
        return;
      case 'nographic':
        this.machineSet('graphics', 'off');
        c.nographic = true;
        c.display = { value: { type: 'none' }, loc };
        return;
      case 'qmp':
      case 'qmp-pretty':
        this.monitorParse(arg, loc, name === 'qmp-pretty');
        c.defaultMonitor = false;
        return;
      case 'mon': {
        // warn_report_once
        const dep = monDeprecated(p);
        if (dep && !this.monWarned) this.stderr += `${this.prefixFor(loc)}${dep}\n`;
        this.monWarned = true;
        this.parseList('mon', arg, loc);
        c.defaultMonitor = false;
        return;
      }
      case 'chardev':
        this.parseList('chardev', arg, loc);
        return;
      case 'blockdev': {
        const r = resolveBlockdev(schemaContext(p, introOf(p)), arg);
        if ('error' in r) this.error(loc, r.error);
        c.blockdevs.push({ value: r.ok, loc });
        return;
      }
      case 'device':
        this.deviceOption(arg, loc);
        return;
      case 'object':
        this.objectOption(arg, loc);
        return;
      case 'audiodev':
        if ((arg === 'help' || arg === '?') && p !== '5.2')
          this.error(loc, 'fleece-lab: -audiodev help is not simulated');
        c.audiodevs.push({ value: visitAudiodev(p, introOf(p), arg), loc });
        return;
      case 'pidfile':
        c.pidfile = arg;
        return;
      case 'daemonize':
        c.daemonize = true;
        return;
      case 'name': {
        const o = this.parseList('name', arg, loc);
        // error_guest_name: what -msg guest-name=on prefixes, from this -name on
        c.msg.guest = o.get('guest');
        return;
      }
      case 'uuid':
        if (!uuidValid(arg)) this.error(loc, 'failed to parse UUID string: wrong format');
        c.uuid = arg.toLowerCase();
        return;
      case 'm':
        this.parseList('memory', arg, loc);
        return;
      case 'smp':
        this.machineProperty('smp-opts', 'smp', arg, loc);
        return;
      case 'boot':
        this.machineProperty('boot-opts', 'boot', arg, loc);
        return;
      case 'cpu':
        c.cpu = { value: arg, loc };
        return;
      case 'rtc':
        this.parseList('rtc', arg, loc, false);
        return;
      case 'no-shutdown':
        c.lists.action.parse('shutdown=pause', false, loc, this.warn(loc));
        return;
      case 'no-reboot':
        c.lists.action.parse('reboot=shutdown', false, loc, this.warn(loc));
        return;
      case 'msg': {
        const o = this.parseList('msg', arg, loc, false);
        c.msg.timestamp = o.bool('timestamp', false);
        c.msg.guestName = o.bool('guest-name', false);
        return;
      }
      case 'sandbox':
        this.parseList('sandbox', arg, loc);
        return;
      case 'overcommit': {
        const o = this.parseList('overcommit', arg, loc, false);
        const lock = o.get('mem-lock');
        if ((p === '10.0' || p === '11.1') && lock !== undefined && !['on', 'off', 'on-fault'].includes(lock))
          throw new QemuOptError("parameter 'mem-lock' expects one of 'on', 'off', 'on-fault'");
        return;
      }
      case 'global':
        parseGlobal(c.lists.global, arg, loc, this.warn(loc));
        return;
      case 'L':
        c.dataDirs.push(arg);
        return;
      case 'no-acpi':
        this.machineSet('acpi', 'off');
        return;
      case 'usb':
        this.machineSet('usb', 'on');
        return;
      case 'trace':
      case 'seed':
      case 'xen-domid':
        // accepted; the simulator has neither trace events nor a guest that draws random numbers
        return;
      default:
        this.error(loc, `fleece-lab: option -${name} is not simulated`);
    }
  }

  /** qdict_put_str(machine_opts_dict, key, value) (5.2: a qemu_opt_set on the machine QemuOpts) */
  private machineSet(key: string, value: string): void {
    if (this.profile === '5.2') {
      const list = this.c.lists.machine;
      (list.find(undefined) ?? list.create(undefined, '')).opts.push([key, value]);
    } else this.c.machine.set(key, value);
  }

  /** -M/-machine: keyval into machine_opts_dict with 'type' implied (5.2: QemuOpts, merged) */
  private machineOption(arg: string, loc: string): void {
    if (this.profile === '5.2') {
      const o = this.parseList('machine', arg, loc);
      if (o.get('type') === 'help' || o.get('type') === '?') this.machineHelp52 = true;
      return;
    }
    const help = keyvalParseInto(this.c.machine, arg, 'type');
    if (help) {
      const type = this.c.machine.get('type');
      const data = loadSystemData(this.profile);
      const known =
        typeof type === 'string' && data.machines.some((m) => m.name === type || m.alias === type);
      if (known) this.error(loc, 'fleece-lab: -machine TYPE,help is not simulated');
      throw new Exit(0, data.cli.machineHelp);
    }
  }

  /** 5.2: the merged -machine QemuOpts become the dictionary the rest reads */
  private machine52(): void {
    if (this.machineHelp52) throw new Exit(0, loadSystemData('5.2').cli.machineHelp);
    const o = this.c.lists.machine.find(undefined);
    for (const [k, v] of o?.opts ?? []) this.c.machine.set(k, v);
  }

  /** machine_parse_property_opt: -smp/-boot as keyval into machine_opts_dict[prop] (5.2: QemuOpts) */
  private machineProperty(list: 'smp-opts' | 'boot-opts', prop: string, arg: string, loc: string): void {
    if (this.profile === '5.2') {
      this.parseList(list, arg, loc);
      return;
    }
    const implied = list === 'smp-opts' ? 'cpus' : 'order';
    const parsed = keyvalParseHelp(arg, implied);
    if (parsed === 'help')
      throw new Exit(0, printHelp({ name: list, desc: keyvalListHelpNames(this.profile, list) }));
    const old = this.c.machine.get(prop);
    const merged: KvDict = old instanceof Map ? old : new Map();
    for (const [k, v] of parsed) merged.set(k, v);
    this.c.machine.set(prop, merged);
  }

  /** monitor_parse(optarg, "control", pretty) */
  private monitorParse(arg: string, loc: string, pretty: boolean): void {
    const c = this.c;
    let label: string;
    if (arg.startsWith('chardev:')) label = arg.slice(8).slice(0, 31);
    else {
      label = `compat_monitor${c.monitorIndex}`;
      const r = chrParseCompat(c.lists.chardev, label, arg, loc);
      if ('errors' in r) {
        for (const e of r.errors) this.report(loc, e);
        this.error(loc, `parse error: ${arg}`);
      }
    }
    const mon = c.lists.mon.create(label, loc);
    mon.opts.push(['mode', 'control'], ['chardev', label], ['pretty', pretty ? 'on' : 'off']);
    c.monitorIndex++;
  }

  /** -device: JSON (6.2+) into the JSON queue, else QemuOpts with 'driver' implied */
  private deviceOption(arg: string, loc: string): void {
    if (arg.startsWith('{') && this.profile !== '5.2') {
      const r = qobjectFromJson(arg, qmpFormat(this.profile).generation);
      if ('error' in r) throw new QemuOptError(r.error);
      if (!isQDict(r.value))
        this.error(loc, 'fleece-lab: a -device JSON that is not an object is not simulated');
      this.c.jsonDevices.push({ value: r.value, loc });
      return;
    }
    this.parseList('device', arg, loc);
  }

  /** object_option_parse: JSON or QemuOpts, visited into ObjectOptions now (5.2: at creation) */
  private objectOption(arg: string, loc: string): void {
    if (this.profile === '5.2') {
      this.parseList('object', arg, loc);
      return;
    }
    if (!arg.startsWith('{')) {
      // kept in the list: its id is unique among the -object ids given in this form
      const o = this.parseList('object', arg, loc);
      const type = o.get('qom-type');
      if (type === undefined) throw new QemuOptError("Parameter 'qom-type' is missing");
      if (type === 'help' || type === '?') this.error(loc, 'fleece-lab: -object help is not simulated');
      this.c.objects.push({ value: visitObject(this.profile, introOf(this.profile), o, undefined), loc });
      return;
    }
    const r = qobjectFromJson(arg, qmpFormat(this.profile).generation);
    if ('error' in r) throw new QemuOptError(r.error);
    this.c.objects.push({ value: visitObject(this.profile, introOf(this.profile), undefined, r.value), loc });
  }
}

export { SYSTEM_PROG };
