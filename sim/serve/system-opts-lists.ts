/**
 * The QemuOpts lists qemu-system-x86_64 parses its options into (vl.c, chardev/char.c, monitor/monitor.c,
 * qdev-monitor.c, os-posix.c, qemu-seccomp.c), per profile where they changed.
 */
import type { Profile } from '../../contract/versions.ts';
import type { OptType } from './qemu-option.ts';
import type { OptDesc, QemuOptsListDef } from './qemu-opts.ts';
import { chardevOpts } from './qsd-chardev.ts';

function strs(...names: string[]): Record<string, OptDesc> {
  return Object.fromEntries(names.map((n) => [n, { type: 'str' as OptType }]));
}

const GUEST_HELP =
  'Sets the name of the guest.\nThis name will be displayed in the SDL window caption.\nThe name will also be used for the VNC server';

export type ListName =
  | 'name'
  | 'rtc'
  | 'memory'
  | 'msg'
  | 'overcommit'
  | 'sandbox'
  | 'mon'
  | 'chardev'
  | 'device'
  | 'accel'
  | 'global'
  | 'action'
  | 'object'
  | 'smp-opts'
  | 'boot-opts'
  | 'machine';

export function listDef(profile: Profile, name: ListName): QemuOptsListDef {
  switch (name) {
    case 'name':
      return {
        name,
        implied: 'guest',
        merge: true,
        desc: {
          guest: { type: 'str', help: GUEST_HELP },
          process: { type: 'str', help: 'Sets the name of the QEMU process, as shown in top etc' },
          'debug-threads': {
            type: 'bool',
            help:
              profile === '11.1'
                ? 'Enable thread names(deprecated, always enabled where supported)'
                : 'When enabled, name the individual threads; defaults off.\nNOTE: The thread names are for debugging and not a\nstable API.',
          },
        },
      };
    case 'rtc':
      return { name, merge: true, desc: strs('base', 'clock', 'driftfix') };
    case 'memory':
      return {
        name,
        implied: 'size',
        merge: true,
        desc: { size: { type: 'size' }, slots: { type: 'num' }, maxmem: { type: 'size' } },
      };
    case 'msg':
      return {
        name,
        desc: {
          timestamp: { type: 'bool' },
          'guest-name': {
            type: 'bool',
            help: 'Prepends guest name for error messages but only if -name guest is set otherwise option is ignored\n',
          },
        },
      };
    case 'overcommit':
      return {
        name,
        desc: {
          'mem-lock': { type: profile === '10.0' || profile === '11.1' ? 'str' : 'bool' },
          'cpu-pm': { type: 'bool' },
        },
      };
    case 'sandbox':
      return {
        name,
        implied: 'enable',
        desc: {
          enable: { type: 'bool' },
          ...strs('obsolete', 'elevateprivileges', 'spawn', 'resourcecontrol'),
        },
      };
    case 'mon':
      return {
        name,
        implied: 'chardev',
        desc: { mode: { type: 'str' }, chardev: { type: 'str' }, pretty: { type: 'bool' } },
      };
    case 'chardev':
      return {
        name,
        implied: 'backend',
        desc: Object.fromEntries(Object.entries(chardevOpts(profile)).map(([k, t]) => [k, { type: t }])),
      };
    case 'device':
      return { name, implied: 'driver' };
    case 'accel':
      return { name, implied: 'accel' };
    case 'object':
      return { name, implied: 'qom-type' };
    case 'global':
      return { name, desc: strs('driver', 'property', 'value') };
    case 'action':
      return { name, merge: true, desc: strs('shutdown', 'reboot', 'panic', 'watchdog') };
    case 'machine':
      // 5.2's -machine: QemuOpts that accept anything (6.0 moved it to keyval)
      return { name, implied: 'type', merge: true };
    case 'smp-opts':
      return {
        name,
        implied: 'cpus',
        merge: true,
        desc: Object.fromEntries(
          ['cpus', 'sockets', 'dies', 'cores', 'threads', 'maxcpus'].map((n) => [n, { type: 'num' }]),
        ),
      };
    case 'boot-opts':
      return {
        name,
        implied: 'order',
        merge: true,
        desc: {
          order: { type: 'str' },
          once: { type: 'str' },
          menu: { type: 'bool' },
          splash: { type: 'str' },
          'splash-time': { type: 'num' },
          'reboot-timeout': { type: 'num' },
          strict: { type: 'bool' },
        },
      };
  }
}

/** the keyval forms of -smp and -boot (6.0+): what `-smp help` / `-boot help` print */
export function keyvalListHelpNames(
  profile: Profile,
  list: 'smp-opts' | 'boot-opts',
): Record<string, OptDesc> {
  if (list === 'boot-opts') return listDef(profile, 'boot-opts').desc ?? {};
  const names =
    profile === '7.2'
      ? ['cpus', 'sockets', 'dies', 'clusters', 'cores', 'threads', 'maxcpus']
      : ['cpus', 'drawers', 'books', 'sockets', 'dies', 'clusters', 'modules', 'cores', 'threads', 'maxcpus'];
  return Object.fromEntries(names.map((n) => [n, { type: 'num' as OptType }]));
}
