/**
 * The command table: every command of `fleece-lab`, its options and its help. bin/cli.ts dispatches on it
 * and bin/help.ts makes `--help` from it. Each run imports its implementation when it runs (`serve` must
 * start fast): this file loads nothing but the version list and the table's own types.
 */
import { QEMU_VERSIONS } from '../harness/qemu/install.ts';
import { type AnyCommand, defineCommand } from './command.ts';
import { DEV_COMMANDS } from './dev-commands.ts';

const SHARD = { type: 'string', arg: 'i/n' } as const;

/** With no command (`npx fleece-lab`, `npm start`): the main job. Unknown options are ignored, as always. */
export const MAIN_JOB = defineCommand({
  name: '',
  summary: 'the main job',
  lenient: true,
  options: {
    'sim-only': { type: 'boolean', help: 'the simulator only, not the real QEMUs found here' },
    out: { type: 'string', arg: 'DIR', default: 'reports/latest', help: 'where the reports go' },
  },
  run: async ({ values }) =>
    (await import('./main-job.ts')).runMainJob({
      simOnly: values['sim-only'] === true,
      // unknown options are not an error here, and neither is a bare --out
      out: typeof values.out === 'string' && values.out !== '' ? values.out : 'reports/latest',
    }),
});

const serve = defineCommand({
  name: 'serve',
  summary: 'the simulator as a drop-in qemu-storage-daemon or qemu-system-x86_64',
  usage: [
    'serve [--profile 5.2|7.2|10.0|11.1] [--seed N] [qemu-storage-daemon options]',
    'serve --flavour system [--profile V] [--seed N] [qemu-system-x86_64 options]',
  ],
  raw: true,
  description: `Runs the simulated QEMU block layer as a process that takes qemu-storage-daemon's own options:
  --chardev socket,path=P,server=on,wait=off,id=ID  --monitor chardev=ID
  --blockdev JSON|key=value   --nbd-server addr.type=unix,addr.path=P   --export type=nbd,...
  --pidfile FILE
It exits on QMP 'quit' and on SIGTERM/SIGINT, removing the sockets it created.
'fleece-lab serve --help' is qemu-storage-daemon's own help.
With --flavour system it takes qemu-system-x86_64's options instead (-M q35|pc|none, -accel, -S,
-display none, -nodefaults, -qmp, -chardev socket,...[,fd=N] with -mon, -blockdev, -device virtio-blk-pci
and pcie-root-port, -object, -pidfile, -daemonize, -name, -uuid, -m, -smp, -cpu, -rtc, -no-shutdown, -boot,
-msg, -sandbox, -overcommit, -global, ...), enough for real libvirt to run a domain on it;
'fleece-lab serve --flavour system -h' is qemu-system-x86_64's own help.`,
  options: {
    // read by serve itself (sim/serve/serve.ts, qsd-options.ts, system-options.ts), with these defaults
    flavour: {
      type: 'string',
      arg: 'qsd|system',
      default: 'qsd',
      help: 'which program to be: qemu-storage-daemon or qemu-system-x86_64',
    },
    profile: {
      type: 'string',
      arg: 'V',
      default: '7.2',
      help: 'the QEMU version the simulator behaves as (5.2, 7.2, 10.0, 11.1)',
    },
    seed: { type: 'string', arg: 'N', default: '1', help: 'the seed of every choice the simulator makes' },
  },
  run: async ({ argv }) => (await import('./serve.ts')).main(argv),
});

const conform = defineCommand({
  name: 'conform',
  summary: 'run the conformance suite against a target',
  description: `Each check runs on the target and is compared with the recording of real QEMU of the same version.
A real target that dies, hangs up or stops answering fails the check with one line (e.g. "qemu-storage-daemon
(pid N) was killed by SIGKILL during step 7 (query-jobs)"), without a retry; the next check gets a fresh one.
Each QMP reply is awaited at most $FLEECE_LAB_QMP_TIMEOUT_MS (default 10000); past it the target is reported
stuck and killed (SIGTERM, 3 s, SIGKILL). Attach mode runs one check at a time.
Exit status: 0 when every check meets the baseline (or passes, without one), 1 otherwise, 2 on bad usage.`,
  options: {
    target: {
      type: 'string',
      arg: 'T',
      required: true,
      help: `sim[:PROFILE] | qsd[:BINARY_OR_ROOT_OR_VERSION] | system[:BINARY_OR_ROOT_OR_VERSION]
| qemu[:...] (both programs of one QEMU, each runbook on the one it needs)
| serve[:PROFILE] (the simulator as a process)
| qmp:SOCKET (attach to a running QEMU: only what a check creates is touched and removed; a check naming anything that existed before is skipped)`,
    },
    json: { type: 'string', arg: 'F', help: 'the results as JSON' },
    junit: { type: 'string', arg: 'F', help: 'the results as JUnit XML' },
    md: { type: 'string', arg: 'F', help: 'the results as Markdown' },
    baseline: {
      type: 'string',
      arg: 'F',
      help: 'a results file: exit 1 only when a check is worse than there',
    },
    only: { type: 'string', arg: 'PATTERN', help: 'only the checks whose id contains or matches PATTERN' },
    jobs: { type: 'string', arg: 'N', default: '1', help: 'checks at once' },
    traces: { type: 'string', arg: 'DIR', help: "every check's requests, replies and events as JSONL" },
    'allow-live-vm': {
      type: 'boolean',
      default: false,
      help: 'qmp:SOCKET: attach even to an endpoint with guest devices (refused otherwise)',
    },
    shard: {
      ...SHARD,
      help: "only every n-th check of the list, starting at the i-th ('fleece-lab merge' joins the shards)",
    },
  },
  run: async ({ values }) => (await import('./conform-cmd.ts')).cmdConform(values),
});

const probe = defineCommand({
  name: 'probe',
  summary: 'which known-bug fixes a QEMU build carries, told from its behaviour',
  description: `Runs the known-bug probes on a target: for each bug of the catalogue (checks/probes) its upstream fix
(commit, release, stable backports), the versions affected, and whether this build carries the fix, decided
from behaviour alone: fixed, present, broken (the fix shows but the target misbehaves there), not-applicable
(the feature is absent) or inconclusive. Each probe's evidence names the runbook step and the reply, bytes
or events that decided it. The version number cannot answer this: a distribution's 7.2 carries stable and
distribution patches. 'fleece-lab diff A.json B.json' of two --json files shows a fix lost.
Exit status: 0 when every probe decided, 1 when one is inconclusive, 2 on bad usage.`,
  options: {
    target: {
      type: 'string',
      arg: 'T',
      required: true,
      help: 'as conform takes it: sim[:PROFILE] | serve[:PROFILE] | qsd[:...] | qemu[:...] | qmp:SOCKET',
    },
    json: { type: 'string', arg: 'F', help: 'the results as JSON (kind "probes")' },
    md: { type: 'string', arg: 'F', help: 'the results as Markdown' },
    only: { type: 'string', arg: 'TEXT', help: 'only the probes whose id or runbook contains TEXT' },
    switch: {
      type: 'string',
      arg: 'FEATURE',
      multiple: true,
      help: 'sim targets: switch a feature of the version table the other way (a bug in, or its fix out)',
    },
    'allow-live-vm': {
      type: 'boolean',
      default: false,
      help: 'qmp:SOCKET: attach even to an endpoint with guest devices (refused otherwise)',
    },
  },
  run: async ({ values }) => (await import('./probe-cmd.ts')).cmdProbe(values),
});

const check = defineCommand({
  name: 'check',
  summary: 'property-test API proposals against the simulator',
  args: '[PROPOSAL_FILE_OR_NAME...]',
  description: `Property-tests API proposals on a domain of the simulator — a running VM by default (qemu-system, a virtio-blk
device per disk, the guest writing through it), or a qemu-storage-daemon (--domain qsd). fast-check drives
each session through the proposal's own API state machine (calls it accepts and misuses), with guest writes
(also between the QMP commands of one call), NBD reads and time passing. Each property of the catalogue gets a
verdict from the runs that exercised it: holds in N of them, fails with a shrunk counterexample (API trace,
QMP trace, a replay command), cannot be expressed by the API (with the reason), or was reached by no run.
Bundled: seed-2013, blockcopy-2012, backup-begin-6.0, job-ids-overlay, job-ids; a file path whose default
export is a proposal works the same.
Exit 1 when a claimed property fails or no run exercised it.`,
  options: {
    runs: { type: 'string', arg: 'N', default: '300', help: 'generated runs per proposal' },
    seed: { type: 'string', arg: 'S', default: '1', help: 'the seed of the generated runs' },
    profile: { type: 'string', arg: 'P', default: '7.2', help: 'the QEMU version the simulator behaves as' },
    domain: {
      type: 'string',
      arg: 'D',
      default: 'vm',
      help: 'vm: qemu-system with a guest device per disk; qsd: qemu-storage-daemon, an NBD client as guest',
    },
    path: {
      type: 'string',
      arg: 'P',
      help: "fast-check's path of one run (from a counterexample) to replay",
    },
    json: {
      type: 'string',
      arg: 'F',
      help: 'the reports as JSON (proposal, domain, profile, verdicts, findings)',
    },
    traces: {
      type: 'string',
      arg: 'DIR',
      default: 'reports/latest/traces',
      help: 'each counterexample as <proposal>.<property>.json',
    },
    quiet: { type: 'boolean', short: 'q', help: 'the verdicts only, without the counterexamples' },
    list: { type: 'boolean', help: 'name the bundled proposals, their claims and API states, and exit' },
    shard: { ...SHARD, help: "every n-th proposal of the list ('fleece-lab merge' joins the --json files)" },
    'save-runs': {
      type: 'boolean',
      default: false,
      help: `also write the operations of every generated run to <proposal>.runs.jsonl in --traces (for 'fleece-lab replay --traces DIR --versions ...', the differential replay)`,
    },
  },
  run: async ({ values, positionals }) => (await import('./check-cmd.ts')).cmdCheck(values, positionals),
});

const compare = defineCommand({
  name: 'compare',
  summary: 'proposals side by side: verdicts per property, what each API costs',
  args: '[PROPOSAL_FILE_OR_NAME...]',
  description: `Property-tests each proposal (every bundled one when none is named) on every domain and profile asked for,
as 'fleece-lab check' does, and prints a table of proposals × properties per domain and profile: each verdict
with the runs that exercised it. Then what each API costs per session: the QMP commands its calls send, and
the scratch space its images take at their largest (bytes on the host). --html draws each API's state
machine beside it. Exit 0 (a comparison is not a gate: 'fleece-lab check' is).`,
  options: {
    runs: {
      type: 'string',
      arg: 'N',
      default: '300',
      help: 'generated runs per proposal, domain and profile',
    },
    seed: { type: 'string', arg: 'S', default: '1', help: 'the seed of the generated runs' },
    profile: {
      type: 'string',
      arg: 'P,...',
      default: '7.2',
      help: 'the QEMU versions the simulator behaves as (comma-separated)',
    },
    domain: { type: 'string', arg: 'D,...', default: 'vm', help: 'vm, qsd or vm,qsd' },
    md: { type: 'string', arg: 'F', help: 'the table as Markdown (else printed)' },
    html: { type: 'string', arg: 'F', help: 'the table as HTML, with each API state machine drawn' },
    json: { type: 'string', arg: 'F', help: 'the proposal reports as JSON (as check --json)' },
  },
  run: async ({ values, positionals }) => {
    const { cmdCompare } = await import('./compare-cmd.ts');
    const { progressFor } = await import('./progress.ts');
    return cmdCompare(values, positionals, progressFor({ json: values.json }));
  },
});

const coverage = defineCommand({
  name: 'coverage',
  summary: 'what the conformance suite covers, per QEMU version',
  description: `Reads, for each version, the recordings of real QEMU (checks/conformance/golden/<v>/), runs the suite on
the simulator with that version's profile, and reads the version's introspected schema
(contract/qapi-schema/<v>-{qsd,system}.json): which QMP commands, with which outcomes (accepted, each error
class), were exercised on real QEMU, on the simulator only, or never; which arguments of the fleecing
commands (blockdev-backup, blockdev-add of the fleecing drivers, block-export-add, the job verbs,
transaction); which transitions of the job state machine (JOB_STATUS_CHANGE events) each job type took.
With --baseline: exit 1 when an item the baseline covers is covered less now (on the simulator only where
it was covered on real QEMU, or never), as a check that got worse fails the gate.`,
  options: {
    versions: { type: 'string', arg: 'V,...', default: '5.2,7.2,10.0,11.1', help: 'the QEMU versions' },
    json: { type: 'string', arg: 'F', help: 'the coverage as JSON (what --baseline reads)' },
    md: { type: 'string', arg: 'F', help: 'the coverage as Markdown' },
    baseline: { type: 'string', arg: 'F', help: 'a coverage file: exit 1 when coverage shrank against it' },
  },
  run: async ({ values }) => (await import('./coverage-cmd.ts')).cmdCoverage(values),
});

const newProposal = defineCommand({
  name: 'new',
  summary: 'write a new proposal file that imports from fleece-lab',
  args: 'NAME',
  description: `Writes NAME.ts (NAME may name a folder too): a short, commented API proposal that imports from
'fleece-lab' and shows where its calls, claims, API state machine, session plan and lowering go. As
written, every claim it makes holds: 'fleece-lab check ./NAME.ts' starts from a green check. With --from, a
bundled proposal rewritten to import from 'fleece-lab', under the new name. An existing file is never
overwritten. The guide: docs/proposals.md.`,
  options: {
    from: {
      type: 'string',
      arg: 'PROPOSAL',
      help: 'start from a bundled proposal (seed-2013, blockcopy-2012, backup-begin-6.0, job-ids-overlay, job-ids)',
    },
  },
  run: async ({ values, positionals, help }) => {
    if (positionals[0] === undefined) {
      console.log(await help());
      return 2;
    }
    return (await import('./new-cmd.ts')).cmdNew(values, positionals);
  },
});

const QEMU = {
  name: 'qemu',
  summary: 'install or list real QEMU versions (Debian roots)',
  description: `Installs real QEMU versions (${QEMU_VERSIONS.join(', ')}) from Debian suites into a cache folder
($FLEECE_LAB_CACHE, $XDG_CACHE_HOME/fleece-lab or ~/.cache/fleece-lab) and lists what is installed.`,
};

const qemuInstall = defineCommand({
  name: 'qemu install',
  summary: 'install a real QEMU version, or every one this machine lacks',
  args: 'VERSION|all',
  description: `${QEMU.description}
A version named alone is installed into the cache. 'all' installs every version this machine cannot run
yet: one already in the cache is reported as such, and the version of the QEMU on PATH (7.2 from Debian's
apt) is not installed again, since every command asking for that version gets the one on PATH.`,
  options: {},
  run: async ({ positionals, help }) => {
    if (positionals[0] === undefined) {
      console.log(await help());
      return 2;
    }
    return (await import('./qemu-cmd.ts')).cmdQemuInstall(positionals[0]);
  },
});

const qemuList = defineCommand({
  name: 'qemu list',
  summary: 'list the real QEMUs found here',
  description: `${QEMU.description}
One line each: the version asked for (PATH for the one on PATH), the version and package it reports, its root.`,
  options: {},
  run: async () => (await import('./qemu-cmd.ts')).cmdQemuList(),
});

const matrix = defineCommand({
  name: 'matrix',
  summary: 'the suite on several QEMU versions side by side',
  description: `For each QEMU version: runs the conformance suite on the real QEMU (target qemu:VERSION, both programs;
installed from Debian with 'qemu install' when missing, bounded) and on the simulator with the matching
profile. Writes into DIR:
  results-<target>.json   one results file per target
  traces/<target>/        every check's transcript (JSONL; --traces puts them elsewhere)
  matrix.json, matrix.md, matrix.html   check × version: real status, sim status, agreement
Every disagreement is classified against that version's own real QEMU first: "simulator wrong" (the
simulator differs from that version's real QEMU, whatever other versions answer there) or "unexplained"
(nothing shows why, e.g. the real QEMU differs from its own recording).
Exit status: 1 when the simulator is wrong (outside a runbook's known difference, an xfail that names the
step and paths it excuses), a difference is unexplained, or a version could not run; 0 otherwise.`,
  options: {
    versions: { type: 'string', arg: 'V,...', default: QEMU_VERSIONS.join(','), help: 'the QEMU versions' },
    out: { type: 'string', arg: 'DIR', default: 'reports/latest/matrix', help: 'where the files go' },
    jobs: { type: 'string', arg: 'N', default: '4', help: 'checks at once on a real QEMU' },
    shard: {
      ...SHARD,
      help: "every n-th check (files get a .shard-i-of-n suffix; 'fleece-lab merge' joins them)",
    },
    only: { type: 'string', arg: 'PATTERN', help: 'only the checks whose id contains or matches PATTERN' },
    traces: { type: 'string', arg: 'DIR', help: 'where the transcripts go (default DIR/traces)' },
    pages: {
      type: 'boolean',
      default: false,
      help: 'also index.html and a page per check with its transcripts',
    },
    'no-install': { type: 'boolean', default: false, help: 'do not install a missing QEMU' },
    reuse: {
      type: 'boolean',
      default: false,
      help: 'run nothing: make the matrix again from the results files and transcripts already in DIR',
    },
  },
  run: async ({ values }) => (await import('./matrix-cmd.ts')).cmdMatrix(values),
});

const diff = defineCommand({
  name: 'diff',
  summary: 'regression report between two results (or matrix) files',
  args: 'A.json B.json',
  description: `A regression report between two results files (conform --json; two QEMU versions, or before and after a
backport), two probe files (probe --json: the probes whose status changed, a fix lost first) or two matrix
files (fleece-lab matrix): checks whose status changed; error texts that changed,
from the transcripts of both runs (--traces-a/--traces-b, else traces/<target>/ next to each results file,
else the recordings of real QEMU for the checks that passed); and the features (commands, BlockdevDriver
members, object members, enum values, deprecation flags) that QEMU's own introspection added, deprecated
or removed between the two versions (contract/qapi-schema/<v>-qsd.json).
Writes Markdown to --md and HTML to --html (Markdown to stdout when neither is given).
Exit status: 1 when a check that passed in A fails in B (probes: a fix of A is lost in B), 0 otherwise,
2 on bad usage.`,
  options: {
    md: { type: 'string', arg: 'F', help: 'the report as Markdown' },
    html: { type: 'string', arg: 'F', help: 'the report as HTML' },
    json: { type: 'string', arg: 'F', help: 'the report as JSON' },
    'traces-a': { type: 'string', arg: 'DIR', help: "A's transcripts" },
    'traces-b': { type: 'string', arg: 'DIR', help: "B's transcripts" },
  },
  run: async ({ values, positionals, help }) =>
    (await import('./diff-cmd.ts')).diff(values, positionals, await help()),
});

const merge = defineCommand({
  name: 'merge',
  summary: 'join the result files of sharded runs',
  args: 'A.json B.json ...',
  description: `Joins the shards of one run (--shard i/n of conform, matrix or check on several machines) into one file:
results files of one target (conform --json), matrix files (matrix.shard-i-of-n.json; F.md and F.html are
written beside F), or proposal reports (check --json). The checks come out in the suite's own order; a
check in two inputs must have the same status in both.`,
  options: { out: { type: 'string', arg: 'F', required: true, help: 'the joined file' } },
  run: async ({ values, positionals, help }) =>
    (await import('./merge-cmd.ts')).merge(values, positionals, await help()),
});

/** options of the differential replay only (with --versions or --traces) */
const DIFFERENTIAL_ONLY = [
  'jobs',
  'limit',
  'budget',
  'shrink',
  'shrink-replays',
  'out',
  'fail-on',
  'no-install',
];

const replay = defineCommand({
  name: 'replay',
  summary: `replay a saved trace on a target, or saved runs on the simulator and real
versions side by side (differential replay: --traces DIR --versions V,...)`,
  args: 'TRACE',
  usage: [
    'replay TRACE [--target T]',
    'replay CONVERSATION_TRACE --target T[,T...] [--md F]',
    'replay --traces DIR|FILE --versions V,... [--jobs N] [--limit N] [--budget SECONDS]\n' +
      '                         [--shrink N] [--shrink-replays N] [--out DIR] [--fail-on CLASSES] [--no-install]',
  ],
  description: `With --target: replays one trace saved by 'fleece-lab check' on a target and says whether it has the outcome
the trace recorded (exit 1 if not).

A recorded conversation ('fleece-lab record') replays on each target of a comma-separated list: sim:V (the
simulator as qemu-system-x86_64, 'serve --flavour system --profile V') or qemu[:V] (real qemu-system-x86_64).
Each connection starts a fresh QEMU with the recorded command line (its monitor, images, pid file, machine
version and, on 5.2, JSON options adapted; see checks/conversation/replay-argv.ts), and the client's
messages are sent again with its ids, in its order, waiting as it waited for events and replies (bounded).
Each step (a message, its reply, the events until the next) is compared with the recording, noise filtered,
and each one that differs is classed as the differential replay classes them, from the other targets of
the same run: simulator wrong, versions differ, both, unexplained. --md writes the report.
Exit 0 when every target answers as recorded, 1 when a step differs, 3 when a target could not replay.

With --versions: differential replay. Every saved run in DIR (the *.runs.jsonl files of
'fleece-lab check --save-runs --traces DIR', one run per line, and counterexample *.json files; FILE: one of
them) runs on the simulator with each version's profile and on each real QEMU version (qemu-system-x86_64
for a run of the vm domain, qemu-storage-daemon for one of the qsd domain; from the Debian root in the cache,
or PATH; installed with 'qemu install' when missing unless --no-install),
a fresh process per run. The outcome is compared step by step (setup, each operation, the teardown check):
QMP commands and replies, API results, guest writes, NBD read bytes, property findings, and the events each
side got up to that step, as a set (an event may reach the client one step later on real QEMU; drain pauses
dropped; scratch paths, node names, allocation sizes and job progress counters masked). Compared: sim:V
with real V, and consecutive real versions. A run needing a command a version lacks (its introspected
schema) is skipped there, with the reason. Each divergence is shrunk (delta debugging over the operations,
then the guest writes injected into starts and stops; at most --shrink-replays replays for the --shrink
most frequent ones), replayed once more, and classified:
  simulator wrong    sim:V differs from real V
  versions differ    real V1 differs from real V2, each simulator profile agrees with its own real QEMU
  both               real versions differ and a simulator profile differs from its real QEMU there
  unexplained        the divergence did not happen again when its minimal trace was replayed
Writes into --out: summary.json, summary.md, and minimal/<id>.json (each divergence's minimal trace;
'fleece-lab replay minimal/<id>.json --versions V1,V2' replays it). Exit 1 when a divergence is of a class
in --fail-on or a real run broke (QEMU did not start, twice), 0 otherwise.`,
  options: {
    target: {
      type: 'string',
      arg: 'T',
      default: 'sim:7.2',
      help: 'the target of a one-trace replay (a conversation: T,T,... of sim:V and qemu[:V])',
    },
    md: { type: 'string', arg: 'F', help: 'a conversation replay: the report as Markdown' },
    traces: { type: 'string', arg: 'DIR|FILE', help: 'the saved runs (or TRACE)' },
    versions: { type: 'string', arg: 'V,...', help: 'the versions, each on the simulator and on real QEMU' },
    jobs: { type: 'string', arg: 'N', default: '2', help: 'runs at once' },
    limit: { type: 'string', arg: 'N', help: 'at most N runs (taken in turn from each proposal)' },
    budget: { type: 'string', arg: 'SECONDS', help: 'start no new run after this' },
    shrink: { type: 'string', arg: 'N', default: '20', help: 'divergences shrunk, the most frequent first' },
    'shrink-replays': { type: 'string', arg: 'N', default: '40', help: 'replays per divergence shrunk' },
    out: {
      type: 'string',
      arg: 'DIR',
      default: 'reports/latest/differential',
      help: 'where the report goes',
    },
    'fail-on': {
      type: 'string',
      arg: 'CLASSES',
      // contract/formats/divergence-classes.ts FAILING_CLASSES (not imported: the table loads nothing heavy)
      default: 'simulator-wrong,both,unexplained',
      help: 'the divergence classes that fail the run (comma-separated; versions-differ passes)',
    },
    'no-install': { type: 'boolean', default: false, help: 'do not install a missing QEMU' },
  },
  run: async ({ values, positionals, given }) => {
    if (given.has('versions') || given.has('traces')) {
      if (given.has('target'))
        throw new Error('replay: --target replays one trace; the differential replay takes --versions');
      return (await import('./differential-cmd.ts')).cmdDifferential(values, positionals);
    }
    const wrong = DIFFERENTIAL_ONLY.filter((o) => given.has(o));
    if (wrong.length > 0)
      throw new Error(
        `replay: --${wrong[0]} is an option of the differential replay (--traces DIR --versions V,...)`,
      );
    return (await import('./replay-cmd.ts')).cmdReplay(values, positionals);
  },
});

const record = defineCommand({
  name: 'record',
  summary: "record a client's QMP conversation (libvirt's log, or a proxy) for 'fleece-lab replay'",
  usage: [
    'record --libvirt-log FILE [--qemu-log FILE] --out TRACE',
    'record --listen SOCK --upstream SOCK [--qemu-pid PID] [--wait-client SECONDS] --out TRACE',
  ],
  description: `Writes a conversation trace (contract/formats/conversation-trace.ts): every QMP connection, every message in
wire order, with the QEMU command line it ran with where known; 'fleece-lab replay TRACE --target ...' sends
it again to the simulator or a real QEMU.
--libvirt-log: libvirtd's log written with log_filters "1:qemu.qemu_monitor 1:qemu.qemu_process" (or a
conversation the libvirt test recorded, harness/libvirt/fixtures/*.json). The monitor log does not show
QEMU's command line: --qemu-log names the domain's /var/log/libvirt/qemu/NAME.log, where libvirt writes it.
--listen/--upstream: a transparent proxy. A client connecting to SOCK is connected to QEMU's monitor at
--upstream and every byte passes unchanged both ways (ids, order and pace are the client's); the trace is
written when either side closes. --qemu-pid keeps that QEMU's command line (/proc/PID/cmdline) so that a
replay can start the same VM. Waits are bounded: a client (--wait-client, default 60 s), the upstream's
accept (5 s). Errors are one line; exit 2.`,
  options: {
    'libvirt-log': {
      type: 'string',
      arg: 'FILE',
      help: "libvirtd's log, or a recorded libvirt conversation",
    },
    'qemu-log': { type: 'string', arg: 'FILE', help: "the domain's QEMU log (its command line)" },
    listen: { type: 'string', arg: 'SOCK', help: 'the unix socket the client connects to' },
    upstream: { type: 'string', arg: 'SOCK', help: "QEMU's QMP socket" },
    'qemu-pid': { type: 'string', arg: 'PID', help: "the upstream QEMU's pid: keep its command line" },
    'wait-client': { type: 'string', arg: 'SECONDS', default: '60', help: 'how long to wait for a client' },
    out: { type: 'string', arg: 'TRACE', required: true, help: 'the trace file' },
  },
  run: async ({ values }) => (await import('./record-cmd.ts')).cmdRecord(values),
});

/** every command, in the order the help lists them */
export const COMMANDS: readonly AnyCommand[] = [
  serve,
  conform,
  probe,
  check,
  compare,
  newProposal,
  qemuInstall,
  qemuList,
  matrix,
  diff,
  coverage,
  merge,
  record,
  replay,
  ...DEV_COMMANDS,
];

/** commands of two words share their first word's summary and description in the help */
export const GROUPS: Readonly<Record<string, { summary: string; description: string }>> = { qemu: QEMU };

export function commandNamed(name: string): AnyCommand {
  const c = COMMANDS.find((x) => x.name === name);
  if (!c) throw new Error(`no command '${name}' in the table`);
  return c;
}

/** the command an argument list names (the longest name that matches), and the arguments after it */
export function findCommand(argv: readonly string[]): { command: AnyCommand; rest: string[] } | undefined {
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = COMMANDS.find((c) => c.name === argv[0]);
  return one ? { command: one, rest: argv.slice(1) } : undefined;
}
