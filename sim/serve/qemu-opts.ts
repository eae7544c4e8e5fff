/**
 * QemuOptsList and QemuOpts (util/qemu-option.c) as qemu-system-x86_64's command line uses them: option
 * lists with an implied first name, merged lists (-name, -m, -rtc: one QemuOpts that later options add
 * to), lists that accept any name (-device, -accel, -object), ids checked and unique per list, the
 * short-form boolean warnings of 6.0+, `help` printing the list's options, and each type's parse error.
 */
import type { Profile } from '../../contract/versions.ts';
import { strtoInt, strtosz } from './cutils.ts';
import { QemuOptError } from './keyval.ts';
import { nameValue, type OptType } from './qemu-option.ts';

export interface OptDesc {
  type: OptType;
  help?: string;
}

export interface QemuOptsListDef {
  /** list->name: in "Duplicate ID 'x' for mon" and the help caption */
  name: string;
  implied?: string;
  /** merge_lists: every -opt adds to the one QemuOpts of the list (ids refused) */
  merge?: boolean;
  /** undefined: the list accepts any name (its users check them later) */
  desc?: Record<string, OptDesc>;
}

/** `--opt help`: what qemu_opts_print_help printed, and exit(1) from the caller */
export class QemuOptsHelp extends Error {
  constructor(readonly stdout: string) {
    super('help');
  }
}

export class QemuOpts {
  /** in the order given; a later value of a name wins in lookups (qemu_opt_find searches backwards) */
  readonly opts: [string, string][] = [];

  constructor(
    readonly id: string | undefined,
    /** the command-line location of the option that made it ("-name foo") */
    public loc: string,
  ) {}

  get(name: string): string | undefined {
    for (let i = this.opts.length - 1; i >= 0; i--) if (this.opts[i][0] === name) return this.opts[i][1];
    return undefined;
  }

  bool(name: string, dflt: boolean): boolean {
    const v = this.get(name);
    return v === undefined ? dflt : ['on', 'yes', 'true', 'y'].includes(v);
  }

  number(name: string): bigint | undefined {
    const v = this.get(name);
    return v === undefined ? undefined : strtoInt(v, true);
  }
}

const TYPE_WORD: Record<OptType, string> = {
  bool: 'bool (on/off)',
  num: 'num',
  size: 'size',
  str: 'str',
};

/** qemu_opts_print_help(list, true) */
export function printHelp(def: QemuOptsListDef): string {
  const lines = Object.entries(def.desc ?? {}).map(([name, d]) => {
    let s = `  ${name}=<${TYPE_WORD[d.type]}>`;
    if (d.help) s = `${s.padEnd(24)} - ${d.help}`;
    return s;
  });
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (lines.length === 0) return `There are no options for ${def.name}.\n`;
  return `${def.name} options:\n${lines.map((l) => `${l}\n`).join('')}`;
}

const SIZE_HINT =
  'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.';

/** qemu_opt_parse: a value of the description's type, or QEMU's error */
export function checkOptValue(profile: Profile, name: string, type: OptType, value: string): void {
  if (type === 'bool') {
    if (!['on', 'yes', 'true', 'y', 'off', 'no', 'false', 'n'].includes(value))
      throw new QemuOptError(`Parameter '${name}' expects 'on' or 'off'`);
  } else if (type === 'num') {
    if (strtoInt(value, true) === undefined) throw new QemuOptError(`Parameter '${name}' expects a number`);
  } else if (type === 'size') {
    if (strtosz(value) !== undefined) return;
    // qemu_strtosz's ERANGE: beyond 2^64, and (but on 7.2) a negative number
    const digits = /^[ \t]*([0-9]+|[0-9]+\.[0-9]*[bBkKmMgGtTpPeE])[bBkKmMgGtTpPeE]?$/.test(value);
    const negative = /^[ \t]*-[0-9]/.test(value) && profile !== '7.2';
    if (digits || negative)
      throw new QemuOptError(`Value '${value}' is out of range for parameter '${name}'`);
    throw new QemuOptError(`Parameter '${name}' expects a non-negative number below 2^64\n${SIZE_HINT}`);
  }
}

function idWellformed(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9\-._]*$/.test(id);
}

export class QemuOptsList {
  readonly all: QemuOpts[] = [];

  constructor(
    readonly def: QemuOptsListDef,
    private readonly profile: Profile,
  ) {}

  get name(): string {
    return this.def.name;
  }

  find(id: string | undefined): QemuOpts | undefined {
    return this.all.find((o) => o.id === id);
  }

  /** qemu_opts_create(list, id, fail_if_exists = !merge_lists) */
  create(id: string | undefined, loc: string): QemuOpts {
    if (this.def.merge) {
      // 5.2 took an id on a merged list, and ignored it
      if (id !== undefined && this.profile !== '5.2') throw new QemuOptError("Invalid parameter 'id'");
      const o = this.find(undefined);
      if (o) return o;
    } else if (id !== undefined) {
      if (!idWellformed(id))
        throw new QemuOptError(
          "Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
        );
      if (this.find(id)) throw new QemuOptError(`Duplicate ID '${id}' for ${this.def.name}`);
    }
    const o = new QemuOpts(id, loc);
    this.all.push(o);
    return o;
  }

  /**
   * qemu_opts_parse_noisily(list, params, permit_abbrev): the id first, then each option in order.
   * Warnings go to `warn` as they are found; help throws QemuOptsHelp, a bad option QemuOptError.
   */
  parse(params: string, permitAbbrev: boolean, loc: string, warn: (text: string) => void): QemuOpts {
    let id: string | undefined;
    for (let p = 0; p < params.length; ) {
      const nv = nameValue(params, p, undefined);
      if (nv.name === 'id') {
        id = nv.value;
        break;
      }
      p = nv.end;
    }
    const opts = this.create(id, loc);
    const mark = opts.opts.length;
    try {
      this.parseInto(opts, params, permitAbbrev, warn);
    } catch (e) {
      // qemu_opts_del: a merged list loses what it had, too (the caller exits anyway)
      opts.opts.splice(mark);
      if (mark === 0) this.all.splice(this.all.indexOf(opts), 1);
      throw e;
    }
    return opts;
  }

  private parseInto(opts: QemuOpts, params: string, permitAbbrev: boolean, warn: (t: string) => void): void {
    const warnOnFlag = this.profile !== '5.2';
    const help = this.def.desc !== undefined;
    let first = permitAbbrev ? this.def.implied : undefined;
    for (let p = 0; p < params.length; ) {
      const nv = nameValue(params, p, first);
      first = undefined;
      p = nv.end;
      const isHelp = nv.flag === 'on' && (nv.name === 'help' || nv.name === '?');
      if (isHelp && help) throw new QemuOptsHelp(printHelp(this.def));
      if (nv.flag && !isHelp && warnOnFlag) {
        const prefix = nv.flag === 'off' ? 'no' : '';
        const advice =
          nv.name === 'delay'
            ? `Please use nodelay=${prefix ? 'on' : 'off'} instead`
            : `Please use ${nv.name}=${nv.value} instead`;
        warn(`warning: short-form boolean option '${prefix}${nv.name}' deprecated\n${advice}`);
      }
      if (nv.name === 'id') continue;
      const d = this.def.desc?.[nv.name];
      if (this.def.desc && !d) throw new QemuOptError(`Invalid parameter '${nv.name}'`);
      if (d) checkOptValue(this.profile, nv.name, d.type, nv.value);
      opts.opts.push([nv.name, nv.value]);
    }
  }
}
