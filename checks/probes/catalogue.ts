import type { ProbeFix } from '../../contract/formats/probes.ts';
import type { Feature } from '../../contract/versions.ts';
import {
  cbwTimeout,
  groupedUpFront,
  handshakeLimit,
  hbitmapStatus,
  maxConnections,
  ratelimitKicks,
  strayClient,
} from '../conformance/runbooks/probes.ts';
import {
  type Decision,
  decided,
  errorOf,
  heldSteps,
  isStuck,
  nbdStep,
  type ProbeTranscript,
  qmpStep,
  refusedAsUnknown,
  short,
  undecided,
} from './transcript.ts';

/**
 * The known-bug probes: for a backporter, "does this build carry fix X?" answered from behaviour. Each entry
 * names the bug, the upstream fix (commit, first release, stable backports), the versions affected, the
 * runbook that shows it (checks/conformance/runbooks/probes.ts, recorded on every real version) and one
 * small function that reads that runbook's transcript and decides: fixed, present, broken (the fix shows but
 * the target misbehaves), not applicable (the feature is absent) or inconclusive. `switches` are the
 * version-table features that put the bug into (or take it out of) a simulator profile.
 */
export interface Probe {
  id: string;
  bug: string;
  /** bug: a defect; cve: a security fix; change: a behaviour a management layer sees changed on purpose */
  kind: 'bug' | 'cve' | 'change';
  fix: ProbeFix;
  affected: string;
  runbook: string;
  switches: { feature: Feature; means: 'bug' | 'fix' }[];
  decide(t: ProbeTranscript): Decision;
}

/** NBD_STATE_ZERO in a base:allocation extent's flags */
const STATE_ZERO = 2;

function decideHbitmapStatus(t: ProbeTranscript): Decision {
  for (const driver of ['copy-before-write', 'snapshot-access']) {
    const s = qmpStep(t, 'blockdev-add', (a) => a.driver === driver);
    if (!s) return undecided(`no blockdev-add of ${driver} in the transcript`);
    if (refusedAsUnknown(s, [driver]))
      return decided('not-applicable', s, errorOf(s), `this QEMU has no ${driver} driver`);
    if (errorOf(s)) return decided('inconclusive', s, errorOf(s), `the ${driver} node was refused`);
  }
  const write = nbdStep(t, 'guest');
  const w = write?.nbd as { writes?: string[] } | undefined;
  if (!write || w?.writes?.[0] !== 'ok')
    return undecided("the guest's write through the filter did not succeed", w);
  const read = nbdStep(t, 'fleece');
  const r = (read?.nbd as { reads?: { data?: string; extents?: [number, number, number][] }[] } | undefined)
    ?.reads?.[0];
  if (!read || !r?.extents) return undecided('no block status of the point in time', read?.nbd);
  if (r.data !== '0x00*131072')
    return decided('inconclusive', read, r.data, 'the point in time does not read as the zeroes it was');
  const data = r.extents.filter((x) => (x[2] & STATE_ZERO) === 0);
  if (data.length > 0)
    return decided(
      'present',
      read,
      r.extents,
      `block status reports data at ${data.map((x) => `${x[0]}+${x[1]}`).join(', ')}, where the point in time is a hole: the copied cluster was answered from the live disk`,
    );
  return decided('fixed', read, r.extents, 'block status of the point in time is zero all over, as it was');
}

function decideCbwTimeout(t: ProbeTranscript): Decision {
  const cbw = qmpStep(t, 'blockdev-add', (a) => a.driver === 'copy-before-write');
  if (!cbw) return undecided('no blockdev-add of copy-before-write in the transcript');
  if (refusedAsUnknown(cbw, ['copy-before-write', 'cbw-timeout']))
    return decided(
      'not-applicable',
      cbw,
      errorOf(cbw),
      'this QEMU has no copy-before-write with cbw-timeout',
    );
  if (errorOf(cbw)) return decided('inconclusive', cbw, errorOf(cbw), 'the filter was refused');
  const fill = (nbdStep(t, 'fill')?.nbd as { writes?: string[] } | undefined)?.writes?.[0];
  if (fill !== 'ok') return undecided('the write that fills the throttle bucket did not succeed', fill);
  const guest = nbdStep(t, 'guest');
  const w = (guest?.nbd as { writes?: string[] } | undefined)?.writes?.[0];
  if (!guest || w === undefined) return undecided('no guest write through the filter', guest?.nbd);
  if (w === 'ok')
    return decided(
      'fixed',
      guest,
      w,
      'the copy (about 2.9 s behind the throttle) finished within cbw-timeout=5',
    );
  return decided(
    'present',
    guest,
    w,
    'the guest write failed although the copy needs only about 2.9 s of the 5 s: the timeout wrapped (5 s as uint32 ns is 0.705 s)',
  );
}

/** the first nbdHold step of `name` greeted every connection */
function allGreeted(t: ProbeTranscript, name: string): Decision | undefined {
  const hold = heldSteps(t, 'nbdHold', name)[0];
  const n = hold?.nbd as { greeted?: number; of?: number } | undefined;
  if (!hold || n?.greeted !== n?.of) return undecided('the server did not greet the held connection', n);
  return undefined;
}

function decideStrayClient(t: ProbeTranscript): Decision {
  const notGreeted = allGreeted(t, 'idle');
  if (notGreeted) return notGreeted;
  const stop = qmpStep(t, 'nbd-server-stop');
  if (!stop) return undecided('no nbd-server-stop in the transcript');
  if (isStuck(stop))
    return decided(
      'broken',
      stop,
      stop.reply,
      'nbd-server-stop never answered while a client was in the handshake: the monitor hangs (a denial of service, as the CVE), where fixed versions answer at once and close the client',
    );
  if (errorOf(stop)) return decided('inconclusive', stop, errorOf(stop), 'nbd-server-stop was refused');
  const held = heldSteps(t, 'nbdHeld', 'idle')[0];
  const n = held?.nbd as { closed?: number; of?: number } | undefined;
  if (!held || n?.of !== 1) return undecided('no look at the held connection after nbd-server-stop');
  if (n.closed === 1)
    return decided('fixed', held, n, 'the server closed the client that was in the handshake');
  return decided('present', held, n, 'the client in the handshake stayed connected to a stopped server');
}

function decideHandshakeLimit(t: ProbeTranscript): Decision {
  const notGreeted = allGreeted(t, 'idle');
  if (notGreeted) return notGreeted;
  const [early, late] = heldSteps(t, 'nbdHeld', 'idle');
  const e = early?.nbd as { closed?: number } | undefined;
  const l = late?.nbd as { closed?: number } | undefined;
  if (!early || !late) return undecided('the held connection was not looked at twice');
  if (e?.closed !== 0)
    return decided(
      'inconclusive',
      early,
      e,
      'the server dropped the silent client within 5 s, before any limit',
    );
  if (l?.closed === 1)
    return decided(
      'fixed',
      late,
      l,
      'the server dropped the client that did not negotiate, between 5 s and 13 s',
    );
  return decided('present', late, l, 'a client that never negotiates is still connected after 13 s');
}

function decideMaxConnections(t: ProbeTranscript): Decision {
  const hold = heldSteps(t, 'nbdHold', 'crowd')[0];
  const n = hold?.nbd as { greeted?: number; of?: number } | undefined;
  if (!hold || n?.of !== 101) return undecided('no crowd of 101 connections in the transcript');
  if (n.greeted === 100)
    return decided('fixed', hold, n, 'the 101st client got no greeting: the default cap of 100 holds');
  if (n.greeted === 101) return decided('present', hold, n, 'all 101 clients were greeted: no default cap');
  return decided('inconclusive', hold, n, 'neither 100 nor 101 clients were greeted');
}

function decideGroupedUpFront(t: ProbeTranscript): Decision {
  const mixed = qmpStep(t, 'transaction', (a) => (a.actions as unknown[]).length === 2);
  const abort = qmpStep(t, 'transaction', (a) => (a.actions as { type: string }[])[0]?.type === 'abort');
  if (!mixed || !abort) return undecided('the two grouped transactions are not in the transcript');
  if (!errorOf(mixed))
    return decided('inconclusive', mixed, mixed.reply, 'the grouped transaction was taken');
  const jobEvents = t.events.filter((e) => (e.data as { id?: string } | undefined)?.id === 'gb');
  const abortText = errorOf(abort) ?? '';
  const refusedAbort = /Action 'abort' does not support transaction property/i.test(abortText);
  const ranAbort = /Transaction aborted using Abort action/.test(abortText);
  if (jobEvents.length > 0 && ranAbort)
    return decided(
      'present',
      mixed,
      jobEvents.map((e) => (e.data as { status: string }).status),
      'the refused transaction created and tore down job gb first (JOB_STATUS_CHANGE events of a job the caller never got), and abort was run as an action',
    );
  if (jobEvents.length === 0 && refusedAbort)
    return decided(
      'fixed',
      abort,
      abortText,
      'refused before any action was prepared: no job events, and abort is refused as a grouped action',
    );
  return decided(
    'inconclusive',
    abort,
    `${abortText}; job events: ${short(jobEvents)}`,
    'the job events and the abort reply disagree',
  );
}

function decideRatelimit(t: ProbeTranscript): Decision {
  const start = qmpStep(t, 'blockdev-mirror');
  if (!start) return undecided('no blockdev-mirror in the transcript');
  if (errorOf(start)) return decided('inconclusive', start, errorOf(start), 'the mirror was refused');
  const q = qmpStep(t, 'query-block-jobs');
  const job = (q?.reply as { return?: { offset?: number }[] } | undefined)?.return?.[0];
  if (!q || job?.offset === undefined) return undecided('no running mirror to look at', q?.reply);
  const chunks = job.offset / 65536;
  if (chunks === 1)
    return decided(
      'fixed',
      q,
      { offset: job.offset },
      'the four early wakeups copied nothing: the job slept out its delay',
    );
  if (chunks >= 3)
    return decided(
      'present',
      q,
      { offset: job.offset },
      `${chunks} chunks copied in the first second at 32 KiB/s (one allowed): each early wakeup copied another`,
    );
  return decided('inconclusive', q, { offset: job.offset }, 'neither one chunk nor one per wakeup');
}

const CVE_2024_7409 = {
  release: '9.1.0',
  backports: ['9.0.3', '8.2.7', '7.2.14'],
};

export const PROBES: Probe[] = [
  {
    id: 'hbitmap-status-first-dirty',
    bug: 'block status of a snapshot-access point in time across a copied and an uncopied cluster is answered from the live disk (hbitmap_status() wrong when the first bit is dirty)',
    kind: 'bug',
    fix: {
      commit: 'a4d5224c2cb650b5a401d626d3f36e42e6987aa7',
      title: 'hbitmap: fix hbitmap_status() return value for first dirty bit case',
      release: '8.0.0',
      backports: [],
    },
    affected: '7.0 to 7.2 (snapshot-access); not in 7.2 stable (7.2.22 has the bug)',
    runbook: hbitmapStatus.id,
    switches: [{ feature: 'hbitmap-status-first-dirty-bug', means: 'bug' }],
    decide: decideHbitmapStatus,
  },
  {
    id: 'cbw-timeout-uint32',
    bug: 'copy-before-write keeps cbw-timeout in nanoseconds as a uint32: a timeout above 4 s wraps (5 s fires after 0.705 s) and fails guest writes early',
    kind: 'bug',
    fix: {
      commit: '10b1e09ed3c40baf9fe074e0c70a7a3b783839ff',
      title: 'block/copy-before-write: use uint64_t for timeout in nanoseconds',
      release: '9.1.0',
      backports: [],
    },
    affected: '7.1 (cbw-timeout) to 9.0; not in 7.2 stable (7.2.22 has the bug)',
    runbook: cbwTimeout.id,
    switches: [{ feature: 'cbw-timeout-uint32-bug', means: 'bug' }],
    decide: decideCbwTimeout,
  },
  {
    id: 'cve-2024-7409-stray-clients',
    bug: 'CVE-2024-7409: nbd-server-stop leaves a client that is still in the handshake connected to the freed server (denial of service, use after free)',
    kind: 'cve',
    fix: {
      commit: '3e7ef738c8462c45043a1d39f702a0990406a3b3',
      title: 'nbd/server: CVE-2024-7409: Close stray clients at server-stop',
      ...CVE_2024_7409,
    },
    affected:
      'every version before 9.1.0 without the backport; 7.2.22 closes the client but its nbd-server-stop then never returns (broken)',
    runbook: strayClient.id,
    switches: [
      { feature: 'nbd-server-stop-closes-clients', means: 'fix' },
      { feature: 'nbd-server-stop-handshake-hang-bug', means: 'bug' },
    ],
    decide: decideStrayClient,
  },
  {
    id: 'cve-2024-7409-handshake-limit',
    bug: 'CVE-2024-7409: a client that connects and never negotiates holds its connection for ever',
    kind: 'cve',
    fix: {
      commit: 'b9b72cb3ce15b693148bd09cef7e50110566d8a0',
      title: 'nbd/server: CVE-2024-7409: Drop non-negotiating clients',
      ...CVE_2024_7409,
    },
    affected:
      'every version before 9.1.0 without the backport (10 s; nbd-server-start takes handshake-max-seconds in 10.0 and 11.1, not in 7.2)',
    runbook: handshakeLimit.id,
    switches: [{ feature: 'nbd-handshake-limit', means: 'fix' }],
    decide: decideHandshakeLimit,
  },
  {
    id: 'cve-2024-7409-max-connections',
    bug: 'CVE-2024-7409: nbd-server-start without max-connections takes any number of clients',
    kind: 'cve',
    fix: {
      commit: 'c8a76dbd90c2f48df89b75bef74917f90a59b623',
      title: 'nbd/server: CVE-2024-7409: Cap default max-connections to 100',
      ...CVE_2024_7409,
    },
    affected: 'every version before 9.1.0 without the backport',
    runbook: maxConnections.id,
    switches: [{ feature: 'nbd-default-max-connections-100', means: 'fix' }],
    decide: decideMaxConnections,
  },
  {
    id: 'transaction-grouped-up-front',
    bug: 'a grouped transaction with a non-backup action prepares the backup before it refuses: JOB_STATUS_CHANGE events of a job that never existed for the caller, and abort runs as an action (error texts a management layer parses change too)',
    kind: 'change',
    fix: {
      commit: 'c85f34cf89edb8e7bcdb35bc423da8a7e4b8c7ba',
      title: 'blockdev: transaction: refactor handling transaction properties',
      release: '8.1.0',
      backports: [],
    },
    affected: '2.5 (completion-mode) to 8.0',
    runbook: groupedUpFront.id,
    switches: [{ feature: 'transaction-tran-api', means: 'fix' }],
    decide: decideGroupedUpFront,
  },
  {
    id: 'job-ratelimit-early-wakeup',
    bug: 'a rate-limited block job (mirror, commit, stream) woken before its delay is over (set-speed, pause/resume, a drain) copies on at once: the speed limit is exceeded',
    kind: 'bug',
    fix: {
      commit: '018e5987b57589e6e9089c2d2ef31db4e7519fd5',
      title: 'blockjob: Adhere to rate limit even when reentered early',
      release: '8.1.0',
      backports: [],
    },
    affected: 'every version before 8.1 (5.2 and 7.2.22 have the bug)',
    runbook: ratelimitKicks.id,
    switches: [{ feature: 'job-ratelimit-sleep', means: 'fix' }],
    decide: decideRatelimit,
  },
];

// The catalogue checks itself: ids are unique, and so are the runbooks.
{
  const ids = new Set(PROBES.map((p) => p.id));
  const rbs = new Set(PROBES.map((p) => p.runbook));
  if (ids.size !== PROBES.length || rbs.size !== PROBES.length)
    throw new Error('probe catalogue: a duplicate');
}
