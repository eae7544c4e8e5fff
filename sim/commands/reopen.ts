import { qdictOrder } from '../../contract/qjson.ts';
import { hasFeature, text } from '../../contract/versions.ts';
import type { BlockNode } from '../block/graph.ts';
import type { SimCore } from '../core/core.ts';
import { Qcow2Driver } from '../drivers/qcow2.ts';
import { generic, notSimulated } from '../util/qmp-error.ts';

/**
 * blockdev-reopen (and 5.2's x-blockdev-reopen): block.c's reopen queue as far as QMP shows it. Each listed
 * node is reopened with exactly the options given (what is left out goes back to its default), its inline
 * children with it; all are prepared, then the permissions of the new graph are checked, and only then is
 * anything changed. Checked against real 5.2, 7.2, 10.0 and 11.1 (runbooks vm/reopen-*).
 */

type Json = Record<string, unknown>;
type Flat = Map<string, unknown>;

/** bdrv_runtime_opts that bdrv_reopen_prepare takes out itself (bdrv_reset_options_allowed's common list) */
const COMMON = new Set([
  'node-name',
  'discard',
  'cache.direct',
  'cache.no-flush',
  'read-only',
  'auto-read-only',
  'detect-zeroes',
]);

interface Entry {
  node: BlockNode;
  /** the options this reopen gives the node (flat, as qdict_flatten makes them) */
  opts: Flat;
  /** what was given explicitly (a node listed twice keeps what only the first entry set) */
  explicit: Flat;
  /** the same options nested, as the node keeps them */
  nested: Json;
  /** no 'backing' given: a node that has one must keep being told (backing_missing) */
  backingMissing: boolean;
  readOnly: boolean;
  newFile?: BlockNode;
}

/** qdict_flatten: nested dicts become dotted keys */
export function flatten(o: Json, prefix = '', out: Flat = new Map()): Flat {
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Json, `${prefix}${k}.`, out);
    else out.set(`${prefix}${k}`, v);
  }
  return out;
}

/** bs->options: what the node was opened (or last reopened) with, its children's references left out */
function currentOptions(node: BlockNode): Flat {
  const out = flatten(node.options);
  const children = new Set([...node.children.map((c) => c.name), 'backing']);
  for (const k of [...out.keys()]) {
    const head = k.split('.')[0];
    if (children.has(head)) out.delete(k);
  }
  return out;
}

/** qdict_join(dst, src, false): what dst lacks, src gives */
function join(dst: Flat, src: Flat): void {
  for (const [k, v] of src) if (!dst.has(k)) dst.set(k, v);
}

function isDict(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * bdrv_inherited_options for a child opened inline, as the simulator opens one (see openNode's childFrom):
 * read-only, discard and the cache modes default to the parent's
 */
function inherit(child: Flat, childNested: Json, parent: Flat): void {
  for (const k of ['read-only', 'discard', 'cache.direct', 'cache.no-flush']) {
    if (child.has(k) || !parent.has(k)) continue;
    child.set(k, parent.get(k));
    const [head, tail] = k.split('.');
    if (tail === undefined) childNested[head] = parent.get(k);
    else
      childNested[head] = { ...(isDict(childNested[head]) ? childNested[head] : {}), [tail]: parent.get(k) };
  }
}

/** bdrv_reopen_queue_child */
function enqueue(
  core: SimCore,
  queue: Entry[],
  node: BlockNode,
  given: Flat,
  givenNested: Json,
  keepOld: boolean,
  parent?: Flat,
): void {
  const opts = new Map(given);
  let nested = { ...givenNested };
  const existing = queue.find((e) => e.node === node);
  if (existing) {
    // seen on 10.0.13: the node stays drained after the command, and every later request through it hangs
    if (hasFeature(core.version, 'reopen-twice-drain-leak'))
      throw notSimulated(`blockdev-reopen listing node '${node.nodeName}' twice on this version`);
    join(opts, existing.explicit);
    nested = { ...existing.nested, ...nested };
  }
  const explicit = new Map(opts);
  if (parent) inherit(opts, nested, parent);
  if (keepOld) {
    join(opts, currentOptions(node));
    nested = { ...node.options, ...nested };
  }
  const entry: Entry = existing ?? {
    node,
    opts,
    explicit,
    nested,
    backingMissing: false,
    readOnly: false,
  };
  if (!existing) queue.push(entry);
  Object.assign(entry, { opts, explicit, nested, readOnly: opts.get('read-only') === true });
  if (!keepOld) entry.backingMissing = !opts.has('backing') && !opts.has('backing.driver');
  for (const c of node.children) {
    // only the children this node opened itself are reopened with it
    if (c.bs.inheritsFrom !== node) continue;
    if (opts.has(c.name)) {
      // a reference to the current child reopens it as it is; another node replaces it
      if (opts.get(c.name) === c.bs.nodeName) enqueue(core, queue, c.bs, new Map(), {}, true, opts);
      continue;
    }
    const sub: Flat = new Map();
    for (const [k, v] of [...opts]) {
      if (!k.startsWith(`${c.name}.`)) continue;
      sub.set(k.slice(c.name.length + 1), v);
      opts.delete(k);
      explicit.delete(k);
    }
    const subNested = isDict(nested[c.name]) ? (nested[c.name] as Json) : {};
    enqueue(core, queue, c.bs, sub, subNested, keepOld, opts);
  }
}

/** block jobs drain, freeze and replace nodes under a reopen: not modelled */
function checkNoJob(node: BlockNode): void {
  if (node.extraRefs > 0 || node.blockers.some((b) => !b.allows))
    throw notSimulated(`blockdev-reopen of node '${node.nodeName}' while a block job uses it`);
}

/** bdrv_recurse_has_child */
function reaches(from: BlockNode, to: BlockNode): boolean {
  return from === to || from.children.some((c) => reaches(c.bs, to));
}

/** qobject_is_equal of a new option and the node's current one */
function sameValue(a: unknown, b: unknown): boolean {
  return b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** bdrv_reopen_parse_file_or_backing for 'file' (6.0+) */
function parseFile(core: SimCore, e: Entry, name: unknown): void {
  const node = e.node;
  if (typeof name !== 'string') throw notSimulated('blockdev-reopen with this file option');
  const child = core.graph.find(name);
  if (!child) throw generic(text(core.version, 'node.notFoundDeviceOrNode', '', name));
  if (reaches(child, node))
    throw generic(`Making '${name}' a file child of '${node.nodeName}' would create a cycle`);
  const old = node.child('file')?.bs;
  if (old === child) return;
  if (!old || node.driver.name !== 'raw')
    throw notSimulated(`blockdev-reopen replacing the file child of a ${node.driver.name} node`);
  checkNoJob(old);
  checkNoJob(child);
  e.newFile = child;
}

/** bdrv_reopen_prepare: everything that can refuse before the graph changes */
function prepare(core: SimCore, e: Entry): void {
  const { node } = e;
  const opts = new Map(e.opts);
  checkNoJob(node);
  for (const k of ['auto-read-only', 'force-share'])
    if (opts.has(k)) throw notSimulated(`blockdev-reopen with the option '${k}'`);
  const unmap = ['unmap', 'on'].includes(String(opts.get('discard')));
  if (opts.get('detect-zeroes') === 'unmap' && !unmap)
    throw generic('setting detect-zeroes to unmap is not allowed without setting discard operation to unmap');
  for (const k of COMMON) if (k !== 'node-name') opts.delete(k);
  const drv = node.driver.reopen;
  if (!drv)
    throw generic(
      `Block format '${node.driver.name}' used by node '${node.nodeName}' does not support reopening files`,
    );
  if (drv.notSimulated) throw notSimulated(drv.notSimulated);
  // bdrv_reset_options_allowed: an option left out goes back to its default, if the driver allows that
  const old = currentOptions(node);
  for (const k of qdictOrder([...old.keys()]))
    if (!opts.has(k) && !COMMON.has(k) && !drv.mutableOpts.includes(k))
      throw generic(`Option '${k}' cannot be reset to its default value`);
  drv.prepare(node, opts);
  // drv->supports_backing: a node with a backing child, or whose image names one, must be told about it
  const d = node.driver;
  if (d instanceof Qcow2Driver && e.backingMissing && (node.backing || d.layer.backingFile))
    throw generic(`backing is missing for '${node.nodeName}'`);
  if (opts.has('backing')) {
    if (opts.get('backing') !== node.backing?.nodeName)
      throw notSimulated('blockdev-reopen changing a backing child');
    opts.delete('backing');
  }
  if (opts.has('file') && hasFeature(core.version, 'reopen-file-child')) {
    parseFile(core, e, opts.get('file'));
    opts.delete('file');
  }
  // what is left must be unchanged; a reference to the current child counts as unchanged
  for (const k of qdictOrder([...opts.keys()])) {
    const v = opts.get(k);
    if (typeof v === 'string' && node.children.some((c) => c.name === k && c.bs.nodeName === v)) continue;
    if (!sameValue(v, old.get(k))) throw generic(`Cannot change the option '${k}'`);
  }
}

/** bdrv_reopen_multiple: prepare all, update the permissions of the new graph, then commit or undo all */
function reopenMultiple(core: SimCore, queue: Entry[]): void {
  for (const e of queue) prepare(core, e);
  const wasReadOnly = new Map<BlockNode, boolean>();
  const undo: (() => void)[] = [];
  const oldFiles: [BlockNode, BlockNode][] = [];
  for (const e of queue) {
    const prevRo = e.node.readOnly;
    wasReadOnly.set(e.node, prevRo);
    e.node.readOnly = e.readOnly;
    undo.push(() => {
      e.node.readOnly = prevRo;
    });
    const c = e.node.child('file');
    if (e.newFile && c) {
      const prev = c.bs;
      core.graph.retarget(c, e.newFile);
      oldFiles.push([e.node, prev]);
      undo.push(() => core.graph.retarget(c, prev));
    }
  }
  const rollBack = () => {
    for (const u of undo.reverse()) u();
    core.refreshPerms();
  };
  try {
    core.graph.refreshPerms(core.blks, wasReadOnly);
  } catch (err) {
    rollBack();
    throw err;
  }
  for (const e of queue) {
    const why = e.node.driver.reopen?.commitRefusal?.(e.node, wasReadOnly.get(e.node) ?? e.node.readOnly);
    if (why) {
      rollBack();
      throw notSimulated(why);
    }
  }
  // bdrv_reopen_commit, last entry first
  for (const e of [...queue].reverse()) {
    const { node } = e;
    node.options = e.nested;
    node.unmap = ['unmap', 'on'].includes(String(e.opts.get('discard')));
    node.detectZeroes = (e.opts.get('detect-zeroes') as string | undefined) ?? 'off';
    node.driver.reopen?.commit?.(node, wasReadOnly.get(node) ?? node.readOnly);
  }
  // the old children lose this reference: one the node had opened inline is gone with it
  for (const [parent, old] of oldFiles) {
    if (old.inheritsFrom === parent) old.inheritsFrom = undefined;
    core.graph.collect(old);
  }
}

/** qmp_blockdev_reopen: every node is looked up (in list order) before any is prepared */
export function blockdevReopen(core: SimCore, list: Json[]): void {
  // bdrv_reopen_multiple asserts a non-empty queue: real QEMU (7.2, 10.0, 11.1) aborts
  if (list.length === 0) throw notSimulated('blockdev-reopen of an empty list (QEMU aborts)');
  const queue: Entry[] = [];
  for (const o of list) {
    const name = o['node-name'];
    if (typeof name !== 'string') throw generic(text(core.version, 'reopen.nodeNameMissing'));
    const node = core.graph.find(name);
    if (!node) throw generic(text(core.version, 'reopen.nodeNotFound', name));
    enqueue(core, queue, node, flatten(o), o, false);
  }
  reopenMultiple(core, queue);
}

/** qmp_x_blockdev_reopen (5.2): one node's options */
export function xBlockdevReopen(core: SimCore, options: Json): void {
  blockdevReopen(core, [options]);
}
