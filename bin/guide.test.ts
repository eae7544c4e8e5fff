import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkProposal } from '../checks/model/check.ts';
import { PROPERTY_IDS, PROPERTY_INFO } from '../contract/properties.ts';
import { bundled } from '../contract/proposals/index.ts';

/**
 * docs/proposals.md as a designer follows it: the worked example's commands run in an empty folder in turn
 * (`npx fleece-lab` is this checkout's command line; the packed package is tested in package.test.ts), its
 * edits are applied to the file as shown, and each output block must be what the commands before it printed.
 */
const REPO = path.resolve(import.meta.dirname, '..');
const GUIDE = fs.readFileSync(path.join(REPO, 'docs', 'proposals.md'), 'utf8');
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64']).status === 0;

/** the part of the guide under a `## ` heading */
function section(title: string): string {
  const start = GUIDE.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/proposals.md has no section '${title}'`);
  const end = GUIDE.indexOf('\n## ', start + 1);
  return GUIDE.slice(start, end < 0 ? undefined : end);
}

function blocks(text: string): { lang: string; body: string }[] {
  return [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], body: m[2] }));
}

/** a diff block applied to the file it names: its context and '-' lines must be there once, in a row */
function applyDiff(dir: string, diff: string): void {
  const lines = diff.replace(/\n$/, '').split('\n');
  const file = lines.find((l) => l.startsWith('+++ '))?.replace(/^\+\+\+ (b\/)?/, '');
  if (!file) throw new Error('a diff block names no file (+++ b/FILE)');
  const body = lines.filter((l) => !l.startsWith('--- ') && !l.startsWith('+++ '));
  const before = body.filter((l) => !l.startsWith('+')).map((l) => l.slice(1));
  const after = body.filter((l) => !l.startsWith('-')).map((l) => l.slice(1));
  const text = fs.readFileSync(path.join(dir, file), 'utf8');
  const old = `${before.join('\n')}\n`;
  expect(text.split(old).length - 1, `the diff's old lines in ${file}`).toBe(1);
  fs.writeFileSync(path.join(dir, file), text.replace(old, `${after.join('\n')}\n`));
}

/** times differ from machine to machine */
const untimed = (l: string) =>
  l.replace(/in \d+(\.\d+)? s \(\d+\/s\)/, 'in T').replace(/found in \d+(\.\d+)? s/, 'found in T');

/**
 * Every line of the block is printed, in this order, the lines next to each other; a line `…` stands for
 * any lines, and `…` inside a line for any text.
 */
function expectPrinted(out: string, block: string): void {
  const got = out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(untimed);
  let at = 0;
  let gap = true;
  for (const want of block.split('\n').filter((l) => l.trim() !== '')) {
    if (want.trim() === '…') {
      gap = true;
      continue;
    }
    const re = new RegExp(
      `^${untimed(want)
        .split('…')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    const i = got.findIndex((l, k) => k >= at && re.test(l));
    expect(
      i >= 0 && (gap || i === at),
      `printed:\n${got.join('\n')}\n\nwanted, after line ${at}: ${want}`,
    ).toBe(true);
    at = i + 1;
    gap = false;
  }
}

/** the properties a fleecing API without checkpoints cannot express: their counts come from checkpoint-chains */
const CHECKPOINT_PROPERTIES = new Set<string>([
  'incremental-complete',
  'incremental-tight',
  'checkpoint-survives-restart',
  'crash-detected',
  'checkpoint-delete-merges',
  'independent-chains',
]);

describe('docs/proposals.md', () => {
  it.skipIf(!hasQemu)(
    'the worked example runs as written: new, check, a broken teardown, its counterexample on real QEMU, the fix',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-guide-'));
      try {
        let out = '';
        for (const b of blocks(section('A worked example'))) {
          if (b.lang === 'sh') {
            out = '';
            for (const line of b.body.split('\n').filter((l) => l.trim() !== '')) {
              const [cmd, comment] = line.split(/\s+#\s+/);
              const code = Number(/^exits (\d+)/.exec(comment ?? '')?.[1] ?? 0);
              const argv = cmd.replace(
                /^npx fleece-lab\b/,
                `"${process.execPath}" "${REPO}/bin/fleece-lab.js"`,
              );
              const r = spawnSync('sh', ['-c', argv], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
              out += r.stdout + r.stderr;
              expect(r.status, `${cmd}\n${r.stdout}${r.stderr}`).toBe(code);
            }
          } else if (b.lang === 'diff') applyDiff(dir, b.body);
          else if (b.lang === 'text') expectPrinted(out, b.body);
          else throw new Error(`a ${b.lang} block in the worked example: sh, diff and text are run`);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    240_000,
  );

  it('describes every property of the catalogue as the catalogue does', () => {
    const table = section('The properties');
    for (const p of PROPERTY_IDS) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${p}\` |`));
      expect(row, p).toBeDefined();
      expect(row).toContain(`| ${PROPERTY_INFO[p].text} | ${PROPERTY_INFO[p].exercised} |`);
    }
  });

  it('gives the exercised counts the checker finds for job-ids (blockcopy-2012 for pivot-identical, checkpoint-chains for checkpoints)', async () => {
    const table = section('The properties');
    const opts = { runs: 300, seed: 1, profile: '7.2', domain: 'vm' } as const;
    const [jobIds, blockcopy, chains] = await Promise.all(
      ['job-ids', 'blockcopy-2012', 'checkpoint-chains'].map((n) => checkProposal(bundled(n)!, opts)),
    );
    for (const p of PROPERTY_IDS) {
      const from = p === 'pivot-identical' ? blockcopy : CHECKPOINT_PROPERTIES.has(p) ? chains : jobIds;
      const v = from.verdicts.find((x) => x.property === p)!;
      const row = table.split('\n').find((l) => l.startsWith(`| \`${p}\` |`))!;
      expect(row.split('|').at(-2)?.trim(), p).toBe(String(v.exercised));
    }
  }, 120_000);
});
