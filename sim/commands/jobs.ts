import type { CommandArgs } from '../../contract/qapi/generated/commands.ts';
import { text } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import { BlockJob } from '../jobs/block-job.ts';
import { type Job, jobsOf } from '../jobs/job.ts';
import { MirrorJob } from '../jobs/mirror.ts';
import { generic, QmpError } from '../util/qmp-error.ts';

/** job-* commands find any job; block-job-* only block jobs, with DeviceNotActive when missing. */
function findJob(core: SimCore, id: string): Job {
  const j = jobsOf(core).get(id);
  if (!j) throw generic(text(core.version, 'job.notFound'));
  return j;
}

function findBlockJob(core: SimCore, id: string): BlockJob {
  const j = jobsOf(core).get(id);
  if (!(j instanceof BlockJob))
    throw new QmpError('DeviceNotActive', text(core.version, 'blockjob.notFound', id));
  return j;
}

export function blockJobCancel(core: SimCore, device: string, force = false): void {
  const j = findBlockJob(core, device);
  if (j.userPaused && !force) throw generic(`The block job for device '${device}' is currently paused`);
  j.userCancel(force);
}

export const jobVerbs = {
  'block-job-pause': (core: SimCore, id: string) => findBlockJob(core, id).userPause(),
  'block-job-resume': (core: SimCore, id: string) => findBlockJob(core, id).userResume(),
  'block-job-complete': (core: SimCore, id: string) => findBlockJob(core, id).userComplete(),
  'block-job-finalize': (core: SimCore, id: string) => findBlockJob(core, id).userFinalize(),
  'block-job-dismiss': (core: SimCore, id: string) => findBlockJob(core, id).userDismiss(),
  'job-cancel': (core: SimCore, id: string) => findJob(core, id).userCancel(true),
  'job-pause': (core: SimCore, id: string) => findJob(core, id).userPause(),
  'job-resume': (core: SimCore, id: string) => findJob(core, id).userResume(),
  'job-complete': (core: SimCore, id: string) => findJob(core, id).userComplete(),
  'job-finalize': (core: SimCore, id: string) => findJob(core, id).userFinalize(),
  'job-dismiss': (core: SimCore, id: string) => findJob(core, id).userDismiss(),
} as const;

/** block-job-change (8.2): the verb, then the job type's own change */
export function blockJobChange(core: SimCore, args: CommandArgs<'block-job-change'>): void {
  const j = findBlockJob(core, args.id);
  j.applyVerb('change');
  if (!j.supportsChange || !(j instanceof MirrorJob)) throw generic('Job type does not support change');
  // the options of another job type say no copy mode
  j.change(args.type === 'mirror' ? args['copy-mode'] : undefined);
}

export function blockJobSetSpeed(core: SimCore, device: string, speed: number): void {
  findBlockJob(core, device).setSpeed(speed);
}

/** query-jobs: newest first (QEMU keeps jobs in a list it inserts at the head of) */
export function queryJobs(core: SimCore): unknown[] {
  return [...jobsOf(core).values()].reverse().map((j) => {
    const o: Record<string, unknown> = {
      id: j.id,
      type: j.type,
      status: j.status,
      'current-progress': j.progressCurrent,
      'total-progress': j.progressTotal,
    };
    if (j.error !== undefined && ['aborting', 'concluded', 'null'].includes(j.status)) o.error = j.error;
    return o;
  });
}

export function queryBlockJobs(core: SimCore): unknown[] {
  return [...jobsOf(core).values()]
    .reverse()
    .filter((j): j is BlockJob => j instanceof BlockJob)
    .map((j) => j.info());
}
