import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimCore } from '../core.ts';
import { BlockBackend } from '../graph.ts';
import type { BlockExport } from '../nbd-state.ts';
import { PERM, PERM_ALL } from '../perm.ts';
import { generic } from '../qmp-error.ts';
import { text } from '../../spec/versions.ts';
import { idWellformed, lookupBs } from './common.ts';

const NBD_MAX_STRING_SIZE = 4096;

/**
 * NBD server and block exports as QMP sees them (blockdev-nbd.c, block/export/export.c). The socket side
 * (sim/serve) listens through `core.nbdListen` when the simulator runs as a process.
 */
export function nbdServerStart(core: SimCore, addr: { type: string; data: Record<string, unknown> }, maxConnections = 0): void {
  if (core.nbd) throw generic(text(core.version, 'nbd.alreadyRunning'));
  if (addr.type === 'unix') {
    const p = String(addr.data.path ?? '');
    if (core.fs.kind === 'real' && !fs.existsSync(path.dirname(path.resolve(p))))
      throw generic(`Failed to bind socket to ${p}: No such file or directory`);
  }
  core.nbdListen?.(addr);
  core.nbd = { addr, maxConnections };
}

export function nbdServerStop(core: SimCore): void {
  if (!core.nbd) throw generic('NBD server not running');
  const list = [...core.exports.values()];
  // 5.2 and 7.2 remove exports in creation order, 10.0 and later newest first (seen on the wire)
  const order = core.version.features.has('nbd-extended-headers') ? list.reverse() : list;
  for (const e of order) removeExport(core, e);
  core.nbdUnlisten?.();
  core.nbd = undefined;
}

export interface ExportArgs {
  id: string;
  nodeName: string;
  name?: string;
  description?: string;
  writable?: boolean;
  bitmaps?: (string | { node: string; name: string })[];
  allocationDepth?: boolean;
  legacy: boolean;
}

/** blk_exp_add + nbd_export_create */
export function blockExportAdd(core: SimCore, a: ExportArgs): void {
  if (!idWellformed(a.id)) throw generic('Invalid block export id');
  if (core.exports.has(a.id)) throw generic(`Block export id '${a.id}' is already in use`);
  const bs = lookupBs(core, undefined, a.nodeName);
  let perm = PERM.CONSISTENT_READ;
  if (a.writable) perm |= PERM.WRITE;
  const blk = new BlockBackend(undefined, 'an unnamed block device', perm, PERM_ALL);
  core.graph.attach({ kind: 'blk', blk }, bs, 'root', 'other');
  core.addBlk(blk);
  const undo = () => core.removeBlk(blk);
  try {
    core.refreshPerms();
    if (!core.nbd) throw generic('NBD server not running');
    const name = a.name ?? a.id;
    if (name.length > NBD_MAX_STRING_SIZE) throw generic(`export name '${name}' too long`);
    if (a.description && a.description.length > NBD_MAX_STRING_SIZE)
      throw generic(`description '${a.description}' too long`);
    if ([...core.exports.values()].some((e) => e.name === name))
      throw generic(text(core.version, 'nbd.exportNameInUse', name));
    if (a.writable && bs.readOnly) throw generic('Cannot export read-only node as writable');
    const bitmaps: { node: string; name: string }[] = [];
    for (const b of a.bitmaps ?? []) {
      if (typeof b === 'string') {
        // searched down the backing chain, like nbd_export_create does
        let n: typeof bs | undefined = bs;
        let found = false;
        for (let i = 0; n && i < 64; i++) {
          if (n.bitmaps.has(b)) {
            bitmaps.push({ node: n.nodeName, name: b });
            found = true;
            break;
          }
          n = n.driver.isFilter ? n.file : n.backing;
        }
        if (!found) throw generic(`Bitmap '${b}' is not found`);
      } else {
        const n = core.graph.find(b.node);
        if (!n?.bitmaps.has(b.name)) throw generic(`Bitmap '${b.name}' is not found`);
        bitmaps.push(b);
      }
    }
    // Don't allow resize while the NBD server is running.
    blk.shared = PERM_ALL & ~PERM.RESIZE;
    core.refreshPerms();
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
    core.exports.set(a.id, exp);
  } catch (e) {
    undo();
    throw e;
  }
}

export function blockExportDel(core: SimCore, id: string, mode: 'safe' | 'hard' = 'safe'): void {
  const exp = core.exports.get(id);
  if (!exp || exp.shuttingDown) throw generic(text(core.version, 'export.notFound', id));
  if (mode === 'safe' && exp.clients > 0) throw generic(`export '${id}' still in use`);
  removeExport(core, exp);
}

function removeExport(core: SimCore, exp: BlockExport): void {
  exp.shuttingDown = true;
  core.exportClosing?.(exp);
  core.exports.delete(exp.id);
  core.removeBlk(exp.blk);
  try {
    core.refreshPerms();
  } catch {
    // dropping a user cannot conflict
  }
  core.events.emit('BLOCK_EXPORT_DELETED', { id: exp.id });
}

export function queryBlockExports(core: SimCore): unknown[] {
  return [...core.exports.values()]
    .reverse()
    .map((e) => ({ type: e.type, id: e.id, 'node-name': e.nodeName, 'shutting-down': e.shuttingDown }));
}

/** nbd-server-add (deprecated): an NBD export whose id is its name */
export function nbdServerAdd(
  core: SimCore,
  a: { device: string; name?: string; description?: string; writable?: boolean; bitmap?: string },
): void {
  if (!core.nbd) throw generic('NBD server not running');
  const bs = lookupBs(core, a.device, a.device);
  const name = a.name ?? a.device;
  blockExportAdd(core, {
    id: name,
    nodeName: bs.nodeName,
    name,
    description: a.description,
    writable: a.writable,
    bitmaps: a.bitmap ? [a.bitmap] : undefined,
    legacy: true,
  });
}

export function nbdServerRemove(core: SimCore, name: string, mode: 'safe' | 'hard' = 'safe'): void {
  if (!core.nbd) throw generic('NBD server not running');
  const exp = [...core.exports.values()].find((e) => e.name === name);
  if (!exp) throw generic(text(core.version, 'export.notFound', name));
  blockExportDel(core, exp.id, mode);
}
