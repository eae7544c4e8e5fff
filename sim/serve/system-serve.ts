/**
 * `fleece-lab serve --flavour system`: the simulator as a drop-in qemu-system-x86_64. After the command
 * line (system-options.ts) it runs the rest of qemu_init in QEMU's order — early options, the pid file,
 * -rtc and -m, the machine, early objects, chardevs, -blockdev, the machine's properties, the
 * accelerator, late objects, monitors, -cpu and the RAM backend, -device, globals, then the guest running
 * or, with -S, in prelaunch — each failure with QEMU's text, location and exit status 1. Then it serves
 * QMP on its monitors until `quit` (SHUTDOWN, then exit 0) or a signal ("terminating on signal N from
 * pid P (name)", SHUTDOWN, exit 0); its monitor sockets and the pid file go with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadSystemData, type SystemData } from '../../contract/qemu-system/system-data.ts';
import type { Profile } from '../../contract/versions.ts';
import { objectAdd } from '../commands/objects.ts';
import { type MachineState, newMachineState } from '../core/machine.ts';
import { jobsOf } from '../jobs/job.ts';
import { SocketServerChardev } from './chardev/char-socket.ts';
import { type KvDict, type KvValue, QemuOptError } from './keyval.ts';
import type { QemuOpts } from './qemu-opts.ts';
import { CHARDEV_BACKENDS, chardevFromOpts } from './qsd-chardev.ts';
import { defaultIo, ServeBase, type ServeIo, startServe } from './serve-base.ts';
import type { SystemConfig } from './system-config.ts';
import { DeviceBuilder } from './system-devices.ts';
import {
  AccelFailure,
  applyLegacyMachineOptions,
  applyMachineProperties,
  bytesOf,
  type ChosenMachine,
  checkBoot,
  checkCpu,
  checkRtc,
  checkSmp,
  configureAccelerators,
  kvmUsable,
  memoryOptions,
  StartupError,
  selectMachine,
} from './system-machine.ts';
import { parseSystemArgs } from './system-options.ts';
import {
  chardevInUseSystemText,
  pidfileCreateText,
  reservedRamIdText,
  systemReport,
} from './system-texts.ts';

/** how long the firmware takes from the guest's start to its disk drivers (TCG, SeaBIOS) */
const FIRMWARE_MS = 50;

/** chardev backends of qemu-system beyond qsd's (the names it knows; the simulator serves a few) */
const SYSTEM_ONLY_BACKENDS = [
  'vc',
  'msmouse',
  'wctablet',
  'braille',
  'testdev',
  'spicevmc',
  'spiceport',
  'qemu-vdagent',
  'dbus',
];

export class SystemProcess extends ServeBase {
  private readonly data: SystemData;
  private machine: MachineState | undefined;
  private started = false;

  constructor(
    readonly config: SystemConfig,
    io: ServeIo,
  ) {
    super(config.profile, config.seed, 'system', io, {
      nbdLog: (line) => io.stderr(systemReport(config.msg, undefined, line)),
      onQuitRequested: () => {},
      afterCommand: () => this.flushStdout(),
      onQuit: () => this.afterQuit(),
    });
    this.data = loadSystemData(config.profile);
    io.onSignal?.((sig) => this.onSignal(sig));
  }

  protected fail(loc: string | undefined, msg: string): never {
    this.io.stderr(systemReport(this.config.msg, loc, msg));
    // exit(1): the exit notifier unlinks the pid file; chardev sockets stay
    this.removePidfile();
    this.halt(1);
  }

  private report(loc: string | undefined, msg: string, level?: 'warning'): void {
    this.io.stderr(systemReport(this.config.msg, loc, msg, level));
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof StartupError) this.fail(e.loc, e.message);
      if (e instanceof QemuOptError) this.fail(undefined, e.message);
      throw e;
    }
  }

  /** qemu_init after the option loop; resolves once the guest is set up and the monitors serve */
  async start(): Promise<void> {
    const c = this.config;
    const p = this.profile;
    if (c.cpu && (c.cpu.value === 'help' || c.cpu.value === '?'))
      this.fail(c.cpu.loc, 'fleece-lab: -cpu help is not simulated');
    if (c.pidfile !== undefined)
      this.writePidfile(c.pidfile, {
        create: (file, why) => pidfileCreateText(p, file, why),
        write: (why) => `cannot create PID file: Failed to write PID file: ${why}`,
        resolve: (file, why) =>
          systemReport(c.msg, undefined, `cannot resolve PID file path: ${file}: ${why}`),
      });
    this.guard(() => checkRtc(c.lists.rtc.find(undefined)));
    const memOpts = c.lists.memory.find(undefined);
    // 5.2 had no 'memory' machine property: -m set the RAM size directly
    const ramBytes = this.guard(() => memoryOptions(p, memOpts, p === '5.2' ? new Map() : c.machine));
    const loc52 = c.lists.machine.find(undefined)?.loc;
    const chosen = this.guard(() => selectMachine(p, this.data, c.machine, loc52 ?? ''));
    this.defaultDevices(chosen);
    const ms = newMachineState({ type: chosen.info.name, family: chosen.family });
    this.machine = ms;
    this.sim.core.machineState = ms;
    ms.name = c.lists.name.find(undefined)?.get('guest');
    ms.uuid = c.uuid;
    ms.chardevs = () => this.chardevInfo();
    // early backends: objects but the RAM backends, chardevs, block devices
    this.display();
    this.objects(chosen, false);
    for (const o of c.lists.chardev.all) await this.chardev(o);
    for (const b of c.blockdevs) this.run(b.loc, 'blockdev-add', b.value);
    for (const d of c.diskImages) this.fail(d.loc, 'fleece-lab: disk images (and -drive) are not simulated');
    // the machine's own properties
    const legacy = this.guard(() => applyLegacyMachineOptions(c.machine));
    this.guard(() => applyMachineProperties(p, chosen, c.machine));
    ms.cpus = this.guard(() => checkSmp(chosen, this.machineDicts()));
    this.accelerators(legacy.accelerators, ms);
    if (chosen.info.deprecated && p === '11.1')
      this.report(
        undefined,
        `Machine type '${chosen.info.name}' is deprecated: machines more than 3 years old are subject to deletion after 6 years`,
        'warning',
      );
    // late backends: RAM backends, monitors
    this.objects(chosen, true, legacy.memdev);
    for (const o of c.lists.mon.all) this.monitor(o);
    ms.cpuModel = this.guard(() => checkCpu(this.data, c.cpu?.value));
    if (chosen.family === 'none' && ms.cpuModel !== undefined)
      this.fail(undefined, 'apic-id property was not initialized properly');
    ms.ramBytes = this.ramSize(legacy.memdev, ramBytes);
    this.guard(() => checkBoot(this.machineDicts()));
    ms.context =
      chosen.family === 'none'
        ? ms.accel === 'kvm'
          ? 'probe-kvm'
          : 'probe-tcg'
        : chosen.family === 'q35' && ms.accel === 'tcg' && ms.cpuModel === 'qemu64'
          ? 'q35-tcg'
          : undefined;
    this.devices(ms);
    this.globals(chosen);
    this.sim.core.runState = c.autostart ? 'running' : 'prelaunch';
    this.sim.core.machine = chosen.family === 'none' ? 'none' : 'q35';
    ms.onRunning = () => this.firmwareBoots();
    if (c.autostart) this.firmwareBoots();
    if (this.down) return;
    this.started = true;
    this.hub.start();
  }

  private firmwareBooted = false;
  private firmwareTimer: NodeJS.Timeout | undefined;

  /**
   * The guest runs SeaBIOS first: soon after it starts running, its virtio-blk driver sets up the disks
   * it may boot from (with -boot strict=on, those with a bootindex; else all) without negotiating
   * flushes, and QEMU turns their write cache off (query-block shows writeback false from then on).
   */
  private firmwareBoots(): void {
    if (this.firmwareBooted || this.firmwareTimer || this.down) return;
    this.firmwareTimer = setTimeout(() => {
      this.firmwareTimer = undefined;
      const ms = this.machine;
      if (!ms || this.down || this.sim.core.runState !== 'running') return;
      this.firmwareBooted = true;
      const boot = this.machineDicts().get('boot');
      const strict = boot instanceof Map && ['on', 'yes', 'true', 'y'].includes(String(boot.get('strict')));
      for (const d of ms.peripherals) {
        if (d.type !== 'virtio-blk-pci' || d.id === undefined) continue;
        if (strict && d.bootindex === undefined) continue;
        const dev = this.sim.core.devices.get(d.id);
        if (dev) dev.writeCache = false;
      }
    }, FIRMWARE_MS);
    this.firmwareTimer.unref();
  }

  /** -smp and -boot as dictionaries: in machine_opts_dict (6.0+), or 5.2's own QemuOpts */
  private machineDicts(): Map<string, KvValue> {
    const c = this.config;
    if (this.profile !== '5.2') return c.machine;
    const dict = (o: QemuOpts | undefined): KvDict => new Map(o?.opts ?? []);
    return new Map<string, KvValue>([
      ['smp', dict(c.lists['smp-opts'].find(undefined))],
      ['boot', dict(c.lists['boot-opts'].find(undefined))],
    ]);
  }

  /** the defaults -nodefaults turns off: not simulated on a machine that would have any */
  private defaultDevices(m: ChosenMachine): void {
    const c = this.config;
    if (c.nographic && c.daemonize && c.hasDefaults)
      this.fail(undefined, '-nographic cannot be used with -daemonize');
    if (c.hasDefaults && (m.family !== 'none' || c.nographic))
      this.fail(undefined, 'fleece-lab: the default devices are not simulated (use -nodefaults)');
  }

  private display(): void {
    const d = this.config.display;
    if (!d) return;
    const gl = d.value.gl;
    if (gl !== undefined && gl !== 'off' && gl !== false)
      this.fail(
        undefined,
        this.profile === '5.2' || this.profile === '7.2'
          ? 'OpenGL is not supported by the display'
          : `OpenGL is not supported by display backend '${String(d.value.type)}'`,
      );
    if (d.value.type !== 'none')
      this.fail(d.loc, `fleece-lab: -display ${String(d.value.type)} is not simulated`);
  }

  /** every -object's properties (5.2 keeps them as QemuOpts until they are made) */
  private objectValues(): { value: Record<string, unknown>; loc: string }[] {
    const c = this.config;
    return this.profile === '5.2'
      ? c.lists.object.all.map((o) => ({ value: this.object52(o), loc: o.loc }))
      : c.objects;
  }

  /** object_option_foreach_add: early objects (all but memory-backend-*), or late ones */
  private objects(m: ChosenMachine, late: boolean, memdev?: string): void {
    const ramId = m.info['default-ram-id'] as string | undefined;
    for (const o of this.objectValues()) {
      const type = String(o.value['qom-type']);
      if (type.startsWith('memory-backend-') !== late) continue;
      const id = String(o.value.id);
      if (late && ramId !== undefined && id === ramId && memdev !== ramId)
        this.fail(undefined, reservedRamIdText(this.profile, id));
      if (type === 'secret') this.secret(o.value);
      else if (type !== 'memory-backend-ram' && type !== 'iothread' && type !== 'throttle-group')
        this.fail(o.loc, `fleece-lab: -object ${type} is not simulated`);
      try {
        objectAdd(this.sim.core, o.value);
      } catch (e) {
        this.fail(o.loc, e instanceof Error ? e.message : String(e));
      }
    }
  }

  /** 5.2's -object: QemuOpts, checked when the object is made */
  private object52(o: QemuOpts): Record<string, unknown> {
    const type = o.get('qom-type');
    if (o.id === undefined) this.fail(o.loc, "Parameter 'id' is missing");
    if (type === undefined || !this.data.types.some((t) => t.name === type))
      this.fail(o.loc, `invalid object type: ${type ?? ''}`);
    const v: Record<string, unknown> = { 'qom-type': type, id: o.id };
    for (const [k, x] of o.opts) if (k !== 'qom-type') v[k] = /^\d+$/.test(x) ? Number(x) : x;
    return v;
  }

  /** qcrypto secret with file=: read when made */
  private secret(v: Record<string, unknown>): void {
    if (typeof v.file !== 'string') return;
    try {
      fs.readFileSync(path.resolve(this.io.cwd, v.file));
    } catch {
      this.fail(
        undefined,
        `Unable to read ${v.file}: Failed to open file “${v.file}”: No such file or directory`,
      );
    }
  }

  private async chardev(o: QemuOpts): Promise<void> {
    const r = chardevFromOpts(this.profile, o, {
      backends: [...CHARDEV_BACKENDS[this.profile], ...SYSTEM_ONLY_BACKENDS],
      fd: true,
    });
    for (const w of r.warnings ?? []) this.report(o.loc, w, 'warning');
    if ('error' in r) this.fail(o.loc, r.error);
    const ch = await this.openChardev(r.ok, o.loc, (label) =>
      this.io.stderr(
        systemReport(
          this.config.msg,
          o.loc,
          `QEMU waiting for connection on: ${label(this.profile === '5.2')}`,
          'info',
        ),
      ),
    );
    this.chardevs.set(r.ok.id, ch);
  }

  private run(loc: string, command: string, args: Record<string, unknown>): void {
    this.syncClock();
    const r = this.sim.execute(command, args);
    if ('error' in r) this.fail(loc, r.error.desc);
  }

  private accelerators(machineAccel: string | undefined, ms: MachineState): void {
    try {
      const r = configureAccelerators(this.config.lists.accel.all, machineAccel, kvmUsable());
      for (const x of r.reports) this.report(x.loc, x.text);
      ms.accel = r.accel;
    } catch (e) {
      if (e instanceof AccelFailure) {
        for (const x of e.reports) this.report(x.loc, x.text);
        this.removePidfile();
        this.halt(1);
      }
      if (e instanceof StartupError) this.fail(e.loc, e.message);
      throw e;
    }
  }

  /** monitor_init_opts */
  private monitor(o: QemuOpts): void {
    const p = this.profile;
    const mode = o.get('mode');
    if (mode !== undefined && mode !== 'readline' && mode !== 'control')
      this.fail(
        o.loc,
        p === '5.2' ? `Invalid parameter '${mode}'` : `Parameter 'mode' does not accept value '${mode}'`,
      );
    const id = o.get('chardev');
    if (id === undefined) this.fail(o.loc, "Parameter 'chardev' is missing");
    const control = mode === 'control';
    const pretty = o.get('pretty') !== undefined && o.bool('pretty', false);
    if (!control && o.get('pretty') !== undefined) {
      if (p !== '5.2') this.fail(o.loc, "'pretty' is not compatible with HMP monitors");
      this.report(
        o.loc,
        "'pretty' is deprecated for HMP monitors, it has no effect and will be removed in future versions",
        'warning',
      );
    }
    const ch = this.chardevs.get(id);
    if (!ch) this.fail(o.loc, `chardev "${id}" not found`);
    if (ch.inUse) this.fail(o.loc, chardevInUseSystemText(p, id));
    if (!control) this.fail(o.loc, 'fleece-lab: HMP monitors (mode=readline) are not simulated');
    this.hub.addMonitor(ch, pretty);
  }

  /** qemu_resolve_machine_memdev: the RAM backend named by -machine memory-backend=, and its size */
  private ramSize(memdev: string | undefined, given: number | undefined): number {
    if (memdev === undefined) return given ?? 128 * 1024 * 1024;
    // 5.2's too: a -machine memory-backend= naming a key=value -object (real 5.2 accepts libvirt's)
    const obj = this.objectValues().find(
      (o) => o.value.id === memdev && String(o.value['qom-type']).startsWith('memory-backend-'),
    );
    if (!obj) this.fail(undefined, `Memory backend '${memdev}' not found`);
    const size = typeof obj.value.size === 'number' ? obj.value.size : bytesOf(String(obj.value.size));
    if (given !== undefined && given !== size)
      this.fail(undefined, 'Machine memory size does not match the size of the memory backend');
    return size;
  }

  /** qemu_create_cli_devices: QemuOpts -device first, then JSON ones */
  private devices(ms: MachineState): void {
    const b = new DeviceBuilder(
      this.profile,
      this.data,
      ms,
      (n) => this.sim.core.graph.find(n) !== undefined,
      (id, node, shareRw, writeCache) => this.sim.attachGuestDisk(id, node, { shareRw, writeCache }),
    );
    const run = (f: () => void) => this.guard(f);
    for (const o of this.config.lists.device.all) {
      const values = new Map<string, string>(o.opts);
      if (o.id !== undefined) values.set('id', o.id);
      run(() => b.add({ kind: 'opts', values }, o.loc));
    }
    for (const d of this.config.jsonDevices) run(() => b.add({ kind: 'json', values: d.value }, d.loc));
  }

  /** qdev_prop_check_globals: a -global for no device class is only warned about */
  private globals(m: ChosenMachine): void {
    for (const g of this.config.lists.global.all) {
      const driver = g.get('driver') ?? '';
      const prop = g.get('property') ?? '';
      const t = this.data.types.find((x) => x.name === driver);
      if (!t) {
        this.report(undefined, `global ${driver}.${prop} has invalid class name`, 'warning');
        continue;
      }
      const known = this.devicePropsOf(driver);
      if (known && !known.includes(prop))
        this.fail(
          undefined,
          `can't apply global ${driver}.${prop}=${g.get('value') ?? ''}: Property '${driver}.${prop}' not found`,
        );
    }
    void m;
  }

  /** a device type's properties: captured for the simulated ones, and from libvirt's probe for others */
  private devicePropsOf(type: string): string[] | undefined {
    const own = this.data.deviceProps[type];
    if (own) return own.map((p) => p.name);
    const probed = this.data.replies.find(
      (r) => r.request.execute === 'device-list-properties' && r.request.arguments?.typename === type,
    );
    if (probed && 'return' in probed.reply)
      return (probed.reply.return as { name: string }[]).map((p) => p.name);
    return undefined;
  }

  private chardevInfo(): { label: string; filename: string; 'frontend-open': boolean }[] {
    return [...this.chardevs.entries()].map(([label, ch]) => {
      const server = ch instanceof SocketServerChardev ? ch : undefined;
      const open = server ? server.connected : ch.inUse;
      const filename = server
        ? `${open ? '' : 'disconnected:'}${server.filename(this.profile === '5.2')}`
        : label;
      return { 'frontend-open': open, filename, label };
    });
  }

  /** what qemu-io printed, to the process's stdout */
  private flushStdout(): void {
    const out = this.sim.core.stdout.splice(0);
    if (out.length) this.io.stdout(out.join(''));
  }

  /** termsig_handler + qemu_kill_report + the SHUTDOWN the main loop sends, then exit 0 */
  private onSignal(sig: NodeJS.Signals): void {
    if (this.down) return;
    const num = sig === 'SIGTERM' ? 15 : sig === 'SIGINT' ? 2 : 1;
    // node cannot see who sent it: the parent is who usually does (libvirtd, a harness, timeout)
    const ppid = process.ppid;
    let name: string | undefined;
    try {
      name = fs.readFileSync(`/proc/${ppid}/cmdline`, 'latin1').split('\0')[0] || undefined;
    } catch {
      // gone
    }
    this.report(undefined, `terminating on signal ${num} from pid ${ppid} (${name ?? '<unknown process>'})`);
    if (this.started) this.sim.core.events.emit('SHUTDOWN', { guest: false, reason: 'host-signal' });
    void this.exitCleanly(0);
  }

  /** quit's reply is out: 5.2 sends its SHUTDOWN only now, from the main loop (7.2+ before the reply) */
  private afterQuit(): void {
    if (this.profile === '5.2')
      this.sim.core.events.emit('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' });
    void this.exitCleanly(0);
  }

  /**
   * qemu_cleanup: every job cancelled and dismissed (job_cancel_sync_all, its events still reaching the
   * monitors), block devices closed, then monitors and chardevs gone and the pid file unlinked.
   */
  async exitCleanly(code: number): Promise<void> {
    if (this.exiting || this.down) return;
    this.exiting = true;
    if (this.firmwareTimer) clearTimeout(this.firmwareTimer);
    try {
      this.cancelAllJobs();
      this.sim.core.graph.closeAll();
    } catch (e) {
      this.io.stderr(`fleece-lab serve: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    await this.hub.flush();
    this.closeAndExit(code);
  }

  private exiting = false;

  /** job_cancel_sync_all: force-cancel the first job until none is left (a concluded one is dismissed) */
  private cancelAllJobs(): void {
    const jobs = jobsOf(this.sim.core);
    for (let guard = 0; guard < 10_000 && jobs.size > 0; guard++) {
      const job = jobs.values().next().value!;
      job.cancel(true);
      for (let t = 0; t < 600 && jobs.get(job.id) === job && !job.completed(); t++) this.sim.advance(100);
    }
  }
}

/** `serve --flavour system ARGS`: parse, daemonize if asked, start, serve until quit or a signal. */
export async function runSystemServe(
  argv: readonly string[],
  io: ServeIo = defaultIo(),
  opts: { profile?: Profile; relaunch?: readonly string[] } = {},
): Promise<SystemProcess | undefined> {
  const out = parseSystemArgs(argv, { profile: opts.profile });
  if (out.kind === 'exit') {
    if (out.stdout) io.stdout(out.stdout);
    if (out.stderr) io.stderr(out.stderr);
    io.exit(out.status);
    return undefined;
  }
  if (out.stderr) io.stderr(out.stderr);
  // qemu_create_default_devices' check, in the daemon QEMU forked (its parent passes the failure on)
  const c = out.config;
  if (c.nographic && c.daemonize && c.hasDefaults) {
    io.stderr(systemReport(c.msg, undefined, '-nographic cannot be used with -daemonize'));
    io.exit(1);
    return undefined;
  }
  return startServe(
    { daemonize: c.daemonize, option: '-daemonize', io, relaunch: opts.relaunch },
    (io) => new SystemProcess(c, io),
  );
}
