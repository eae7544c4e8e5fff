/**
 * The property catalogue: what an image-fleecing API can promise. A proposal claims some of them; the
 * checker tests every claimed one, and reports the others as not claimed (with the capability that is missing).
 */
export const PROPERTIES = {
  'point-in-time': 'every byte read from a job’s export equals the disk at that job’s start',
  'common-point-in-time': 'all disks of one job show one common point in time',
  isolation: 'starting, reading or ending one job never changes what another job’s reader sees',
  'job-identity': 'stats and abort by id touch only that job; an id is never reused while its job is alive',
  'concurrent-points-in-time':
    'several clients can each hold their own point in time of the same disks at once',
  'clean-teardown':
    'after every job ended: no node, export, bitmap or block job is left, and guest data is intact',
  'guest-writes-never-fail': 'guest writes never fail or block because of fleecing',
  'safe-teardown': 'no reader ever sees data newer than its point in time, also while a job is being ended',
  'teardown-accepted': 'every call that ends a job is accepted by QEMU',
  'pivot-identical': 'a pivot leaves the guest on an identical copy of its disk',
} as const;

export type PropertyId = keyof typeof PROPERTIES;
export const PROPERTY_IDS = Object.keys(PROPERTIES) as PropertyId[];
