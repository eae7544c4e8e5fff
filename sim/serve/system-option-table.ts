/**
 * qemu-system-x86_64's option table (qemu-options.def, QEMUOption in vl.c) per profile, read off the real
 * binaries: every option name lookup_opt knows, '+' when it takes an argument (HAS_ARG), '!' when it is
 * not for this target (the second pass refuses it: "Option not supported for this target"; 7.2's -xen-*
 * too, refused there for want of the xen accelerator). Names are matched exactly, never abbreviated;
 * "--name" is "-name".
 */
import type { Profile } from '../../contract/versions.ts';

const TABLES: Record<Profile, string> = {
  '5.2': [
    '+D +L +M S +accel +acpitable +add-fd alt-grab +append audio-help +audiodev +bios +blockdev +boot',
    '+cdrom +chardev +chroot +cpu ctrl-grab curses +d daemonize +debugcon +device +dfilter +display',
    '+drive +dtb +dump-vmstate +echr enable-fips enable-kvm enable-sync-profile +fda +fdb +fsdev',
    'full-screen +fw_cfg !+g +gdb +global h +hda +hdb +hdc +hdd help +icount +incoming +initrd +iscsi',
    '+k +kernel +loadvm +m +machine +mem-path mem-prealloc +mon +monitor +msg +mtdblock +name +net',
    '+netdev +nic no-acpi no-fd-bootchk no-hpet no-quit no-reboot no-shutdown no-user-config',
    'nodefaults nographic +numa +object !old-param only-migratable +option-rom +overcommit +parallel',
    '+pflash +pidfile +plugin portrait preconfig !+prom-env +qmp +qmp-pretty +qtest +qtest-log',
    '+readconfig +realtime +rotate +rtc +runas s +sandbox +sd sdl +seed !semihosting',
    '!+semihosting-config +serial +set show-cursor singlestep +smbios +smp snapshot +soundhw +spice',
    '+tb-size +tpmdev +trace usb +usbdevice +uuid version +vga +virtfs +vnc +watchdog',
    '+watchdog-action win2k-hack +writeconfig xen-attach +xen-domid xen-domid-restrict',
  ].join(' '),
  '7.2': [
    '+D +L +M S +accel +acpitable +action +add-fd +append async-teardown +audio audio-help +audiodev',
    '+bios +blockdev +boot +cdrom +chardev +chroot +compat +cpu +d daemonize +debugcon +device',
    '+dfilter +display +drive +dtb +dump-vmstate +echr enable-kvm enable-sync-profile +fda +fdb',
    '+fsdev full-screen +fw_cfg !+g +gdb +global h +hda +hdb +hdc +hdd help +icount +incoming +initrd',
    '+iscsi +k +kernel +loadvm +m +machine +mem-path mem-prealloc +mon +monitor +msg +mtdblock +name',
    '+net +netdev +nic no-acpi no-fd-bootchk no-hpet no-reboot no-shutdown no-user-config nodefaults',
    'nographic +numa +object !old-param only-migratable +option-rom +overcommit +parallel +pflash',
    '+pidfile +plugin portrait preconfig !+prom-env +qmp +qmp-pretty +qtest +qtest-log +readconfig',
    '+rotate +rtc +runas s +sandbox +sd +seed !semihosting !+semihosting-config +serial +set',
    'singlestep +smbios +smp snapshot +spice +tpmdev +trace usb +usbdevice +uuid version +vga +virtfs',
    '+vnc +watchdog-action win2k-hack !xen-attach !+xen-domid !xen-domid-restrict',
  ].join(' '),
  '10.0': [
    '+D +L +M S +accel +acpitable +action +add-fd +append +audio +audiodev +bios +blockdev +boot',
    '+cdrom +chardev +compat +cpu +d daemonize +debugcon +device +dfilter +display +drive +dtb',
    '+dump-vmstate +echr enable-kvm enable-sync-profile +fda +fdb +fsdev full-screen +fw_cfg !+g +gdb',
    '+global h +hda +hdb +hdc +hdd help +icount +incoming +initrd +iscsi jitdump +k +kernel +loadvm',
    '+m +machine +mem-path mem-prealloc +mon +monitor +msg +mtdblock +name +net +netdev +nic',
    'no-fd-bootchk no-reboot no-shutdown no-user-config nodefaults nographic +numa +object !old-param',
    'only-migratable +option-rom +overcommit +parallel perfmap +pflash +pidfile +plugin preconfig',
    '!+prom-env +qmp +qmp-pretty +qtest +qtest-log +readconfig +rtc +run-with s +sandbox +sd +seed',
    '!semihosting !+semihosting-config +serial +set +shim +smbios +smp snapshot +spice +tpmdev +trace',
    'usb +usbdevice +uuid version +vga +virtfs +vnc +watchdog-action win2k-hack !xen-attach',
    '+xen-domid !xen-domid-restrict',
  ].join(' '),
  '11.1': [
    '+D +L +M S +accel +acpitable +action +add-fd +append +audio +audiodev +bios +blockdev +boot',
    '+cdrom +chardev +compat +cpu +d daemonize +debugcon +device +dfilter +display +drive +dtb',
    '+dump-vmstate +echr enable-kvm enable-sync-profile +fda +fdb +fsdev full-screen +fw_cfg !+g +gdb',
    '+global h +hda +hdb +hdc +hdd help +icount +incoming +initrd +iscsi jitdump +k +kernel +loadvm',
    '+m +machine +mem-path mem-prealloc +mon +monitor +msg +mtdblock +name +net +netdev +nic',
    'no-fd-bootchk no-reboot no-shutdown no-user-config nodefaults nographic +numa +object',
    'only-migratable +option-rom +overcommit +parallel perfmap +pflash +pidfile +plugin preconfig',
    '!+prom-env +qmp +qmp-pretty +qtest +qtest-log +readconfig +rtc +run-with s +sandbox +sd +seed',
    '!semihosting !+semihosting-config +serial +set +shim +smbios +smp snapshot +spice +tpmdev +trace',
    'usb +usbdevice +uuid version +vga +virtfs +vnc +watchdog-action win2k-hack !xen-attach',
    '+xen-domid !xen-domid-restrict',
  ].join(' '),
};

export interface QemuOption {
  name: string;
  hasArg: boolean;
  /** false: the option exists but is refused for x86_64 */
  forTarget: boolean;
}

const cache = new Map<Profile, Map<string, QemuOption>>();

/** The profile's options by name. */
export function optionTable(profile: Profile): ReadonlyMap<string, QemuOption> {
  let t = cache.get(profile);
  if (!t) {
    t = new Map();
    for (const tok of TABLES[profile].split(' ')) {
      const forTarget = !tok.startsWith('!');
      const rest = tok.replace(/^!/, '');
      const hasArg = rest.startsWith('+');
      const name = rest.replace(/^\+/, '');
      t.set(name, { name, hasArg, forTarget });
    }
    cache.set(profile, t);
  }
  return t;
}
