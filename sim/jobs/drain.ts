import type { SimCore } from '../core/core.ts';
import { BlockJob } from './block-job.ts';
import { type Job, jobsOf } from './job.ts';

/**
 * bdrv_drain_all_begin and _end as block jobs see them: every block job (in the job list's order) is
 * paused, then every one resumed. A running job goes to paused and back, a ready one to standby and back
 * (7.2+, whose job_pause enters a sleeping job); 5.2's jobs pause only at their next pause point, which
 * comes after the drain has ended, so nothing shows.
 */
export function drainAllBlockJobs(core: SimCore, except?: Job): void {
  const jobs = [...jobsOf(core).values()].filter((j): j is BlockJob => j instanceof BlockJob && j !== except);
  for (const j of jobs) j.pause();
  for (const j of jobs) j.resume();
}
