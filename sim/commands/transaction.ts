import type { CommandArgs } from '../../contract/qapi/generated/commands.ts';
import { hasFeature, text } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import { drainAllBlockJobs } from '../jobs/drain.ts';
import { JobTxn } from '../jobs/job.ts';
import { generic } from '../util/qmp-error.ts';
import { prepareBackup } from './backup.ts';
import { bitmapAdd, bitmapClear, bitmapEnable, bitmapMerge, bitmapRemove } from './bitmaps.ts';

interface Prepared {
  commit(): void;
  abort(): void;
  clean(): void;
}

export type TransactionAction = CommandArgs<'transaction'>['actions'][number];

/**
 * qmp_transaction: every action prepares in order; one failure aborts the prepared ones in reverse;
 * otherwise all commit, then all clean. All jobs of a grouped transaction share one JobTxn.
 */
export function transaction(core: SimCore, args: CommandArgs<'transaction'>): void {
  const grouped = args.properties?.['completion-mode'] === 'grouped';
  const txn = grouped ? new JobTxn() : undefined;
  const prepared: Prepared[] = [];
  // 8.1 moved qmp_transaction onto util/transactions.c, whose list runs newest action first
  const tranApi = hasFeature(core.version, 'transaction-tran-api');
  const reverse = tranApi;
  const backupAction = (t: string) => t === 'blockdev-backup' || t === 'drive-backup';
  if (grouped && tranApi) {
    // checked up front, before anything is prepared
    const bad = args.actions.find((a) => !backupAction(a.type));
    if (bad) throw generic(text(core.version, 'transaction.groupedUnsupported', bad.type));
  }
  // bdrv_drain_all() before any action (a ready mirror goes to standby and back, seen on 7.2 as libvirt's
  // blockcopy adds its bitmap before the pivot)
  drainAllBlockJobs(core);
  try {
    for (const action of args.actions) {
      // before 8.1 each action's prepare checked the mode itself; abort and the backups did not
      if (grouped && !tranApi && !backupAction(action.type) && action.type !== 'abort')
        throw generic(text(core.version, 'transaction.groupedUnsupported', action.type));
      prepared.push(prepare(core, action, txn));
    }
  } catch (e) {
    for (const p of [...prepared].reverse()) p.abort();
    for (const p of reverse ? [...prepared].reverse() : prepared) p.clean();
    throw e;
  }
  for (const p of reverse ? [...prepared].reverse() : prepared) p.commit();
  for (const p of reverse ? [...prepared].reverse() : prepared) p.clean();
}

const noop = () => {};

export function prepare(core: SimCore, action: TransactionAction, txn?: JobTxn): Prepared {
  switch (action.type) {
    case 'abort':
      throw generic(text(core.version, 'transaction.aborted'));
    case 'blockdev-backup':
    case 'drive-backup': {
      const p = prepareBackup(core, action, txn);
      let started = false;
      return {
        // The action drains the source from prepare to clean: a started job pauses at once, then resumes.
        commit: () => {
          p.job.start();
          started = true;
          p.job.pause();
        },
        abort: () => p.abort(),
        clean: () => {
          if (started) p.job.resume();
        },
      };
    }
    case 'block-dirty-bitmap-add': {
      const undo = bitmapAdd(core, action.data);
      return { commit: noop, abort: undo, clean: noop };
    }
    case 'block-dirty-bitmap-remove': {
      const a = action.data;
      const r = bitmapRemove(core, a.node, a.name);
      return { commit: r.commit, abort: r.undo, clean: noop };
    }
    case 'block-dirty-bitmap-clear': {
      const a = action.data;
      return { commit: noop, abort: bitmapClear(core, a.node, a.name), clean: noop };
    }
    case 'block-dirty-bitmap-enable':
    case 'block-dirty-bitmap-disable': {
      const a = action.data;
      return {
        commit: noop,
        abort: bitmapEnable(core, a.node, a.name, action.type.endsWith('enable')),
        clean: noop,
      };
    }
    case 'block-dirty-bitmap-merge':
      return { commit: noop, abort: bitmapMerge(core, action.data), clean: noop };
    default:
      throw generic(`fleece-lab: transaction action '${action.type}' is not simulated`);
  }
}
