/**
 * The README's tour, as a test reads it (bin/readme-tour.test.ts runs it in order, as a new user would).
 *
 * A tour block is a fenced code block whose opening fence follows a marker line (blank lines between are
 * allowed):
 *
 *   <!-- tour: sim -->             the commands need no real QEMU
 *   <!-- tour: real 7.2 -->        they need real QEMU 7.2 (PATH, or a root: `fleece-lab qemu list`)
 *   <!-- tour: real 11.1 7.2 -->   they need each of these versions (the block is skipped without them)
 *
 * In the block, a line `$ COMMAND` is a command (a line ending in `\` goes on on the next line); the lines
 * after it, up to the next `$`, are the output shown for it. Blocks run in the order the README gives them,
 * every command of a block in its order, in one scratch folder shared by the whole tour.
 */
export interface TourCommand {
  command: string;
  expected: string[];
}

export interface TourBlock {
  mode: 'sim' | 'real';
  /** the real QEMU versions a `real` block needs */
  versions: string[];
  /** the README line of the marker (1-based), for messages */
  line: number;
  commands: TourCommand[];
}

const MARKER = /^<!--\s*tour:\s*(sim|real((?:\s+\d+\.\d+)+))\s*-->\s*$/;

export function tourBlocks(readme: string): TourBlock[] {
  const lines = readme.split('\n');
  const blocks: TourBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i].trim());
    if (!m) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() === '') j++;
    if (!/^```/.test(lines[j] ?? ''))
      throw new Error(`README line ${i + 1}: a tour marker must be followed by a fenced code block`);
    const body: string[] = [];
    for (j++; j < lines.length && !/^```\s*$/.test(lines[j]); j++) body.push(lines[j]);
    const commands: TourCommand[] = [];
    for (let k = 0; k < body.length; k++) {
      const l = body[k];
      if (l.startsWith('$ ')) {
        let command = l.slice(2);
        while (command.endsWith('\\') && k + 1 < body.length)
          command = `${command.slice(0, -1).trimEnd()} ${body[++k].trim()}`;
        commands.push({ command: command.trim(), expected: [] });
      } else if (commands.length > 0) commands[commands.length - 1].expected.push(l);
      else throw new Error(`README line ${i + 1}: a tour block starts with a '$ ' command`);
    }
    if (commands.length === 0) throw new Error(`README line ${i + 1}: a tour block without a '$ ' command`);
    blocks.push({
      mode: m[1] === 'sim' ? 'sim' : 'real',
      versions: (m[2] ?? '')
        .trim()
        .split(/\s+/)
        .filter((v) => v !== ''),
      line: i + 1,
      commands,
    });
    i = j;
  }
  return blocks;
}

const ELLIPSIS = /\.\.\.|…/g;

/**
 * A shown line as a pattern of its structure: every number may be another (timings, counts, paths of a
 * shrunk run), `...` or `…` stands for anything, a run of spaces between columns may be wider or narrower,
 * the rest is literal. A line that is only `...` is dropped.
 */
export function linePattern(shown: string): RegExp | undefined {
  const t = shown.trimEnd();
  if (t.trim() === '' || t.trim() === '...' || t.trim() === '…') return undefined;
  // hex bytes first (0x20: any byte), then decimal numbers with their dots (2.3, 7.2.22: any number)
  const literal = (s: string) =>
    s
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/0x[0-9a-fA-F]+/g, '\u0000')
      .replace(/\d+(?:\\\.\d+)*/g, '\\d+(?:\\.\\d+)*')
      .replace(/\u0000/g, '0x[0-9a-fA-F]+');
  // columns: a run of two or more spaces is any run of spaces (widths follow the longest entry)
  const pattern = t.split(ELLIPSIS).map(literal).join('.*').replace(/ {2,}/g, ' {2,}');
  return new RegExp(`^${pattern}\\s*$`);
}

/**
 * The shown lines that the output lacks, in order: each shown line must match a line of the output after
 * the one the line before matched. '' lines and `...` are skipped.
 */
export function missingLines(shown: string[], output: string): string[] {
  const out = output.split('\n');
  let at = 0;
  const missing: string[] = [];
  for (const s of shown) {
    const p = linePattern(s);
    if (!p) continue;
    const k = out.findIndex((l, i) => i >= at && p.test(l));
    if (k < 0) missing.push(s);
    else at = k + 1;
  }
  return missing;
}
