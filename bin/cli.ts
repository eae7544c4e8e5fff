/**
 * `fleece-lab [COMMAND] [OPTIONS]`: dispatches on the command table (bin/commands.ts). bin/fleece-lab.js
 * hands it the process's arguments; nothing else in the project reads process.argv.
 */
import { type AnyCommand, argsOf, commandHelp, type Options, type Parsed, wantsHelp } from './command.ts';
import { findCommand, GROUPS, MAIN_JOB } from './commands.ts';
import { groupHelp, helpFor, mainHelp } from './help.ts';

export interface Outcome {
  code: number;
  /** the command that ran, if any */
  command?: AnyCommand;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** run a command: its help, a usage error (one line, exit 2) or a failure (one line, its status) */
async function runCommand(cmd: AnyCommand, argv: readonly string[]): Promise<number> {
  const { prefix, status, helpOnUsageError } = cmd.errors ?? { prefix: 'fleece-lab', status: 2 };
  if (!cmd.raw && wantsHelp(argv)) {
    console.log(await commandHelp(cmd));
    return 0;
  }
  let args: Parsed<Options>;
  try {
    args = argsOf(cmd, argv);
  } catch (e) {
    console.error(`${prefix}: ${message(e)}${helpOnUsageError ? `\n\n${await commandHelp(cmd)}` : ''}`);
    return 2;
  }
  try {
    return await cmd.run(args);
  } catch (e) {
    console.error(`${prefix}: ${message(e)}`);
    return status;
  }
}

export async function dispatch(argv: readonly string[]): Promise<Outcome> {
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('--')) {
    if (wantsHelp(argv)) {
      console.log(mainHelp());
      return { code: 0 };
    }
    return { code: await runCommand(MAIN_JOB, argv), command: MAIN_JOB };
  }
  if (first === 'help') {
    console.log(await helpFor(rest));
    return { code: 0 };
  }
  const found = findCommand(argv);
  if (found) return { code: await runCommand(found.command, found.rest), command: found.command };
  if (first in GROUPS) {
    // `fleece-lab qemu` alone, or with a word that is not one of its commands
    console.log(groupHelp(first));
    return { code: wantsHelp(rest) ? 0 : 2 };
  }
  console.error(`fleece-lab: unknown command '${first}'\n\n${mainHelp()}`);
  return { code: 2 };
}

export async function main(argv: readonly string[]): Promise<number> {
  return (await dispatch(argv)).code;
}

/** The process: its exit status is the command's; the commands that always ended the process do so. */
export async function runProcess(argv: readonly string[]): Promise<void> {
  let outcome: Outcome;
  try {
    outcome = await dispatch(argv);
  } catch (e) {
    console.error(`fleece-lab: ${message(e)}`);
    outcome = { code: 2 };
  }
  process.exitCode = outcome.code;
  const after = outcome.command?.exitAfterMs;
  if (after !== undefined) setTimeout(() => process.exit(outcome.code), after).unref();
}
