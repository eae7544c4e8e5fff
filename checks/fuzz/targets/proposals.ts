/**
 * Proposal files: the four bundled proposals, mutated structure-aware (fields deleted, retyped, added;
 * calls without lowering, lowerings that are not functions, schemas that are not zod, capabilities out of
 * their enum, claims of unknown properties, the whole export replaced), through defineProposal, which
 * `fleece-lab check FILE` runs on a file's default export. One input in 200 is a proposal module on disk
 * (syntax errors, throws on import, no default export, ...) loaded by loadProposal. Each is accepted, or
 * rejected with a ProposalError of one line naming where it came from and the bad field; never a raw
 * TypeError or a stack.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { z } from 'zod';
import { defineProposal, ProposalError, type ProposalInput } from '../../../contract/proposals/define.ts';
import { BUNDLED } from '../../../contract/proposals/index.ts';
import { loadProposal } from '../../model/load-proposal.ts';
import { assertOneLine, Breach, type FuzzTarget, isRawJsError, normalizeClass, safeJson } from '../core.ts';
import { oddValue } from '../mutate.ts';

type Path = string[];

/** an xstate machine is a leaf too: it is a graph of its own (cycles), checked whole by defineProposal */
const isMachine = (x: unknown) =>
  x !== null && typeof x === 'object' && typeof (x as { transition?: unknown }).transition === 'function';

/** paths into a proposal: plain objects and arrays are walked; functions and zod schemas are leaves */
function pathsOf(v: unknown): Path[] {
  const out: Path[] = [];
  const walk = (x: unknown, p: Path) => {
    out.push(p);
    if (
      x instanceof z.ZodType ||
      typeof x === 'function' ||
      x === null ||
      typeof x !== 'object' ||
      isMachine(x)
    )
      return;
    for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], [...p, k]);
  };
  walk(v, []);
  return out;
}

/** a copy of the proposal down to (not into) functions and zod schemas */
function copy(v: unknown): unknown {
  if (
    v instanceof z.ZodType ||
    typeof v === 'function' ||
    v === null ||
    typeof v !== 'object' ||
    isMachine(v)
  )
    return v;
  if (Array.isArray(v)) return v.map(copy);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
}

/** values only a module can hold: functions, schemas, undefined, symbols, cycles */
const special = fc.constantFrom(
  'fn',
  'async-fn',
  'zod-string',
  'zod-object',
  'undefined',
  'symbol',
  'bigint',
  'nan',
  'date',
  'map',
  'cycle',
  'frozen',
  'class',
);
type Special = typeof special extends fc.Arbitrary<infer T> ? T : never;

function specialValue(s: Special): unknown {
  switch (s) {
    case 'fn':
      return () => 1;
    case 'async-fn':
      return async () => {
        throw new TypeError('boom');
      };
    case 'zod-string':
      return z.string();
    case 'zod-object':
      return z.object({ disk: z.number() });
    case 'undefined':
      return undefined;
    case 'symbol':
      return Symbol('s');
    case 'bigint':
      return 10n;
    case 'nan':
      return Number.NaN;
    case 'date':
      return new Date(0);
    case 'map':
      return new Map([['a', 1]]);
    case 'cycle': {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      return o;
    }
    case 'frozen':
      return Object.freeze({ doc: 'x' });
    case 'class':
      return new (class Thing {
        x = 1;
      })();
  }
}

type Edit =
  | { kind: 'delete'; at: number }
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'special'; at: number; value: Special }
  | { kind: 'add'; at: number; key: string; value: unknown }
  | { kind: 'rename'; at: number; key: string };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  {
    arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: oddValue }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ kind: fc.constant('special' as const), at: fc.nat(), value: special }),
    weight: 2,
  },
  fc.record({
    kind: fc.constant('add' as const),
    at: fc.nat(),
    key: fc.oneof(
      fc.constantFrom('extra', 'fleeceStart', 'a\nb', '__proto__', 'limits', 'stats'),
      fc.string(),
    ),
    value: fc.oneof(oddValue, special.map(specialValue)),
  }),
  fc.record({
    kind: fc.constant('rename' as const),
    at: fc.nat(),
    key: fc.oneof(fc.constantFrom('fleeceStart', 'backupBegin', 'nope', 'x\ny'), fc.string({ maxLength: 8 })),
  }),
);

const MODULES = [
  'export default {',
  'export default 42;',
  'export default null;',
  'export const proposal = {};',
  "throw new Error('boom\\nsecond line');",
  "throw new TypeError('nope');",
  "import './does-not-exist.ts';\nexport default {};",
  "export default { name: 'x' };",
  "export default { name: 'Bad Name!', title: '', summary: 'y' };",
  "import { defineProposal } from '__DEFINE__';\nexport default defineProposal({ name: 'y' } as never);",
  'export default [];',
  'export default (() => { throw new RangeError("deep") })();',
];

export interface ProposalInputCase {
  seed: number;
  edits: Edit[];
  /** a proposal module on disk instead (one input in 200): its text */
  module: number | undefined;
}

const input: fc.Arbitrary<ProposalInputCase> = fc.record({
  seed: fc.nat({ max: BUNDLED.length - 1 }),
  edits: fc.array(edit, { minLength: 1, maxLength: 4 }),
  module: fc
    .nat({ max: 199 })
    .chain((x) => (x === 0 ? fc.nat({ max: MODULES.length - 1 }) : fc.constant(undefined))),
});

function editAt(o: Record<string, unknown>, k: string, e: Edit, value: unknown): void {
  if (e.kind === 'delete') delete o[k];
  else if (e.kind === 'replace' || e.kind === 'special') o[k] = value;
  else if (e.kind === 'rename') {
    const v = o[k];
    delete o[k];
    Object.defineProperty(o, e.key, { value: v, enumerable: true, writable: true, configurable: true });
  } else {
    const t = o[k];
    if (t !== null && typeof t === 'object' && !(t instanceof z.ZodType) && !Object.isFrozen(t))
      Object.defineProperty(t, e.key, {
        value: e.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
}

function apply(seed: unknown, edits: Edit[]): unknown {
  let root = copy(seed);
  const paths = pathsOf(seed);
  for (const e of edits) {
    const p = paths[e.at % paths.length];
    const value =
      e.kind === 'replace'
        ? structuredClone(e.value)
        : e.kind === 'special'
          ? specialValue(e.value)
          : undefined;
    if (p.length === 0) {
      if (e.kind === 'replace' || e.kind === 'special') root = value;
      continue;
    }
    let parent: unknown = root;
    for (const k of p.slice(0, -1))
      parent = parent && typeof parent === 'object' ? (parent as Record<string, unknown>)[k] : undefined;
    if (parent === null || typeof parent !== 'object' || Object.isFrozen(parent)) continue;
    const o = parent as Record<string, unknown>;
    const k = p[p.length - 1];
    if (!(k in o)) continue;
    try {
      editAt(o, k, e, value);
    } catch {
      // an edit JavaScript itself refuses (a rename onto an array's length): the mutation's, not the proposal's
    }
  }
  return root;
}

function judge(e: unknown, where: string): string {
  if (isRawJsError(e))
    throw new Breach(`raw ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}`);
  const msg = (e as Error).message;
  assertOneLine(msg, 'proposal');
  if (!msg.startsWith(where)) throw new Breach(`the error does not say where the proposal came from: ${msg}`);
  return msg;
}

interface State {
  dir: string;
  n: number;
}

export const proposals: FuzzTarget<ProposalInputCase, State> = {
  name: 'proposals',
  what: 'mutated proposals through defineProposal / loadProposal: accepted, or a one-line ProposalError naming the field',
  input,
  async setup() {
    return { dir: fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-fuzz-proposals-')), n: 0 };
  },
  async exec(st, i) {
    if (i.module !== undefined) {
      // a unique name each time: the module cache would answer a second import of the same path
      const f = path.join(st.dir, `p${++st.n}.ts`);
      const define = path.resolve(import.meta.dirname, '../../../contract/proposals/define.ts');
      fs.writeFileSync(f, MODULES[i.module].replace('__DEFINE__', define));
      try {
        await loadProposal(f);
        return 'module accepted';
      } catch (e) {
        const msg = judge(e, f);
        return `module rejected: ${normalizeClass(msg.slice(f.length + 2).split(':')[0], 40)}`;
      } finally {
        fs.rmSync(f, { force: true });
      }
    }
    const where = 'fuzzed-proposal.ts';
    const p = apply(BUNDLED[i.seed], i.edits);
    try {
      defineProposal(p as ProposalInput, where);
      return 'accepted';
    } catch (e) {
      if (!(e instanceof ProposalError))
        throw new Breach(`not a ProposalError: ${(e as Error)?.name}: ${(e as Error)?.message}`);
      const msg = judge(e, where);
      // "fuzzed-proposal.ts 'seed-2013': calls.fleeceStart.params: must be a zod schema" -> the field
      const field = msg.replace(/^[^:]*: /, '').split(': ')[0];
      return `rejected: ${normalizeClass(field, 40)}`;
    }
  },
  async teardown(st) {
    fs.rmSync(st.dir, { recursive: true, force: true });
  },
  show: (i) => safeJson(i),
};
