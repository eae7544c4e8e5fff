/**
 * What an entry of the command table (bin/commands.ts) is, how its command line is parsed and how its
 * help is made from it. Parsing is node:util's parseArgs: its one-line messages ("Unknown option '--x'")
 * are the ones the commands have always printed, and it adds no dependency.
 *
 * This module and the table load nothing but node:util: `fleece-lab serve` must start fast, so a command's
 * implementation is imported only when that command runs.
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  default?: string | boolean;
  multiple?: boolean;
  /** the value's name in the usage line and the option list: `--jobs N` */
  arg?: string;
  help: string;
  /** shown without brackets in the usage line (the command itself says when it is missing) */
  required?: boolean;
}

export type Options = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? S['multiple'] extends true
    ? boolean[]
    : boolean
  : S['multiple'] extends true
    ? string[]
    : string;

/** the parsed values: an option with a default always has a value */
export type Values<O extends Options> = {
  [K in keyof O]: O[K] extends { default: string | boolean } ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

export interface Parsed<O extends Options> {
  values: Values<O>;
  positionals: string[];
  /** the options written on the command line (not filled in from a default) */
  given: ReadonlySet<string>;
  /** the arguments after the command's name, as given */
  argv: readonly string[];
  /** the command's help (for a usage error that shows it) */
  help: () => Promise<string>;
}

export interface Command<O extends Options = Options> {
  /** one or two words: `conform`, `qemu install` */
  name: string;
  /** one line, for the command list */
  summary: string;
  /** the positional arguments in the usage line (`A.json B.json`); without it a positional is an error */
  args?: string;
  /** the usage lines, each after `fleece-lab ` (when the one made from the options would not say it:
   * a command with two forms) */
  usage?: string[];
  /** the text after the usage line(s) */
  description?: string;
  options: O;
  /** a developer command: listed apart in the help */
  dev?: boolean;
  /** the command reads its own command line (serve: qemu-storage-daemon's options, and its --help) */
  raw?: boolean;
  /** unknown options are ignored (the main job always did) */
  lenient?: boolean;
  /** how a failure is printed: `PREFIX: message`, exit STATUS (default `fleece-lab`, 2) */
  errors?: { prefix: string; status: number; helpOnUsageError?: boolean };
  /** when the process is run for this command: end it this long after the command returns, even if
   * sockets or timers are left (runs that drive many processes and always exited this way) */
  exitAfterMs?: number;
  /** help that needs modules the table does not load (loaded only when help is asked for) */
  moreHelp?: () => Promise<string>;
  run(p: Parsed<O>): Promise<number>;
}

/** the table's entries keep their own option types; the table itself is a list of any of them */
// biome-ignore lint/suspicious/noExplicitAny: each entry's run is checked against its own options where it is defined
export type AnyCommand = Command<any>;

export function defineCommand<const O extends Options>(c: Command<O>): Command<O> {
  return c;
}

/** Parse a command's arguments; throws parseArgs' own one-line errors (ERR_PARSE_ARGS_*). */
export function parseCommand<O extends Options>(cmd: Command<O>, argv: readonly string[]): Parsed<O> {
  const options = Object.fromEntries(
    Object.entries(cmd.options).map(([k, o]) => [
      k,
      {
        type: o.type,
        ...(o.short ? { short: o.short } : {}),
        ...(o.multiple ? { multiple: true } : {}),
        ...(o.default !== undefined ? { default: o.default } : {}),
      },
    ]),
  );
  const r = parseArgs({
    args: [...argv],
    // biome-ignore lint/suspicious/noExplicitAny: the spec is built from OptionSpec, whose fields parseArgs takes
    options: options as any,
    allowPositionals: cmd.args !== undefined || cmd.lenient === true,
    strict: cmd.lenient !== true,
    tokens: true,
  });
  const given = new Set(r.tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
  return {
    values: r.values as Values<O>,
    positionals: r.positionals,
    given,
    argv,
    help: () => commandHelp(cmd),
  };
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * A command run from its arguments, as the command line runs it: `--help` (or `-h`) anywhere prints its
 * help; a command line parseArgs rejects throws its one-line error.
 */
export async function runArgv(cmd: AnyCommand, argv: readonly string[]): Promise<number> {
  if (!cmd.raw && wantsHelp(argv)) {
    console.log(await commandHelp(cmd));
    return 0;
  }
  return cmd.run(argsOf(cmd, argv));
}

/** a raw command (serve) gets its arguments as they are */
export function argsOf(cmd: AnyCommand, argv: readonly string[]): Parsed<Options> {
  return cmd.raw
    ? { values: {}, positionals: [], given: new Set(), argv, help: () => commandHelp(cmd) }
    : parseCommand(cmd, argv);
}

const WIDTH = 110;

function optionWord(name: string, o: OptionSpec): string {
  return `--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
}

/** `usage: fleece-lab NAME ARGS [--opt V] ...`, wrapped under the first option */
export function usageLine(cmd: AnyCommand, lead = 'usage: '): string {
  const head = `${lead}fleece-lab ${cmd.name}${cmd.args ? ` ${cmd.args}` : ''}`;
  const words = Object.entries(cmd.options as Options).map(([k, o]) =>
    o.required ? optionWord(k, o) : `[${optionWord(k, o)}]`,
  );
  const lines = [head];
  const indent = ' '.repeat(`${lead}fleece-lab ${cmd.name} `.length);
  for (const w of words) {
    const last = lines.length - 1;
    if (lines[last].length + 1 + w.length > WIDTH && lines[last].trim() !== '') lines.push(indent + w);
    else lines[last] += `${lines[last].endsWith(' ') ? '' : ' '}${w}`;
  }
  return lines.join('\n');
}

/** a line of help cut into lines of at most `width`, at spaces */
function wrap(line: string, width: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur !== '' && cur.length + 1 + word.length > width) {
      out.push(cur);
      cur = word;
    } else cur = cur === '' ? word : `${cur} ${word}`;
  }
  return [...out, cur];
}

/** the option list: each option, its help (wrapped, indented under itself) and default */
export function optionList(options: Options, withHelp: boolean): string {
  const rows = Object.entries(options).map(([k, o]) => {
    const left = `${o.short ? `-${o.short}, ` : ''}${optionWord(k, o)}`;
    const dflt = typeof o.default === 'string' && o.default !== '' ? ` (default ${o.default})` : '';
    return [left, `${o.help}${dflt}`] as const;
  });
  if (withHelp) rows.push(['-h, --help', 'this text']);
  const w = Math.min(Math.max(...rows.map(([l]) => l.length)) + 2, 26);
  const indent = `\n  ${' '.repeat(w)}`;
  return rows
    .map(([l, h]) => {
      const pad = l.length + 2 > w ? indent : ' '.repeat(w - l.length);
      return `  ${l}${pad}${h
        .split('\n')
        .flatMap((x) => wrap(x, WIDTH - 2 - w))
        .join(indent)}`;
    })
    .join('\n');
}

/** `fleece-lab CMD --help`: usage line(s), description, options */
export async function commandHelp(cmd: AnyCommand): Promise<string> {
  const usage = cmd.usage
    ? cmd.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}fleece-lab ${u}`).join('\n')
    : usageLine(cmd);
  const parts = [usage];
  if (cmd.description) parts.push(cmd.description);
  if (cmd.moreHelp) parts.push(await cmd.moreHelp());
  // serve's own --help is qemu-storage-daemon's, so -h is not listed for it
  if (Object.keys(cmd.options).length > 0) parts.push(`options:\n${optionList(cmd.options, !cmd.raw)}`);
  return parts.join('\n\n');
}
