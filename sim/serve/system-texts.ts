/**
 * What qemu-system-x86_64 prints, profile by profile: `-version`, error_report's lines (the command-line
 * location, and the -msg timestamp and guest-name prefixes once -msg has turned them on), and the
 * wordings that changed between versions.
 */
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import type { Profile } from '../../contract/versions.ts';

export const SYSTEM_PROG = 'qemu-system-x86_64';

const COPYRIGHT_YEAR: Record<Profile, number> = { '5.2': 2020, '7.2': 2022, '10.0': 2025, '11.1': 2026 };

/** `-version`: the version line from the profile's captured greeting */
export function systemVersionText(profile: Profile): string {
  const g = loadSnapshot(profile, 'system').greeting.QMP.version;
  const v = `${g.qemu.major}.${g.qemu.minor}.${g.qemu.micro}`;
  const full = g.package ? `${v} (${g.package})` : v;
  return `QEMU emulator version ${full}\nCopyright (c) 2003-${COPYRIGHT_YEAR[profile]} Fabrice Bellard and the QEMU Project developers\n`;
}

/** -msg timestamp=on,guest-name=on as far as the command line has set them (configure_msg) */
export interface MsgState {
  timestamp: boolean;
  guestName: boolean;
  /** -name guest=..., printed before the program's name with guest-name=on */
  guest: string | undefined;
}

/** real_time_iso8601(): g_date_time_format_iso8601 of the wall clock, microseconds, UTC */
export function isoTimestamp(
  nowUs: number = Math.floor((performance.timeOrigin + performance.now()) * 1000),
): string {
  const d = new Date(Math.floor(nowUs / 1000));
  const micro = String(Math.floor(nowUs % 1_000_000)).padStart(6, '0');
  return `${d.toISOString().slice(0, 19)}.${micro}Z`;
}

/** error_vprintf's prefix: "[timestamp ][guest ]qemu-system-x86_64: [loc: ]" */
export function reportPrefix(msg: MsgState, loc: string | undefined): string {
  const ts = msg.timestamp ? `${isoTimestamp()} ` : '';
  const guest = msg.guestName && msg.guest !== undefined ? `${msg.guest} ` : '';
  return `${ts}${guest}${SYSTEM_PROG}: ${loc !== undefined ? `${loc}: ` : ''}`;
}

/** error_report / warn_report / info_report: the prefix on the first line only, the rest as given */
export function systemReport(
  msg: MsgState,
  loc: string | undefined,
  text: string,
  level?: 'warning' | 'info',
): string {
  return `${reportPrefix(msg, loc)}${level ? `${level}: ` : ''}${text}\n`;
}

/** select_machine: an unknown type */
export function unsupportedMachineText(profile: Profile, type: string): string {
  const named = profile === '5.2' || profile === '7.2' ? '' : `: "${type}"`;
  return `unsupported machine type${named}\nUse -machine help to list supported machines`;
}

/** -mon with a chardev that already has a frontend */
export function chardevInUseSystemText(profile: Profile, id: string): string {
  return profile === '5.2' || profile === '7.2'
    ? `Device '${id}' is in use`
    : `chardev '${id}' is already in use`;
}

/** 11.1 deprecates -mon (warned as each one is parsed) */
export function monDeprecated(profile: Profile): string | undefined {
  return profile === '11.1'
    ? "warning: '-mon' is deprecated, use '-object' with 'monitor-hmp' or 'monitor-qmp' types instead"
    : undefined;
}

/** the object id the default RAM backend reserves (create_default_memdev) */
export function reservedRamIdText(profile: Profile, id: string): string {
  if (profile === '7.2')
    return `object name '${id}' is reserved for the default RAM backend, it can't be used for any other purposes. Change the object's 'id' to something else`;
  return `object's id '${id}' is reserved for the default RAM backend, it can't be used for any other purposes\nChange the object's 'id' to something else or disable automatic creation of the default RAM backend by setting 'memory-backend=${id}' with '-machine'.`;
}

/** qemu_write_pidfile's failure to create the file */
export function pidfileCreateText(profile: Profile, file: string, why: string): string {
  return profile === '5.2'
    ? `cannot create PID file: Cannot open pid file: ${why}`
    : `cannot create PID file: Could not create '${file}': ${why}`;
}
