/**
 * What qemu-system-x86_64's second pass over the command line leaves for the rest of qemu_init: the
 * QemuOpts lists, the machine's keyval dictionary, the queues of -blockdev/-device/-object/-audiodev, and
 * the plain settings (-S, -nodefaults, -pidfile, ...). Everything keeps its command-line location, for
 * the errors that come later.
 */
import type { Profile } from '../../contract/versions.ts';
import type { KvDict } from './keyval.ts';
import { QemuOptsList } from './qemu-opts.ts';
import type { QDict } from './qobject/qobject.ts';
import { type ListName, listDef } from './system-opts-lists.ts';
import type { MsgState } from './system-texts.ts';

export interface Located<T> {
  value: T;
  loc: string;
}

const LISTS: ListName[] = [
  'name',
  'rtc',
  'memory',
  'msg',
  'overcommit',
  'sandbox',
  'mon',
  'chardev',
  'device',
  'accel',
  'global',
  'action',
  'object',
  'smp-opts',
  'boot-opts',
  'machine',
];

export class SystemConfig {
  readonly lists: Record<ListName, QemuOptsList>;
  /** machine_opts_dict (6.0+), or 5.2's -machine QemuOpts made into one at the end of the pass */
  machine: KvDict = new Map();
  readonly blockdevs: Located<Record<string, unknown>>[] = [];
  /** -device '{...}' (6.2+): created after every QemuOpts -device */
  readonly jsonDevices: Located<QDict>[] = [];
  /** -object, visited into ObjectOptions (5.2: the QemuOpts, checked when created) */
  readonly objects: Located<Record<string, unknown>>[] = [];
  readonly audiodevs: Located<Record<string, unknown>>[] = [];
  /** what -display gave (DisplayOptions); none unless set */
  display: Located<Record<string, unknown>> | undefined;
  nographic = false;
  hasDefaults = true;
  defaultMonitor = true;
  autostart = true;
  daemonize = false;
  pidfile: string | undefined;
  cpu: Located<string> | undefined;
  uuid: string | undefined;
  readonly dataDirs: string[] = [];
  /** a disk image argument: QEMU opens it with the drives, which the simulator does not have */
  readonly diskImages: Located<string>[] = [];
  /** -monitor N monitors in compat form get labels compat_monitor0, 1, ... */
  monitorIndex = 0;
  readonly msg: MsgState = { timestamp: false, guestName: false, guest: undefined };

  constructor(
    readonly profile: Profile,
    readonly seed: number,
  ) {
    this.lists = Object.fromEntries(
      LISTS.map((n) => [n, new QemuOptsList(listDef(profile, n), profile)]),
    ) as Record<ListName, QemuOptsList>;
  }
}
