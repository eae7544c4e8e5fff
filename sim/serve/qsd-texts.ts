/**
 * What qemu-storage-daemon prints, profile by profile: `--help`, `-V`, error_report's lines (with the
 * command-line location from 7.2 on), and the wording of the errors that changed between versions.
 */
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import type { Profile } from '../../contract/versions.ts';

export const PROG = 'qemu-storage-daemon';

const HELP_52 = `Usage: qemu-storage-daemon [options]
QEMU storage daemon

  -h, --help             display this help and exit
  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                         specify tracing options
  -V, --version          output version information and exit

  --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]
             [,cache.direct=on|off][,cache.no-flush=on|off]
             [,read-only=on|off][,auto-read-only=on|off]
             [,force-share=on|off][,detect-zeroes=on|off|unmap]
             [,driver specific parameters...]
                         configure a block backend

  --chardev <options>    configure a character device backend
                         (see the qemu(1) man page for possible options)

  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
           [,writable=on|off][,bitmap=<name>]
                         export the specified block node over NBD
                         (requires --nbd-server)

  --monitor [chardev=]name[,mode=control][,pretty[=on|off]]
                         configure a QMP monitor

  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
  --nbd-server addr.type=unix,addr.path=<path>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
                         start an NBD server for exporting block nodes

  --object help          list object types that can be added
  --object <type>,help   list properties for the given object type
  --object <type>[,<property>=<value>...]
                         create a new object of type <type>, setting
                         properties in the order they are specified. Note
                         that the 'id' property must be set.
                         See the qemu(1) man page for documentation of the
                         objects that can be added.

See <https://qemu.org/contribute/report-a-bug> for how to report bugs.
More information on the QEMU project at <https://qemu.org>.
`;
const HELP_72 = `Usage: qemu-storage-daemon [options]
QEMU storage daemon

  -h, --help             display this help and exit
  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                         specify tracing options
  -V, --version          output version information and exit

  --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]
             [,cache.direct=on|off][,cache.no-flush=on|off]
             [,read-only=on|off][,auto-read-only=on|off]
             [,force-share=on|off][,detect-zeroes=on|off|unmap]
             [,driver specific parameters...]
                         configure a block backend

  --chardev <options>    configure a character device backend
                         (see the qemu(1) man page for possible options)

  --daemonize            daemonize the process, and have the parent exit
                         once startup is complete

  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
           [,writable=on|off][,bitmap=<name>]
                         export the specified block node over NBD
                         (requires --nbd-server)

  --export [type=]fuse,id=<id>,node-name=<node-name>,mountpoint=<file>
           [,growable=on|off][,writable=on|off][,allow-other=on|off|auto]
                         export the specified block node over FUSE

  --export [type=]vhost-user-blk,id=<id>,node-name=<node-name>,
           addr.type=unix,addr.path=<socket-path>[,writable=on|off]
           [,logical-block-size=<block-size>][,num-queues=<num-queues>]
                         export the specified block node as a
                         vhost-user-blk device over UNIX domain socket
  --export [type=]vhost-user-blk,id=<id>,node-name=<node-name>,
           addr.type=fd,addr.str=<fd>[,writable=on|off]
           [,logical-block-size=<block-size>][,num-queues=<num-queues>]
                         export the specified block node as a
                         vhost-user-blk device over file descriptor

  --export [type=]vduse-blk,id=<id>,node-name=<node-name>
           ,name=<vduse-name>[,writable=on|off]
           [,num-queues=<num-queues>][,queue-size=<queue-size>]
           [,logical-block-size=<logical-block-size>]
           [,serial=<serial-number>]
                         export the specified block node as a
                         vduse-blk device

  --monitor [chardev=]name[,mode=control][,pretty[=on|off]]
                         configure a QMP monitor

  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
  --nbd-server addr.type=unix,addr.path=<path>
               [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
                         start an NBD server for exporting block nodes

  --object help          list object types that can be added
  --object <type>,help   list properties for the given object type
  --object <type>[,<property>=<value>...]
                         create a new object of type <type>, setting
                         properties in the order they are specified. Note
                         that the 'id' property must be set.
                         See the qemu(1) man page for documentation of the
                         objects that can be added.

  --pidfile <path>       write process ID to a file after startup

See <https://qemu.org/contribute/report-a-bug> for how to report bugs.
More information on the QEMU project at <https://qemu.org>.
`;

const COPYRIGHT_YEAR: Record<Profile, number> = { '5.2': 2020, '7.2': 2022, '10.0': 2025, '11.1': 2026 };

/** `-V`: the version line from the profile's captured greeting, and its copyright year */
export function versionText(profile: Profile): string {
  const g = loadSnapshot(profile, 'qsd').greeting.QMP.version;
  const v = `${g.qemu.major}.${g.qemu.minor}.${g.qemu.micro}`;
  const full = g.package ? `${v} (${g.package})` : v;
  return `${PROG} version ${full}\nCopyright (c) 2003-${COPYRIGHT_YEAR[profile]} Fabrice Bellard and the QEMU Project developers\n`;
}

export function helpText(profile: Profile): string {
  return profile === '5.2' ? HELP_52 : HELP_72;
}

/** error_report / warn_report / info_report with the command-line location (none in 5.2) */
export function report(
  profile: Profile,
  loc: string | undefined,
  msg: string,
  level?: 'warning' | 'info',
): string {
  const where = profile !== '5.2' && loc !== undefined ? `${loc}: ` : '';
  return `${PROG}: ${where}${level ? `${level}: ` : ''}${msg}\n`;
}

/** duplicate chardev ids: 7.2+ trip over the yank instance, 5.2 over the QOM child */
export function duplicateChardevText(profile: Profile, id: string): string {
  return profile === '5.2'
    ? `attempt to add duplicate property '${id}' to object (type 'container')`
    : 'duplicate yank instance';
}

/** a chardev already has a monitor */
export function chardevInUseText(profile: Profile, id: string): string {
  return profile === '5.2' || profile === '7.2'
    ? `Device '${id}' is in use`
    : `chardev '${id}' is already in use`;
}

/** "Unexpected argument" as each version words it */
export function unexpectedArgumentText(profile: Profile, arg: string): string {
  return profile === '5.2'
    ? `${PROG}: Unexpected argument: ${arg}\n`
    : `${PROG}: ${arg}: Unexpected argument\n`;
}
