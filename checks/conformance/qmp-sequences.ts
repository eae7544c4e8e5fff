import fc from 'fast-check';
import { type At, SchemaArbitraries } from '../../contract/qapi/arbitrary.ts';
import { Introspection } from '../../contract/qapi/introspection.ts';
import { loadSnapshot } from '../../contract/qapi/schema-data.ts';
import type { Profile } from '../../contract/versions.ts';

/**
 * Plausible QMP command sequences for the randomized differential (qmp-differential.ts): the
 * qemu-storage-daemon commands fleecing uses — nodes of every driver it needs, bitmaps, the NBD server and
 * exports, backup and mirror jobs, job verbs, transactions, queries — with their arguments from the
 * version's own schema, over a few names, so that most commands find what they name. fast-check generates
 * and shrinks them.
 */
export interface Cmd {
  execute: string;
  arguments?: Record<string, unknown>;
}

const MiB = 1 << 20;

/** The scratch files every sequence starts with, made once per run by the version's own qemu-img/qemu-io. */
export const FILES: { name: string; create: string[]; writes?: string[]; format: 'raw' | 'qcow2' }[] = [
  { name: 'a.raw', format: 'raw', create: ['-f', 'raw', 'a.raw', '4M'], writes: ['write -P 0x11 0 64k'] },
  {
    name: 'b.qcow2',
    format: 'qcow2',
    create: ['-f', 'qcow2', 'b.qcow2', '4M'],
    writes: ['write -P 0x22 1M 128k'],
  },
  { name: 'c.qcow2', format: 'qcow2', create: ['-f', 'qcow2', '-b', 'a.raw', '-F', 'raw', 'c.qcow2', '4M'] },
  { name: 't.qcow2', format: 'qcow2', create: ['-f', 'qcow2', 't.qcow2', '4M'] },
  { name: 't.raw', format: 'raw', create: ['-f', 'raw', 't.raw', '4M'] },
  { name: 's.raw', format: 'raw', create: ['-f', 'raw', 's.raw', '1M'] },
];
const FILE_NAMES = [...FILES.map((f) => f.name), 'missing.raw'];

const NODES = ['fa', 'fb', 'fc', 'ft', 'qb', 'qc', 'qt', 'r0', 'n0', 'n1', 'cbw', 'snap', 'dbg', 'thr'];
/** nodes the setup makes (when it runs): most commands name one of these */
const MADE = ['fa', 'qb', 'qt', 'qc', 'n0', 'n1', 'r0'];
const JOBS = ['j0', 'j1'];
const BITMAPS = ['b0', 'b1'];
const EXPORTS = ['e0', 'e1'];

const node = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...MADE) },
  { weight: 1, arbitrary: fc.constantFrom(...NODES) },
);
const file = fc.constantFrom(...FILE_NAMES);

const inlineFile = fc.record({ driver: fc.constant('file'), filename: file.map((f) => `@${f}`) });
const fileRef = fc.oneof({ weight: 3, arbitrary: node }, { weight: 1, arbitrary: inlineFile });
const nodeFor = (prefix: string) =>
  fc.oneof({ weight: 4, arbitrary: node.filter((n) => n.startsWith(prefix)) }, node);
const bitmapName = fc.constantFrom(...BITMAPS);
const bitmapRef = fc.record({ node: node, name: bitmapName });
const jobRef = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...JOBS) }, fc.constantFrom('fa', ''));
const defined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

/** The drivers the sequences use, each with the prefix of the node names it usually gets. */
const DRIVERS: Record<string, string> = {
  file: 'f',
  raw: 'r',
  qcow2: 'q',
  'null-co': 'n',
  'copy-before-write': 'cbw',
  'snapshot-access': 'snap',
  blkdebug: 'dbg',
  throttle: 'thr',
};

/**
 * How a member is sent: `p` how often (default: a required member always, an optional one never) and `v`
 * its vocabulary (default: any value of its type). The schema of the version under test says which members
 * and values exist; these plans keep the sequences on the few names the setup makes, and send some values
 * QEMU refuses on purpose (discard 'bogus', granularity 1000, speed -1, a job named 'fa').
 */
interface Plan {
  p?: number;
  v?: fc.Arbitrary<unknown> | ((at: At, schema: () => fc.Arbitrary<unknown>) => fc.Arbitrary<unknown>);
}
const rarely = 0.2;
const half = 0.5;
const often = 2 / 3;

const JOB_COMMON: Record<string, Plan> = {
  'job-id': { p: 0.9, v: fc.constantFrom(...JOBS) },
  'auto-finalize': { p: rarely },
  'auto-dismiss': { p: rarely },
  speed: { p: rarely, v: fc.constantFrom(0, 1 << 30, -1) },
};
const BITMAP_REF: Record<string, Plan> = { node: { v: node }, name: { v: bitmapName } };
/** sync, bitmap and bitmap-mode go together: mostly a plain sync, or a bitmap sync with its bitmap */
const backupSync = fc.oneof(
  { weight: 4, arbitrary: fc.record({ sync: fc.constantFrom('none', 'full', 'top') }) },
  {
    weight: 3,
    arbitrary: fc.record({
      sync: fc.constantFrom('bitmap', 'incremental'),
      bitmap: bitmapName,
      'bitmap-mode': fc.constantFrom('on-success', 'always', 'never', undefined),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        sync: fc.constantFrom('none', 'full', 'top', 'bitmap', 'incremental'),
        bitmap: bitmapName,
        'bitmap-mode': fc.constantFrom('on-success', 'always', 'never'),
      },
      { requiredKeys: [] },
    ),
  },
);
const jobVerbPlan: Record<string, Plan> = { id: { v: jobRef }, device: { v: jobRef }, force: { p: often } };
const JOB_VERBS = ['job-pause', 'job-resume', 'job-cancel', 'job-complete', 'job-dismiss', 'job-finalize'];
const BLOCK_JOB_VERBS = [
  'block-job-cancel',
  'block-job-pause',
  'block-job-resume',
  'block-job-complete',
  'block-job-dismiss',
  'block-job-finalize',
];

/** Per command (or transaction action), by member path ('x-perf.max-workers'; 'CASE:path' for one union case). */
const PLANS: Record<string, Record<string, Plan>> = {
  'blockdev-add': {
    driver: {
      v: (at) =>
        fc.constantFrom(
          ...Object.keys(DRIVERS).filter(
            (d) => at.type['meta-type'] === 'enum' && at.type.values.includes(d),
          ),
        ),
    },
    'node-name': { p: 1, v: (at) => nodeFor(DRIVERS[at.cases.driver] ?? '') },
    'read-only': { p: 0.25 },
    'auto-read-only': { p: 0.25 },
    discard: { p: 0.25, v: fc.constantFrom('unmap', 'ignore', 'off', 'bogus') },
    'detect-zeroes': { p: 0.25 },
    cache: { p: 0.25 },
    'cache.no-flush': { p: half },
    'cache.direct': { p: half, v: fc.constant(false) },
    'file:filename': { v: file.map((f) => `@${f}`) },
    'raw:file': { v: fileRef },
    'qcow2:file': { v: fileRef },
    'qcow2:backing': { p: half, v: fc.oneof(fc.constant(null), node) },
    'null-co:size': { p: 1, v: fc.constantFrom(4 * MiB, 4 * MiB, MiB, 0) },
    'null-co:read-zeroes': { p: half },
    'copy-before-write:file': { v: node },
    // target is required: left out now and then on purpose
    'copy-before-write:target': { p: half, v: node },
    'copy-before-write:bitmap': { p: half },
    'bitmap.node': { v: node },
    'bitmap.name': { v: bitmapName },
    'snapshot-access:file': { v: node },
    'blkdebug:image': { v: node },
    'throttle:file': { v: node },
    'throttle:throttle-group': { v: fc.constantFrom('tg0', 'tg1') },
  },
  'object-add': {
    'qom-type': { v: fc.constant('throttle-group') },
    id: { v: fc.constantFrom('tg0', 'tg1') },
    limits: { p: 1, v: fc.constantFrom({ 'bps-total': 1 << 30 }, { 'iops-total': 100000 }, {}) },
  },
  'object-del': { id: { v: fc.constantFrom('tg0', 'tg1') } },
  'blockdev-del': { 'node-name': { v: node } },
  'block-dirty-bitmap-add': {
    ...BITMAP_REF,
    persistent: { p: half },
    disabled: { p: half },
    granularity: { p: half, v: fc.constantFrom(65536, 512, 4096, MiB, 1000, 256, 1 << 31) },
  },
  'block-dirty-bitmap-remove': BITMAP_REF,
  'block-dirty-bitmap-clear': BITMAP_REF,
  'block-dirty-bitmap-enable': BITMAP_REF,
  'block-dirty-bitmap-disable': BITMAP_REF,
  'block-dirty-bitmap-merge': {
    node: { v: node },
    target: { v: bitmapName },
    'bitmaps.[]': { v: fc.oneof(bitmapName, bitmapRef) },
  },
  'block-export-add': {
    type: { v: fc.constant('nbd') },
    id: { v: fc.constantFrom(...EXPORTS) },
    'node-name': { v: node },
    name: { p: half, v: fc.constantFrom('x', 'y') },
    writable: { p: half },
    bitmaps: { p: half },
    'bitmaps.[]': { v: bitmapName },
    'allocation-depth': { p: half },
  },
  'block-export-del': { id: { v: fc.constantFrom(...EXPORTS, 'x') }, mode: { p: often } },
  'blockdev-backup': {
    '': {
      v: (_, schema) => fc.tuple(schema(), backupSync).map(([a, s]) => defined({ ...(a as object), ...s })),
    },
    device: { v: node },
    target: { v: node },
    sync: { p: 0 },
    'filter-node-name': { p: rarely, v: fc.constantFrom('flt', 'fa') },
    'x-perf': { p: rarely },
    'x-perf.use-copy-range': { p: half },
    'x-perf.max-workers': { p: half, v: fc.constantFrom(1, 8, 0) },
    'x-perf.max-chunk': { p: half, v: fc.constantFrom(0, 65536, 1000) },
    ...JOB_COMMON,
  },
  'blockdev-mirror': {
    device: { v: node },
    target: { v: node },
    sync: { v: fc.constantFrom('full', 'top', 'none') },
    'filter-node-name': { p: rarely, v: fc.constantFrom('mflt', 'fa') },
    granularity: { p: rarely, v: fc.constantFrom(65536, 512, 1000) },
    ...JOB_COMMON,
  },
  'block-job-set-speed': { device: { v: jobRef }, speed: { v: fc.constantFrom(0, -5, 1 << 30) } },
  ...Object.fromEntries([...JOB_VERBS, ...BLOCK_JOB_VERBS].map((c) => [c, jobVerbPlan])),
  transaction: {
    'actions.[].type': {
      v: fc.oneof(
        { weight: 2, arbitrary: fc.constant('blockdev-backup') },
        { weight: 1, arbitrary: fc.constant('block-dirty-bitmap-add') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'block-dirty-bitmap-remove',
            'block-dirty-bitmap-clear',
            'block-dirty-bitmap-enable',
            'block-dirty-bitmap-disable',
          ),
        },
        { weight: 1, arbitrary: fc.constant('block-dirty-bitmap-merge') },
      ),
    },
    properties: { p: half },
    'properties.completion-mode': { p: 1 },
  },
};

/** a transaction action's data is planned as the command of the same name */
function planOf(at: At): Plan | undefined {
  let command = at.command;
  let path = at.path;
  if (command === 'transaction' && path[0] === 'actions' && path[2] === 'data') {
    command = at.cases.type;
    path = path.slice(3);
  }
  const plans = PLANS[command] ?? {};
  const rel = path.join('.');
  for (const c of Object.values(at.cases)) if (plans[`${c}:${rel}`]) return plans[`${c}:${rel}`];
  return plans[rel];
}

/** The commands of one version's qemu-storage-daemon schema, with the plans above. */
export function commandFor(profile: Profile): fc.Arbitrary<Cmd> {
  const arbs = new SchemaArbitraries(new Introspection(loadSnapshot(profile, 'qsd').schema), {
    optional: 0,
    maxDepth: 2,
    value: (at, schema) => {
      const v = planOf(at)?.v;
      return typeof v === 'function' ? v(at, schema) : v;
    },
    presence: (at) => planOf(at)?.p,
    length: (at) =>
      at.command === 'transaction' && at.path.join('.') === 'actions' ? { min: 1, max: 3 } : undefined,
  });
  const run = (c: string): fc.Arbitrary<Cmd> => arbs.command(c).map((a) => ({ execute: c, arguments: a }));
  const oneOf = (cs: string[]) => fc.constantFrom(...cs).chain(run);
  return fc.oneof(
    { weight: 8, arbitrary: run('blockdev-add') },
    { weight: 1, arbitrary: fc.oneof(run('object-add'), run('object-del')) },
    { weight: 2, arbitrary: run('blockdev-del') },
    {
      weight: 4,
      arbitrary: fc.oneof(
        run('block-dirty-bitmap-add'),
        oneOf([
          'block-dirty-bitmap-remove',
          'block-dirty-bitmap-clear',
          'block-dirty-bitmap-enable',
          'block-dirty-bitmap-disable',
        ]),
        run('block-dirty-bitmap-merge'),
      ),
    },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.constant({
          execute: 'nbd-server-start',
          arguments: { addr: { type: 'unix', data: { path: '@nbd.sock' } } },
        }),
        fc.constant({ execute: 'nbd-server-stop' }),
        run('block-export-add'),
        run('block-export-del'),
      ),
    },
    { weight: 4, arbitrary: run('blockdev-backup') },
    { weight: 2, arbitrary: run('blockdev-mirror') },
    { weight: 4, arbitrary: fc.oneof(oneOf(JOB_VERBS), oneOf(BLOCK_JOB_VERBS), run('block-job-set-speed')) },
    { weight: 2, arbitrary: run('transaction') },
    {
      weight: 3,
      arbitrary: fc.oneof(
        fc.constant({ execute: 'query-jobs' }),
        fc.constant({ execute: 'query-block-jobs' }),
        fc.constant({ execute: 'query-named-block-nodes', arguments: { flat: true } }),
        fc.constant({ execute: 'query-block-exports' }),
        fc.constant({ execute: 'query-block' }),
      ),
    },
  );
}

/** A sequence starts with some of these (in this order), so that most commands get past name lookups. */
const add_ = (a: Record<string, unknown>): Cmd => ({ execute: 'blockdev-add', arguments: a });
const SETUP: Cmd[] = [
  {
    execute: 'object-add',
    arguments: { 'qom-type': 'throttle-group', id: 'tg0', limits: { 'iops-total': 100000 } },
  },
  add_({ driver: 'file', 'node-name': 'fa', filename: '@a.raw' }),
  add_({ driver: 'qcow2', 'node-name': 'qb', file: { driver: 'file', filename: '@b.qcow2' } }),
  add_({ driver: 'qcow2', 'node-name': 'qt', file: { driver: 'file', filename: '@t.qcow2' } }),
  add_({ driver: 'qcow2', 'node-name': 'qc', file: { driver: 'file', filename: '@c.qcow2' }, backing: null }),
  add_({ driver: 'null-co', 'node-name': 'n0', size: 4 * MiB }),
  add_({ driver: 'null-co', 'node-name': 'n1', size: 4 * MiB }),
  add_({ driver: 'raw', 'node-name': 'r0', file: { driver: 'file', filename: '@t.raw' } }),
  { execute: 'nbd-server-start', arguments: { addr: { type: 'unix', data: { path: '@nbd.sock' } } } },
  { execute: 'block-dirty-bitmap-add', arguments: { node: 'qb', name: 'b0', persistent: true } },
  { execute: 'block-dirty-bitmap-add', arguments: { node: 'fa', name: 'b1' } },
];
export function sequenceFor(profile: Profile): fc.Arbitrary<Cmd[]> {
  return fc
    .tuple(
      // each setup step runs with probability 9/10 (shrinking drops it)
      fc.tuple(...SETUP.map(() => fc.noBias(fc.integer({ min: 0, max: 9 })))),
      fc.array(commandFor(profile), { minLength: 1, maxLength: 12 }),
    )
    .map(([keep, cmds]) => [...SETUP.filter((_, i) => keep[i] > 0), ...cmds]);
}
