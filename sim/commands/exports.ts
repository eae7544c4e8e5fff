import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasFeature, text } from '../../contract/versions.ts';
import type { Bitmap } from '../block/bitmaps.ts';
import { BlockBackend, type BlockNode } from '../block/graph.ts';
import type { BlockExport } from '../block/nbd-state.ts';
import { PERM, PERM_ALL } from '../block/perm.ts';
import type { SimCore } from '../core/core.ts';
import { findIoThread } from '../core/objects.ts';
import { drainAllBlockJobs } from '../jobs/drain.ts';
import { generic } from '../util/qmp-error.ts';
import { lookupBitmap } from './bitmaps.ts';
import { idWellformed, lookupBs } from './common.ts';

const NBD_MAX_STRING_SIZE = 4096;

/**
 * NBD server and block exports as QMP sees them (blockdev-nbd.c, block/export/export.c). The socket side
 * (sim/serve) listens through `core.nbdListen` when the simulator runs as a process.
 */
export function nbdServerStart(
  core: SimCore,
  addr: { type: string; data: Record<string, unknown> },
  maxConnections?: number,
  tlsCreds?: string,
): void {
  if (core.nbd) throw generic(text(core.version, 'nbd.alreadyRunning'));
  if (addr.type === 'unix') {
    const p = String(addr.data.path ?? '');
    if (core.fs.kind === 'real' && !fs.existsSync(path.dirname(path.resolve(p))))
      throw generic(`Failed to bind socket to ${p}: No such file or directory`);
  }
  // nbd_get_tls_creds, after the listener is open: the simulator has no objects, so no TLS credentials
  if (tlsCreds !== undefined) throw generic(`No TLS credentials with id '${tlsCreds}'`);
  core.nbdListen?.(addr);
  // without max-connections: 100 where the CVE-2024-7409 fix is in (7.2.x stable too), else unlimited
  const dflt = core.version.features.has('nbd-default-max-connections-100') ? 100 : 0;
  core.nbd = { addr, maxConnections: maxConnections ?? dflt };
}

export function nbdServerStop(core: SimCore): void {
  if (!core.nbd) throw generic('NBD server not running');
  for (const e of exportsInShutdownOrder(core)) removeExport(core, e);
  const handshaking = core.nbdHandshaking?.() ?? 0;
  core.nbdUnlisten?.();
  core.nbd = undefined;
  // nbd_server_free waits for the clients it shut down; on 7.2 one still in the handshake never goes
  if (handshaking > 0 && core.version.features.has('nbd-server-stop-handshake-hang-bug'))
    core.stuck = 'nbd-server-stop waits for ever for a client that was in the handshake';
}

/** 5.2 and 7.2 remove exports in creation order, 10.0 and later newest first (seen on the wire) */
function exportsInShutdownOrder(core: SimCore): BlockExport[] {
  const list = [...core.exports.values()];
  return core.version.features.has('nbd-extended-headers') ? list.reverse() : list;
}

/** blk_exp_close_all at qemu-storage-daemon's exit (6.0+): every export goes, each with its event */
export function closeAllExports(core: SimCore): void {
  for (const e of exportsInShutdownOrder(core)) removeExport(core, e);
}

export interface ExportArgs {
  id: string;
  nodeName: string;
  name?: string;
  description?: string;
  writable?: boolean;
  bitmaps?: (string | { node: string; name: string })[];
  allocationDepth?: boolean;
  /** BlockExportOptions.iothread: must name an iothread object (11.1 takes a list, which names none) */
  iothread?: string | string[];
  legacy: boolean;
}

/** the dirty bitmaps an export holds busy (nbd_export_create marks them, nbd_export_delete frees them) */
const busyBitmaps = new WeakMap<BlockExport, Bitmap[]>();

/** bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO) */
function checkBitmapUsable(b: Bitmap): void {
  if (b.busy) throw generic(`Bitmap '${b.name}' is currently in use by another operation and cannot be used`);
  if (b.inconsistent)
    throw generic(
      `Bitmap '${b.name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk`,
    );
}

/**
 * blk_exp_add + nbd_export_create. The order of the checks is QEMU's: 6.0+ takes the export's
 * permissions (blk_insert_bs) before the NBD driver looks at the server and the name; 5.2's
 * nbd_export_create checks server, name and read-only first and then takes them.
 */
export function blockExportAdd(core: SimCore, a: ExportArgs): void {
  const legacyOrder = core.version.profile === '5.2';
  if (!idWellformed(a.id)) throw generic('Invalid block export id');
  if (core.exports.has(a.id)) throw generic(`Block export id '${a.id}' is already in use`);
  const bs = lookupBs(core, undefined, a.nodeName);
  if (a.iothread !== undefined && (typeof a.iothread !== 'string' || !findIoThread(core, a.iothread)))
    throw generic(`iothread "${a.iothread}" not found`);
  const name = a.name ?? a.nodeName;
  const readOnlyCheck = () => {
    if (a.writable && bs.readOnly) throw generic('Cannot export read-only node as writable');
  };
  const nbdChecks = () => {
    if (!core.nbd) throw generic('NBD server not running');
    if (name.length > NBD_MAX_STRING_SIZE) throw generic(`export name '${name}' too long`);
    if (a.description && a.description.length > NBD_MAX_STRING_SIZE)
      throw generic(`description '${a.description}' too long`);
    if ([...core.exports.values()].some((e) => e.name === name))
      throw generic(text(core.version, 'nbd.exportNameInUse', name));
  };
  if (legacyOrder) nbdChecks();
  readOnlyCheck();
  let perm = PERM.CONSISTENT_READ;
  if (a.writable) perm |= PERM.WRITE;
  // 5.2 shares everything but resize from the start; 6.0+ first shares all, then drops resize
  const blk = new BlockBackend(
    undefined,
    'an unnamed block device',
    perm,
    legacyOrder ? PERM_ALL & ~PERM.RESIZE : PERM_ALL,
  );
  // 10.0+: attaching the export's BlockBackend takes the graph lock with every node drained
  if (hasFeature(core.version, 'graph-change-drains-all')) drainAllBlockJobs(core);
  core.graph.attach({ kind: 'blk', blk }, bs, 'root', 'other');
  core.addBlk(blk);
  const undo = () => core.removeBlk(blk);
  try {
    core.refreshPerms();
    if (!legacyOrder) nbdChecks();
    // Don't allow resize while the NBD server is running.
    blk.shared = PERM_ALL & ~PERM.RESIZE;
    core.refreshPerms();
    const readonly = a.writable !== true;
    const bitmaps: { node: string; name: string }[] = [];
    const held: Bitmap[] = [];
    for (const b of a.bitmaps ?? []) {
      let bm: Bitmap;
      if (typeof b === 'string') {
        // searched down the filter/backing chain (bdrv_filter_or_cow_bs)
        let n: BlockNode | undefined = bs;
        let found: Bitmap | undefined;
        for (let i = 0; n && i < 64; i++) {
          found = n.bitmaps.get(b);
          if (found) break;
          n = n.driver.isFilter ? n.file : (n.backing ?? undefined);
        }
        if (!found || !n) throw generic(`Bitmap '${b}' is not found`);
        if (readonly && !n.readOnly && found.recording)
          throw generic(`Enabled bitmap '${b}' incompatible with readonly export`);
        bm = found;
        bitmaps.push({ node: n.nodeName, name: b });
      } else {
        bm = lookupBitmap(core, b.node, b.name).bitmap;
        bitmaps.push({ node: b.node, name: b.name });
      }
      checkBitmapUsable(bm);
      held.push(bm);
    }
    for (const bm of held) bm.busy = true;
    const exp: BlockExport = {
      id: a.id,
      type: 'nbd',
      nodeName: bs.nodeName,
      name,
      description: a.description,
      writable: a.writable === true,
      bitmaps,
      allocationDepth: a.allocationDepth === true,
      blk,
      legacy: a.legacy,
      shuttingDown: false,
      clients: 0,
    };
    busyBitmaps.set(exp, held);
    core.exports.set(a.id, exp);
  } catch (e) {
    undo();
    throw e;
  }
}

/** qmp_block_export_del */
export function blockExportDel(core: SimCore, id: string, mode: 'safe' | 'hard' = 'safe'): void {
  const exp = core.exports.get(id);
  if (!exp) throw generic(text(core.version, 'export.notFound', id));
  if (exp.shuttingDown) throw generic(`Export '${id}' is already shutting down`);
  if (mode === 'safe' && exp.clients > 0) throw generic(`export '${id}' still in use`);
  removeExport(core, exp);
}

function removeExport(core: SimCore, exp: BlockExport): void {
  exp.shuttingDown = true;
  core.exportClosing?.(exp);
  core.exports.delete(exp.id);
  for (const bm of busyBitmaps.get(exp) ?? []) bm.busy = false;
  core.removeBlk(exp.blk);
  try {
    core.refreshPerms();
  } catch {
    // dropping a user cannot conflict
  }
  core.events.emit('BLOCK_EXPORT_DELETED', { id: exp.id });
}

export function queryBlockExports(core: SimCore): unknown[] {
  return (
    [...core.exports.values()]
      .reverse()
      // the node the export's BlockBackend sits on now (a filter inserted above it takes its place)
      .map((e) => ({
        type: e.type,
        id: e.id,
        'node-name': e.blk.bs?.nodeName ?? e.nodeName,
        'shutting-down': e.shuttingDown,
      }))
  );
}

/**
 * nbd-server-add (deprecated): the node is looked up first (as a device or node name), the name defaults
 * to the device argument and is the export id too; a read-only node is silently exported read-only.
 */
export function nbdServerAdd(
  core: SimCore,
  a: { device: string; name?: string; description?: string; writable?: boolean; bitmap?: string },
): void {
  const bs = lookupBs(core, a.device, a.device);
  const name = a.name ?? a.device;
  blockExportAdd(core, {
    id: name,
    nodeName: bs.nodeName,
    name,
    description: a.description,
    writable: bs.readOnly ? false : a.writable,
    bitmaps: a.bitmap ? [a.bitmap] : undefined,
    legacy: true,
  });
}

/** nbd-server-remove (deprecated): block-export-del of the export whose id is the name */
export function nbdServerRemove(core: SimCore, name: string, mode: 'safe' | 'hard' = 'safe'): void {
  blockExportDel(core, name, mode);
}
