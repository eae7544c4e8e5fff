// Module hooks for proposal files that live outside fleece-lab (registered by bin/fleece-lab.js after tsx).
//
// 1. A TypeScript file of the user's is an ES module. Node takes a file's module format from the nearest
//    package.json: a proposal in a folder with none (or with npm init's "type": "commonjs") would be
//    CommonJS. tsx's ESM hooks then hand it to Node's CommonJS loader, which meets `import` syntax, retries
//    the file as an ES module through require() while the import of that very file is still under way, and
//    fails with "Cannot require() ES Module ... in a cycle". Proposal files (and the files of the user's
//    they import) are written with import/export: they load as what they are.
// 2. `import ... from 'fleece-lab'` names the fleece-lab that is running, wherever the proposal is and
//    whatever its folder has installed: one copy of zod and xstate, so that a proposal's schemas and machine
//    are the ones the checker knows (defineProposal tests `instanceof`).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const SELF = new URL('../package.json', import.meta.url).href;
const TS = /\.(ts|tsx)$/;

/** a file of the user's: a local file that no package holds */
function usersFile(url) {
  return url.startsWith('file:') && !url.includes('/node_modules/') && !url.includes('?');
}

/** the file a relative import of a user's TypeScript file names, as tsx would find it */
function localTs(specifier, parentURL) {
  if (!/^\.{1,2}\//.test(specifier)) return undefined;
  const base = new URL(specifier, parentURL);
  const candidates = [
    base.href,
    `${base.href}.ts`,
    base.href.replace(/\.js$/, '.ts'),
    `${base.href}/index.ts`,
  ];
  return candidates.find((c) => TS.test(c) && fs.existsSync(fileURLToPath(c)));
}

export async function resolve(specifier, context, next) {
  if (specifier === 'fleece-lab' || specifier.startsWith('fleece-lab/'))
    return next(specifier, { ...context, parentURL: SELF });
  const parent = context.parentURL;
  if (parent && usersFile(parent) && TS.test(parent) && !parent.startsWith(new URL('..', SELF).href)) {
    const local = localTs(specifier, parent);
    if (local) return { url: local, format: 'module', shortCircuit: true };
  }
  const r = await next(specifier, context);
  if (r.format === 'commonjs' && usersFile(r.url) && TS.test(r.url)) return { ...r, format: 'module' };
  return r;
}
