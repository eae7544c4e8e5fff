/** QemuOpts (util/qemu-option.c), which `--chardev` still uses; pure. */
import { strtoInt } from './cutils.ts';
import { QemuOptError } from './keyval.ts';

export type OptType = 'bool' | 'num' | 'size' | 'str';

export interface QemuOptsResult {
  id: string | undefined;
  /** options in the order given (the last of a repeated name wins in lookups) */
  opts: [string, string][];
  warnings: string[];
  help: boolean;
}

function idWellformed(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9\-._]*$/.test(id);
}

/** get_opt_value: up to a single ',' with ",," as an escaped comma */
export function optValue(s: string, p: number): { value: string; end: number } {
  let v = '';
  while (p < s.length) {
    if (s[p] === ',') {
      if (s[p + 1] === ',') {
        v += ',';
        p += 2;
        continue;
      }
      break;
    }
    v += s[p++];
  }
  return { value: v, end: p };
}

export function nameValue(
  s: string,
  p: number,
  firstname: string | undefined,
): { name: string; value: string; end: number; flag: 'on' | 'off' | undefined } {
  const rest = s.slice(p);
  let len = rest.search(/[=,]/);
  if (len < 0) len = rest.length;
  let name: string;
  let value: string;
  let end: number;
  let flag: 'on' | 'off' | undefined;
  if (rest[len] !== '=') {
    if (firstname) {
      name = firstname;
      const v = optValue(s, p);
      value = v.value;
      end = v.end;
    } else {
      name = rest.slice(0, len);
      end = p + len;
      if (name.startsWith('no')) {
        name = name.slice(2);
        value = 'off';
        flag = 'off';
      } else {
        value = 'on';
        flag = 'on';
      }
    }
  } else {
    name = rest.slice(0, len);
    const v = optValue(s, p + len + 1);
    value = v.value;
    end = v.end;
  }
  if (s[end] === ',') end++;
  return { name, value, end, flag };
}

/**
 * qemu_opts_parse_noisily(list, params, permit_abbrev=true): the id first (checked before anything
 * else), then each option in order against `desc`, with 6.0+'s warnings for short-form booleans.
 */
export function qemuOptsParse(
  params: string,
  impliedName: string,
  desc: Record<string, OptType>,
  warnOnFlag: boolean,
): QemuOptsResult {
  let id: string | undefined;
  for (let p = 0; p < params.length; ) {
    const nv = nameValue(params, p, undefined);
    if (nv.name === 'id') {
      id = nv.value;
      break;
    }
    p = nv.end;
  }
  if (id !== undefined && !idWellformed(id)) {
    throw new QemuOptError(
      "Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
    );
  }
  const opts: [string, string][] = [];
  const warnings: string[] = [];
  let first: string | undefined = impliedName;
  for (let p = 0; p < params.length; ) {
    const nv = nameValue(params, p, first);
    first = undefined;
    p = nv.end;
    if (nv.flag && (nv.name === 'help' || nv.name === '?')) return { id, opts, warnings, help: true };
    if (nv.flag && warnOnFlag) {
      const prefix = nv.flag === 'off' ? 'no' : '';
      const advice =
        nv.name === 'delay'
          ? `Please use nodelay=${prefix ? 'on' : 'off'} instead`
          : `Please use ${nv.name}=${nv.value} instead`;
      warnings.push(`short-form boolean option '${prefix}${nv.name}' deprecated\n${advice}`);
    }
    if (nv.name === 'id') continue;
    const type = desc[nv.name];
    if (!type) throw Object.assign(new QemuOptError(`Invalid parameter '${nv.name}'`), { warnings });
    if (type === 'bool' && !['on', 'yes', 'true', 'y', 'off', 'no', 'false', 'n'].includes(nv.value)) {
      throw Object.assign(new QemuOptError(`Parameter '${nv.name}' expects 'on' or 'off'`), { warnings });
    }
    if (type === 'num') {
      const v = strtoInt(nv.value, true);
      if (v === undefined)
        throw Object.assign(new QemuOptError(`Parameter '${nv.name}' expects a number`), { warnings });
    }
    opts.push([nv.name, nv.value]);
  }
  return { id, opts, warnings, help: false };
}

export function optGet(r: Pick<QemuOptsResult, 'opts'>, name: string): string | undefined {
  let v: string | undefined;
  for (const [k, x] of r.opts) if (k === name) v = x;
  return v;
}

export function optBool(r: Pick<QemuOptsResult, 'opts'>, name: string, dflt: boolean): boolean {
  const v = optGet(r, name);
  if (v === undefined) return dflt;
  return ['on', 'yes', 'true', 'y'].includes(v);
}
