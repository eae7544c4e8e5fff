/**
 * qemu-storage-daemon's command line, case by case as read off the real qsd of each version: argv,
 * exit status ('running' when startup succeeded), and what it printed or left in its folder.
 * qsd-options.test.ts runs them on the simulator, and on the real qsd again when it is installed.
 */
import type { Profile } from '../../../contract/versions.ts';

export interface Case {
  argv: string[];
  /** 'running': startup succeeded and qsd serves */
  status: number | 'running';
  stderr?: string;
  stdout?: string | RegExp;
  /** files left in the scratch folder (besides the fixture "file") */
  files?: string[];
}

export const P = 'qemu-storage-daemon';
const S = 'socket,path=m.sock,server=on,wait=off';

const CASES_72: Case[] = [
  { argv: ['--bogus'], status: 1, stderr: `${P}: unrecognized option '--bogus'\n` },
  { argv: ['-x'], status: 1, stderr: `${P}: invalid option -- 'x'\n` },
  { argv: ['--blockdev'], status: 1, stderr: `${P}: option '--blockdev' requires an argument\n` },
  { argv: ['--block'], status: 1, stderr: `${P}: option '--blockdev' requires an argument\n` },
  { argv: ['--hel=x'], status: 1, stderr: `${P}: option '--help' doesn't allow an argument\n` },
  { argv: ['-T'], status: 1, stderr: `${P}: option requires an argument -- 'T'\n` },
  { argv: ['--bogus', '-V'], status: 1, stderr: `${P}: unrecognized option '--bogus'\n` },
  { argv: ['foo'], status: 1, stderr: `${P}: foo: Unexpected argument\n` },
  { argv: ['foo', '--blockdev', 'x'], status: 1, stderr: `${P}: foo: Unexpected argument\n` },
  { argv: ['-'], status: 1, stderr: `${P}: -: Unexpected argument\n` },
  { argv: ['--', 'foo'], status: 'running' },
  {
    argv: ['-V'],
    status: 0,
    stdout:
      /^qemu-storage-daemon version 7\.2\.22 \(Debian 1:7\.2\+dfsg-7\+deb12u18\+b3\)\nCopyright \(c\) 2003-2022 Fabrice Bellard and the QEMU Project developers\n$/,
  },
  { argv: ['--blockdev', 'x', '-V'], status: 0, stdout: /^qemu-storage-daemon version 7\.2\.22/ },
  { argv: ['--hel'], status: 0, stdout: /^Usage: qemu-storage-daemon \[options\]\nQEMU storage daemon\n/ },
  { argv: ['-hV'], status: 0, stdout: /^Usage: / },
  { argv: ['--blockdev', '=x'], status: 1, stderr: `${P}: --blockdev =x: Invalid parameter ''\n` },
  { argv: ['--blockdev', ','], status: 1, stderr: `${P}: --blockdev ,: Invalid parameter ''\n` },
  { argv: ['--blockdev', ''], status: 1, stderr: `${P}: --blockdev : Parameter 'driver' is missing\n` },
  {
    argv: ['--blockdev', 'help'],
    status: 1,
    stderr: `${P}: --blockdev help: Help is not available for this option\n`,
  },
  {
    argv: ['--blockdev=driver=nope'],
    status: 1,
    stderr: `${P}: --blockdev=driver=nope: Parameter 'driver' does not accept value 'nope'\n`,
  },
  {
    argv: ['--blockd=nope'],
    status: 1,
    stderr: `${P}: --blockd=nope: Parameter 'driver' does not accept value 'nope'\n`,
  },
  {
    argv: ['--blockdev', '--', 'x'],
    status: 1,
    stderr: `${P}: --blockdev --: Parameter 'driver' does not accept value '--'\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,,x'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,,x: Parameter 'driver' does not accept value 'null-co,x'\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,node-name=a,size=1M'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,node-name=a,size=1M: Parameter 'size' expects integer\n`,
  },
  {
    argv: ['--blockdev', 'null-co,node-name=a,read-only=maybe'],
    status: 1,
    stderr: `${P}: --blockdev null-co,node-name=a,read-only=maybe: Parameter 'read-only' expects 'on' or 'off'\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,node-name=a,latency-ns=18446744073709551616'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,node-name=a,latency-ns=18446744073709551616: Parameter 'latency-ns' expects integer\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,a.b=1,a=2'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,a.b=1,a=2: Parameters 'a.*' used inconsistently\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,a.1=x'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,a.1=x: Parameter 'a.0' missing\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,x..y=1'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,x..y=1: Invalid parameter 'x..y'\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,node-name'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,node-name: Expected '=' after parameter 'node-name'\n`,
  },
  {
    argv: ['--blockdev', 'null-co,node-name=a,cache=x'],
    status: 1,
    stderr: `${P}: --blockdev null-co,node-name=a,cache=x: Invalid parameter type for 'cache', expected: object\n`,
  },
  {
    argv: ['--blockdev', 'null-co,node-name=a,read-only.x=1'],
    status: 1,
    stderr: `${P}: --blockdev null-co,node-name=a,read-only.x=1: Parameters 'read-only.*' are unexpected\n`,
  },
  {
    argv: ['--blockdev', 'null-co,node-name=a,foo=1,bar=2'],
    status: 1,
    stderr: `${P}: --blockdev null-co,node-name=a,foo=1,bar=2: Parameter 'bar' is unexpected\n`,
  },
  {
    argv: ['--blockdev', 'null-co,node-name=a,cache.direct=on,cache.no-flush=x'],
    status: 1,
    stderr: `${P}: --blockdev null-co,node-name=a,cache.direct=on,cache.no-flush=x: Parameter 'cache.no-flush' expects 'on' or 'off'\n`,
  },
  {
    argv: ['--blockdev', 'node-name=x'],
    status: 1,
    stderr: `${P}: --blockdev node-name=x: Parameter 'driver' is missing\n`,
  },
  {
    argv: ['--blockdev', '[1]'],
    status: 1,
    stderr: `${P}: --blockdev [1]: Parameter 'driver' does not accept value '[1]'\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,: 'node-name' must be specified for the root node\n`,
  },
  {
    argv: ['--blockdev', '{"driver":"file"'],
    status: 1,
    stderr: `${P}: --blockdev {"driver":"file": JSON parse error, premature EOI\n`,
  },
  {
    argv: ['--blockdev', '{"driver":"null-co"} x'],
    status: 1,
    stderr: `${P}: --blockdev {"driver":"null-co"} x: Expecting at most one JSON value\n`,
  },
  {
    argv: ['--blockdev', '{"driver": garbage}'],
    status: 1,
    stderr: `${P}: --blockdev {"driver": garbage}: JSON parse error, invalid keyword 'garbage'\n`,
  },
  {
    argv: ['--blockdev', '{"a":1,"a":2}'],
    status: 1,
    stderr: `${P}: --blockdev {"a":1,"a":2}: JSON parse error, duplicate key\n`,
  },
  { argv: ['--blockdev', '{}'], status: 1, stderr: `${P}: --blockdev {}: Parameter 'driver' is missing\n` },
  {
    argv: ['--blockdev', '{"driver":"null-co","node-name":"a","size":"1"}'],
    status: 1,
    stderr: `${P}: --blockdev {"driver":"null-co","node-name":"a","size":"1"}: Invalid parameter type for 'size', expected: integer\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,node-name=a', '--blockdev', 'driver=null-co,node-name=a'],
    status: 1,
    stderr: `${P}: --blockdev driver=null-co,node-name=a: Duplicate nodes with node-name='a'\n`,
  },
  {
    argv: ['--blockdev', '{"driver":"file","filename":"/nonexist","node-name":"a"}'],
    status: 1,
    stderr: `${P}: --blockdev {"driver":"file","filename":"/nonexist","node-name":"a"}: Could not open '/nonexist': No such file or directory\n`,
  },
  {
    argv: ['--export', 'type=nbd,id=e,node-name=x'],
    status: 1,
    stderr: `${P}: --export type=nbd,id=e,node-name=x: Cannot find device='' nor node-name='x'\n`,
  },
  {
    argv: ['--export', 'nbd,id=e,node-name=x,bitmap=b'],
    status: 1,
    stderr: `${P}: --export nbd,id=e,node-name=x,bitmap=b: Parameter 'bitmap' is unexpected\n`,
  },
  {
    argv: ['--blockdev', 'driver=null-co,node-name=a', '--export', 'type=nbd,id=e,node-name=a'],
    status: 1,
    stderr: `${P}: --export type=nbd,id=e,node-name=a: NBD server not running\n`,
  },
  {
    argv: [
      '--blockdev',
      'null-co,node-name=a',
      '--nbd-server',
      'addr.type=unix,addr.path=n.sock',
      '--export',
      'nbd,id=e,node-name=a,writable=on,bitmaps.0=b',
    ],
    status: 1,
    stderr: `${P}: --export nbd,id=e,node-name=a,writable=on,bitmaps.0=b: Bitmap 'b' is not found\n`,
    files: ['n.sock'],
  },
  {
    argv: [
      '--blockdev',
      'null-co,node-name=a,read-only=on',
      '--nbd-server',
      'addr.type=unix,addr.path=n.sock',
      '--export',
      'nbd,id=e,node-name=a,writable=on',
    ],
    status: 1,
    stderr: `${P}: --export nbd,id=e,node-name=a,writable=on: Cannot export read-only node as writable\n`,
    files: ['n.sock'],
  },
  {
    argv: ['--nbd-server', 'addr.type=unix'],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=unix: Parameter 'addr.path' is missing\n`,
  },
  {
    argv: ['--nbd-server', 'addr.type=unix,addr.path=n.sock,max-connections=4294967296'],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=unix,addr.path=n.sock,max-connections=4294967296: Parameter 'max-connections' expects uint32_t\n`,
  },
  {
    argv: ['--nbd-server', 'addr.type=inet,addr.host=127.0.0.1,addr.port=10809,addr.to=70000'],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=inet,addr.host=127.0.0.1,addr.port=10809,addr.to=70000: Parameter 'to' expects uint16_t\n`,
  },
  {
    argv: ['--nbd-server', 'addr.type=unix,addr.path=/nonexist/n.sock'],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=unix,addr.path=/nonexist/n.sock: Failed to bind socket to /nonexist/n.sock: No such file or directory\n`,
  },
  {
    argv: [
      '--nbd-server',
      'addr.type=unix,addr.path=n.sock',
      '--nbd-server',
      'addr.type=unix,addr.path=n2.sock',
    ],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=unix,addr.path=n2.sock: NBD server already running\n`,
    files: ['n.sock'],
  },
  {
    argv: ['--nbd-server', 'addr.type=unix,addr.path=n.sock,addr.foo=1'],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=unix,addr.path=n.sock,addr.foo=1: Parameter 'addr.foo' is unexpected\n`,
  },
  {
    argv: ['--nbd-server', 'addr.type=vsock'],
    status: 1,
    stderr: `${P}: --nbd-server addr.type=vsock: Parameter 'addr.cid' is missing\n`,
  },
  {
    argv: ['--nbd-server', 'addr.path=x'],
    status: 1,
    stderr: `${P}: --nbd-server addr.path=x: Parameter 'addr.type' is missing\n`,
  },
  {
    argv: ['--nbd-server', 'addr=x'],
    status: 1,
    stderr: `${P}: --nbd-server addr=x: Invalid parameter type for 'addr', expected: object\n`,
  },
  {
    argv: ['--monitor', 'chardev=nope'],
    status: 1,
    stderr: `${P}: --monitor chardev=nope: chardev "nope" not found\n`,
  },
  { argv: ['--monitor', ''], status: 1, stderr: `${P}: --monitor : Parameter 'chardev' is missing\n` },
  {
    argv: ['--monitor', 'c0,foo=1'],
    status: 1,
    stderr: `${P}: --monitor c0,foo=1: Parameter 'foo' is unexpected\n`,
  },
  {
    argv: ['--monitor', 'chardev=c0,pretty=x'],
    status: 1,
    stderr: `${P}: --monitor chardev=c0,pretty=x: Parameter 'pretty' expects 'on' or 'off'\n`,
  },
  {
    argv: ['--chardev', `${S},id=c0`, '--monitor', 'c0', '--monitor', 'c0'],
    status: 1,
    stderr: `${P}: --monitor c0: Device 'c0' is in use\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', `${S},id=c0`, '--monitor', 'chardev=c0,mode=readline'],
    status: 1,
    stderr: `${P}: --monitor chardev=c0,mode=readline: Only QMP is supported\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', `${S},id=c0`, '--monitor', 'chardev=c0,mode=x'],
    status: 1,
    stderr: `${P}: --monitor chardev=c0,mode=x: Parameter 'mode' does not accept value 'x'\n`,
    files: ['m.sock'],
  },
  { argv: ['--chardev', S], status: 1, stderr: `${P}: --chardev ${S}: chardev: no id specified\n` },
  {
    argv: ['--chardev', `${S},id=c0`, '--chardev', `${S},id=c0`],
    status: 1,
    stderr: `${P}: --chardev ${S},id=c0: duplicate yank instance\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', 'socket,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,id=c0: Unable to parse FD number \n`,
  },
  {
    argv: ['--chardev', `${S},id=c0,foo=1`],
    status: 1,
    stderr: `${P}: --chardev ${S},id=c0,foo=1: Invalid parameter 'foo'\n`,
  },
  {
    argv: ['--chardev', 'socket,path=m.sock,server=on,wait=maybe,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,path=m.sock,server=on,wait=maybe,id=c0: Parameter 'wait' expects 'on' or 'off'\n`,
  },
  {
    argv: ['--chardev', 'nope,id=c0'],
    status: 1,
    stderr: `${P}: --chardev nope,id=c0: 'nope' is not a valid char driver name\n`,
  },
  {
    argv: ['--chardev', 'id=c0'],
    status: 1,
    stderr: `${P}: --chardev id=c0: chardev: "c0" missing backend\n`,
  },
  {
    argv: ['--chardev', `${S},id=1c`],
    status: 1,
    stderr: `${P}: --chardev ${S},id=1c: Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n`,
  },
  {
    argv: ['--chardev', 'socket,path=/nonexist/m.sock,server=on,wait=off,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,path=/nonexist/m.sock,server=on,wait=off,id=c0: Failed to bind socket to /nonexist/m.sock: No such file or directory\n`,
  },
  {
    argv: ['--chardev', 'socket,path=a,host=b,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,path=a,host=b,id=c0: None or one of 'path', 'fd' or 'host' option required.\n`,
  },
  {
    argv: ['--chardev', 'socket,host=127.0.0.1,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,host=127.0.0.1,id=c0: chardev: socket: no port given\n`,
  },
  {
    argv: ['--chardev', 'socket,path=a,server=on,reconnect=1,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,path=a,server=on,reconnect=1,id=c0: 'reconnect' option is incompatible with socket in server listen mode\n`,
  },
  {
    argv: ['--chardev', 'socket,path=m.sock,server=on,nowait,id=c0,server=off'],
    status: 1,
    stderr: `${P}: --chardev socket,path=m.sock,server=on,nowait,id=c0,server=off: warning: short-form boolean option 'nowait' deprecated\nPlease use wait=off instead\n${P}: --chardev socket,path=m.sock,server=on,nowait,id=c0,server=off: 'wait' option is incompatible with socket in client connect mode\n`,
  },
  {
    argv: ['--chardev', 'socket,path=m.sock,server,nowait,id=c0', '--monitor', 'c0', '--blockdev', 'x'],
    status: 1,
    stderr: `${P}: --chardev socket,path=m.sock,server,nowait,id=c0: warning: short-form boolean option 'server' deprecated\nPlease use server=on instead\n${P}: --chardev socket,path=m.sock,server,nowait,id=c0: warning: short-form boolean option 'nowait' deprecated\nPlease use wait=off instead\n${P}: --blockdev x: Parameter 'driver' does not accept value 'x'\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', 'socket,path=m.sock,server=on,wait=off,id=c0,id=c1', '--monitor', 'c1'],
    status: 1,
    stderr: `${P}: --monitor c1: chardev "c1" not found\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', 'help'],
    status: 0,
    stdout:
      'Available chardev backend types: \n  pty\n  udp\n  memory\n  file\n  socket\n  stdio\n  ringbuf\n  null\n  parallel\n  pipe\n  mux\n  serial\n',
  },
  {
    argv: ['--object', 'foo,id=x'],
    status: 1,
    stderr: `${P}: --object foo,id=x: Parameter 'qom-type' does not accept value 'foo'\n`,
  },
  {
    argv: ['--object', 'iothread'],
    status: 1,
    stderr: `${P}: --object iothread: Parameter 'id' is missing\n`,
  },
  {
    argv: ['--object', 'iothread,id=io0', '--blockdev', 'x'],
    status: 1,
    stderr: `${P}: --blockdev x: Parameter 'driver' does not accept value 'x'\n`,
  },
  {
    argv: ['--pidfile', '/nonexist/pid'],
    status: 1,
    stderr: `${P}: cannot create PID file: Could not create '/nonexist/pid': No such file or directory\n`,
  },
  {
    argv: ['--pidfile', 'pid', '--blockdev', 'x'],
    status: 1,
    stderr: `${P}: --blockdev x: Parameter 'driver' does not accept value 'x'\n`,
  },
  {
    argv: ['--daemonize', '--pidfile'],
    status: 1,
    stderr: `${P}: option '--pidfile' requires an argument\n`,
  },
  {
    argv: [
      '--chardev',
      `${S},id=c0`,
      '--monitor',
      'c0',
      '--blockdev',
      'null-co,node-name=n0',
      '--pidfile',
      'pid',
    ],
    status: 'running',
    files: ['m.sock', 'pid'],
  },
];

const CASES_52: Case[] = [
  { argv: ['foo', '--blockdev', 'x'], status: 1, stderr: `${P}: Invalid parameter 'x'\n` },
  { argv: ['--', 'foo'], status: 1, stderr: `${P}: Unexpected argument: foo\n` },
  { argv: ['--blockdev', 'x', '-V'], status: 1, stderr: `${P}: Invalid parameter 'x'\n` },
  { argv: ['--pidfile', 'p'], status: 1, stderr: `${P}: unrecognized option '--pidfile'\n` },
  {
    argv: ['--blockdev', 'driver=null-co,node-name=a', '--blockdev', 'driver=null-co,node-name=a'],
    status: 1,
    stderr: `${P}: Duplicate node name\n`,
  },
  {
    argv: ['--chardev', 'socket,path=m.sock,server,nowait,id=c0', '--monitor', 'c0', '--blockdev', 'x'],
    status: 1,
    stderr: `${P}: Invalid parameter 'x'\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', 'socket,id=c0'],
    status: 1,
    stderr: `${P}: Exactly one of 'path', 'fd' or 'host' required\n`,
  },
  {
    argv: ['-V'],
    status: 0,
    stdout:
      /^qemu-storage-daemon version 5\.2\.0 \(Debian 1:5\.2\+dfsg-11\+deb11u3\)\nCopyright \(c\) 2003-2020 /,
  },
];

const CASES_111: Case[] = [
  {
    argv: ['--blockdev', '{"driver":"file"'],
    status: 1,
    stderr: `${P}: --blockdev {"driver":"file": 1:17: JSON parse error, premature end of input\n`,
  },
  {
    argv: ['--blockdev', '{driver:file'],
    status: 1,
    stderr: `${P}: --blockdev {driver:file: 1:2: JSON parse error, expecting key\n`,
  },
  {
    argv: ['--blockdev', '{"a":1,"a":2}'],
    status: 1,
    stderr: `${P}: --blockdev {"a":1,"a":2}: 1:12: JSON parse error, duplicate key\n`,
  },
  {
    argv: ['--chardev', `${S},id=c0`, '--monitor', 'c0', '--monitor', 'c0'],
    status: 1,
    stderr: `${P}: --monitor c0: chardev 'c0' is already in use\n`,
    files: ['m.sock'],
  },
  {
    argv: ['--chardev', 'socket,path=a,server=on,reconnect=1,id=c0'],
    status: 1,
    stderr: `${P}: --chardev socket,path=a,server=on,reconnect=1,id=c0: Invalid parameter 'reconnect'\n`,
  },
];

export const BY_PROFILE: [Profile, Case[]][] = [
  ['7.2', CASES_72],
  ['5.2', CASES_52],
  ['11.1', CASES_111],
];
