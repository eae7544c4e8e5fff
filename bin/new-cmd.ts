import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED, bundled } from '../contract/proposals/index.ts';
import { NAME_RE, proposalTemplate, rewriteBundled } from '../contract/proposals/template.ts';

/**
 * `fleece-lab new NAME [--from PROPOSAL]`: NAME.ts, a proposal file importing from 'fleece-lab' (NAME may
 * carry a folder and the .ts). An existing file is never overwritten.
 */
export function cmdNew(values: { from?: string }, positionals: string[]): number {
  const arg = positionals[0];
  if (!arg) throw new Error('new: name the proposal (fleece-lab new NAME [--from PROPOSAL])');
  const file = path.resolve(arg.endsWith('.ts') ? arg : `${arg}.ts`);
  const name = path.basename(file, '.ts');
  if (!NAME_RE.test(name))
    throw new Error(`new: '${name}': a proposal name is lower-case letters, digits, dots and dashes`);
  if (fs.existsSync(file)) throw new Error(`new: ${arg.endsWith('.ts') ? arg : `${arg}.ts`} exists already`);
  let text: string;
  if (values.from === undefined) text = proposalTemplate(name);
  else {
    if (!bundled(values.from))
      throw new Error(
        `new: --from ${values.from}: no bundled proposal of that name (bundled: ${BUNDLED.map((p) => p.name).join(', ')})`,
      );
    const source = fs.readFileSync(
      fileURLToPath(new URL(`../contract/proposals/${values.from}.ts`, import.meta.url)),
      'utf8',
    );
    text = rewriteBundled(source, values.from, name);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  const shown = path.relative(process.cwd(), file) || file;
  console.log(
    `wrote ${shown}${values.from ? ` (from ${values.from})` : ''}; check it with: npx fleece-lab check ./${shown.replace(/^\.\//, '')}`,
  );
  return 0;
}
