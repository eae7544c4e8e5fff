/**
 * The help texts made from the command table: the main help (`fleece-lab --help`), a group's
 * (`fleece-lab qemu`), and `fleece-lab help [COMMAND]`.
 */
import { commandHelp, optionList } from './command.ts';
import { COMMANDS, findCommand, GROUPS, MAIN_JOB } from './commands.ts';

const list = (cs: readonly { name: string; summary: string }[]) => {
  const w = Math.max(...cs.map((c) => c.name.length)) + 2;
  return cs
    .map((c) => `  ${c.name.padEnd(w)}${c.summary.split('\n').join(`\n  ${' '.repeat(w)}`)}`)
    .join('\n');
};

/** `fleece-lab --help`: the main job, the commands (a group once, by its first word), the developer ones */
export function mainHelp(): string {
  const listed: { name: string; summary: string }[] = [];
  for (const c of COMMANDS.filter((x) => !x.dev)) {
    const group = c.name.includes(' ') ? c.name.split(' ')[0] : undefined;
    if (group === undefined) listed.push(c);
    else if (!listed.some((l) => l.name === group))
      listed.push({ name: group, summary: GROUPS[group].summary });
  }
  listed.push({ name: 'help', summary: "this text, or 'fleece-lab help COMMAND'" });
  return `usage: fleece-lab [COMMAND] [OPTIONS]

With no command: the main job — every bundled proposal checked, the conformance suite on the simulator
(every profile) and on every real QEMU found on this machine; writes reports/latest/ and prints a summary.
${optionList(MAIN_JOB.options, false)}

commands:
${list(listed)}

developer commands (npm run bench, soak and fuzz run three of them):
${list(COMMANDS.filter((x) => x.dev))}

'fleece-lab COMMAND --help' describes each command.`;
}

/** `fleece-lab qemu --help`: the usage line of each command of the group, then the group's description */
export function groupHelp(group: string): string {
  const members = COMMANDS.filter((c) => !c.dev && c.name.startsWith(`${group} `));
  const usage = members.map(
    (c, i) => `${i === 0 ? 'usage: ' : '       '}fleece-lab ${c.name}${c.args ? ` ${c.args}` : ''}`,
  );
  return `${usage.join('\n')}\n\n${GROUPS[group].description}`;
}

/** `fleece-lab help [COMMAND]`: a command's help, a group's, or the main help for anything else */
export async function helpFor(words: readonly string[]): Promise<string> {
  const found = findCommand(words);
  if (found) return commandHelp(found.command);
  return words[0] !== undefined && words[0] in GROUPS ? groupHelp(words[0]) : mainHelp();
}
