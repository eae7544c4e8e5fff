/**
 * The property catalogue: what an image-fleecing API can promise. A proposal claims some of them; the
 * checker tests every claimed one, and reports the others as not claimed (with the capability that is
 * missing). `exercised` says which runs test a property: a verdict counts only those, and a property no run
 * reached is "not exercised", never "holds".
 */
export const PROPERTY_INFO = {
  'point-in-time': {
    text: 'every byte read from a job’s export equals the disk at that job’s start',
    exercised: 'runs that read an export',
  },
  'common-point-in-time': {
    text: 'all disks of one job show one common point in time',
    exercised: 'runs that read two disks of one job',
  },
  isolation: {
    text: 'starting, reading or ending one job never changes what another job’s reader sees',
    exercised: 'runs that changed one job while another one was readable',
  },
  'job-identity': {
    text: 'stats and abort by id touch only that job; an id is never reused while its job is alive',
    exercised: 'runs that addressed a job by its id while another job was alive',
  },
  'concurrent-points-in-time': {
    text: 'several clients can each hold their own point in time of the same disks at once',
    exercised: 'runs that started a job while another one was alive',
  },
  'clean-teardown': {
    text: 'after every job ended: no node, export, bitmap or block job is left, and guest data is intact',
    exercised: 'runs that ended every job they started',
  },
  'guest-writes-never-fail': {
    text: 'guest writes never fail or block because of fleecing',
    exercised: 'runs where the guest wrote while a job was alive',
  },
  'safe-teardown': {
    text: 'no reader ever sees data newer than its point in time, also while a job is being ended',
    exercised: 'runs that ended a readable job',
  },
  'teardown-accepted': {
    text: 'every call that ends a job is accepted by QEMU',
    exercised: 'runs that ended a job',
  },
  'pivot-identical': {
    text: 'a pivot leaves the guest on a copy byte-identical to everything it wrote',
    exercised: 'runs that pivoted',
  },
  'misuse-refused': {
    text: "a call the API's state machine does not accept gets a clean error and changes nothing in QEMU",
    exercised: 'runs that made an illegal call',
  },
  'end-releases': {
    text: 'ending a job releases it: its filter leaves the guest’s write path and its scratch stops growing',
    exercised: 'runs that ended a job',
  },
  'incremental-complete': {
    text: 'every cluster the guest wrote since checkpoint N is marked in the dirty bitmap the incremental backup from N exports (a missing one is data loss)',
    exercised: 'runs that read the dirty map of an incremental backup',
  },
  'incremental-tight': {
    text: 'the share of clusters an incremental backup marks that the guest did not write since its checkpoint (reported)',
    exercised: 'runs that read the dirty map of an incremental backup',
  },
  'checkpoint-survives-restart': {
    text: 'after a clean QEMU quit and a start on the same images, an incremental from an older checkpoint still covers every write',
    exercised: 'runs that took an incremental from a checkpoint older than a clean restart',
  },
  'crash-detected': {
    text: 'after kill -9 of QEMU, an incremental from an older checkpoint covers every write or says a full backup is needed; it never exports an incomplete map as whole',
    exercised: 'runs that asked for an incremental from a checkpoint older than a crash',
  },
  'checkpoint-delete-merges': {
    text: 'deleting a checkpoint (a middle one too) leaves the next incremental from an older one complete',
    exercised: 'runs that took an incremental from a checkpoint after a newer one was deleted',
  },
  'independent-chains': {
    text: 'two backup chains (two destinations) do not disturb each other: creating, deleting or backing up in one leaves the other’s incrementals complete',
    exercised: 'runs that took an incremental in one chain after the other chain changed',
  },
} as const;

export type PropertyId = keyof typeof PROPERTY_INFO;
export const PROPERTY_IDS = Object.keys(PROPERTY_INFO) as PropertyId[];
export const PROPERTIES: Record<PropertyId, string> = Object.fromEntries(
  PROPERTY_IDS.map((p) => [p, PROPERTY_INFO[p].text]),
) as Record<PropertyId, string>;
