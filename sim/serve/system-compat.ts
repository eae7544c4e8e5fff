/**
 * The legacy spellings qemu-system-x86_64 still takes: `-qmp unix:PATH,server=on` (qemu_chr_parse_compat),
 * `-global DRIVER.PROP=VALUE` (qemu_global_option) and `-uuid` (qemu_uuid_parse).
 */
import { QemuOptError } from './keyval.ts';
import { nameValue } from './qemu-option.ts';
import type { QemuOpts, QemuOptsList } from './qemu-opts.ts';

/** qemu_opts_do_parse(opts, params, firstname): no id handling, no warnings, no type checks but the list's */
function doParse(list: QemuOptsList, opts: QemuOpts, params: string, firstname: string | undefined): void {
  let first = firstname;
  for (let p = 0; p < params.length; ) {
    const nv = nameValue(params, p, first);
    first = undefined;
    p = nv.end;
    if (nv.name === 'id') continue;
    if (list.def.desc && !list.def.desc[nv.name]) throw new QemuOptError(`Invalid parameter '${nv.name}'`);
    opts.opts.push([nv.name, nv.value]);
  }
}

/**
 * qemu_chr_parse_compat(label, filename, permit_mux_mon=true): the chardev QemuOpts a -qmp/-monitor
 * argument stands for. Returns the errors QEMU reports (each one line) when it is not one.
 */
export function chrParseCompat(
  chardevs: QemuOptsList,
  label: string,
  filename: string,
  loc: string,
): { opts: QemuOpts } | { errors: string[] } {
  let opts: QemuOpts;
  try {
    opts = chardevs.create(label, loc);
  } catch (e) {
    if (e instanceof QemuOptError) return { errors: [e.message] };
    throw e;
  }
  const set = (k: string, v: string) => opts.opts.push([k, v]);
  const drop = (errors: string[]) => {
    chardevs.all.splice(chardevs.all.indexOf(opts), 1);
    return { errors };
  };
  let f = filename;
  if (f.startsWith('mon:')) {
    f = f.slice(4);
    set('mux', 'on');
    if (f === 'stdio') set('signal', 'off');
  }
  if (['null', 'pty', 'msmouse', 'wctablet', 'braille', 'testdev', 'stdio'].includes(f)) {
    set('backend', f);
    return { opts };
  }
  if (f.startsWith('vc')) {
    set('backend', 'vc');
    return { opts };
  }
  if (f === 'con:') {
    set('backend', 'console');
    return { opts };
  }
  if (f.startsWith('COM')) {
    set('backend', 'serial');
    set('path', f);
    return { opts };
  }
  for (const [prefix, backend] of [
    ['file:', 'file'],
    ['pipe:', 'pipe'],
  ] as const) {
    if (f.startsWith(prefix)) {
      set('backend', backend);
      set('path', f.slice(prefix.length));
      return { opts };
    }
  }
  const tcp = /^(tcp|telnet|tn3270|websocket):/.exec(f);
  if (tcp) {
    const p = f.slice(tcp[0].length);
    // sscanf "%64[^:]:%32[^,]%n", else ":%32[^,]%n"
    const full = /^([^:]{1,64}):([^,]{1,32})/.exec(p);
    const portOnly = full ? undefined : /^:([^,]{1,32})/.exec(p);
    const m = full ?? portOnly;
    if (!m) return drop([`'${filename}' is not a valid char driver`]);
    const host = full ? full[1] : '';
    const port = full ? full[2] : portOnly![1];
    set('backend', 'socket');
    set('host', host);
    set('port', port);
    const rest = p.slice(m[0].length);
    if (rest.startsWith(',')) {
      try {
        doParse(chardevs, opts, rest.slice(1), undefined);
      } catch (e) {
        if (e instanceof QemuOptError) return drop([e.message]);
        throw e;
      }
    }
    if (tcp[1] !== 'tcp') set(tcp[1], 'on');
    return { opts };
  }
  if (f.startsWith('unix:')) {
    set('backend', 'socket');
    try {
      doParse(chardevs, opts, f.slice(5), 'path');
    } catch (e) {
      if (e instanceof QemuOptError) return drop([e.message]);
      throw e;
    }
    return { opts };
  }
  if (f.startsWith('/dev/parport') || f.startsWith('/dev/ppi')) {
    set('backend', 'parallel');
    set('path', f);
    return { opts };
  }
  if (f.startsWith('/dev/')) {
    set('backend', 'serial');
    set('path', f);
    return { opts };
  }
  return drop([`'${filename}' is not a valid char driver`]);
}

/**
 * qemu_global_option: "DRIVER.PROP=VALUE" (sscanf "%63[^.=].%63[^=]%n" and a '=' after), else the
 * -global QemuOpts syntax (driver=,property=,value=).
 */
export function parseGlobal(
  globals: QemuOptsList,
  arg: string,
  loc: string,
  warn: (text: string) => void,
): QemuOpts {
  const m = /^([^.=]{1,63})\.([^=]{1,63})=/.exec(arg);
  if (m) {
    const o = globals.create(undefined, loc);
    o.opts.push(['driver', m[1]], ['property', m[2]], ['value', arg.slice(m[0].length)]);
    return o;
  }
  return globals.parse(arg, false, loc, warn);
}

/** qemu_uuid_parse: 8-4-4-4-12 hex digits, exactly */
export function uuidValid(s: string): boolean {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
}
