/**
 * The developer commands of the table: benchmarks, soak and fuzz runs (`npm run bench|soak|fuzz` run
 * them), recording and capturing from real QEMU, the random QMP differential, the report screenshot.
 * Each keeps the error prefix and exit status it had as a script of its own, and the runs that drive many
 * processes end the process when they are done, as they always did.
 */
import { defineCommand } from './command.ts';

const MiB = 1 << 20;

/** a whole number >= 0, or the message the soak runner has always given */
function whole(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a whole number, got '${v}'`);
  return n;
}

const bench = defineCommand({
  name: 'bench',
  summary:
    'the benchmarks of issue 16: each goal, the median of several rounds and its spread (npm run bench)',
  args: '[NAME...]',
  dev: true,
  description: `Every goal is a row: the goal, the median measured over several rounds with its least and greatest
value, and whether the median meets it. A ratio's two sides run in the same rounds, one after the other.
Written to reports/bench.json (or --out) with the load average at the start and the end. NAME...: only the
rows whose id or name contains one of the words. Run with node --expose-gc (npm run bench does) for exact
heap figures.`,
  options: {
    quick: { type: 'boolean', help: 'small sizes and one round each (for tests; the numbers mean little)' },
    rounds: {
      type: 'string',
      arg: 'N',
      help: 'rounds per measure (default 5 for the fleecing cycle, 3 else)',
    },
    out: { type: 'string', arg: 'FILE', default: 'reports/bench.json', help: 'where the rows go' },
    compare: {
      type: 'string',
      arg: 'FILE',
      help: 'an earlier bench file: print what got slower, exit 1 past --threshold',
    },
    threshold: {
      type: 'string',
      arg: 'PCT',
      default: '25',
      help: 'with --compare: a median this many percent worse fails (default 25)',
    },
  },
  errors: { prefix: 'bench', status: 1 },
  exitAfterMs: 0,
  run: async ({ positionals, values }) => {
    const rounds = values.rounds === undefined ? undefined : whole('rounds', values.rounds);
    if (rounds === 0) throw new Error('--rounds: at least 1');
    const thresholdPct = Number(values.threshold);
    if (!Number.isFinite(thresholdPct) || thresholdPct < 0)
      throw new Error(`--threshold: expected a percentage, got '${values.threshold}'`);
    return (await import('../checks/bench/run.ts')).runBench({
      words: positionals,
      quick: values.quick === true,
      rounds,
      out: values.out,
      compare: values.compare,
      thresholdPct,
    });
  },
});

const benchNbd = defineCommand({
  name: 'bench-nbd',
  summary: "NBD throughput: nbdcopy from the simulator's server and from qsd, our client against nbdcopy",
  args: '[MIB]',
  dev: true,
  description: 'MIB: the size of the export read (default 1024). Prints both results as JSON.',
  options: {},
  run: async ({ positionals }) => {
    const { clientVsNbdcopyBench, nbdcopyNullBench } = await import('../checks/bench/nbd.ts');
    const bytes = Number(positionals[0] ?? 1024) * MiB;
    console.log(JSON.stringify({ nbdcopyNull: await nbdcopyNullBench({ bytes }) }, null, 2));
    console.log(JSON.stringify({ clientVsNbdcopy: await clientVsNbdcopyBench({ bytes }) }, null, 2));
    return 0;
  },
});

const benchMemory = defineCommand({
  name: 'bench-memory',
  summary: 'memory and time of sparse in-memory disks under random writes',
  args: '[PAGE_SIZE] [pattern|random] [WRITES]',
  dev: true,
  description: `Prints the heap and off-heap growth and the time spent writing, as JSON. Run with node --expose-gc
(node --expose-gc bin/fleece-lab.js bench-memory): without it the heap numbers include garbage not yet
collected and are only indicative.`,
  options: {},
  run: async ({ positionals: [pageSize, content, writes] }) => {
    const { benchSparseWrites } = await import('../sim/image/bench-memory.ts');
    const result = benchSparseWrites({
      pageSize: pageSize === undefined ? undefined : Number(pageSize),
      content: content === 'random' ? 'random' : 'pattern',
      writes: writes === undefined ? undefined : Number(writes),
    });
    console.log(JSON.stringify(result));
    return 0;
  },
});

const soak = defineCommand({
  name: 'soak',
  summary: 'NBD load and fleecing cycles, every byte checked, fds and memory watched (npm run soak)',
  dev: true,
  description: `NBD load: --clients NbdClients + 4 nbdcopy + 2 nbdinfo reading one point-in-time export of --mib MiB while
the guest writes, against 'fleece-lab serve' and against the real qemu-storage-daemon on PATH. Fleecing
cycles: on the simulator in process, on 'fleece-lab serve', and on one real qemu-storage-daemon.
Writes reports/soak.json and reports/soak.md (the Markdown table it prints). Exit 1 when anything failed
or grew, 2 on bad usage.`,
  options: {
    'cycles-sim': { type: 'string', arg: 'N', default: '1000', help: 'cycles on the simulator in process' },
    'cycles-serve': { type: 'string', arg: 'N', default: '1000', help: "cycles on 'fleece-lab serve'" },
    'cycles-real': { type: 'string', arg: 'N', default: '100', help: 'cycles on a real qemu-storage-daemon' },
    clients: { type: 'string', arg: 'N', default: '64', help: 'NBD clients of the load (0: no load)' },
    mib: { type: 'string', arg: 'N', default: '32', help: 'the size of the export under load, in MiB' },
    only: {
      type: 'string',
      arg: 'WORD',
      multiple: true,
      help: "only the runs whose name contains WORD ('load', 'cycles'; may be repeated)",
    },
  },
  errors: { prefix: 'soak', status: 2 },
  exitAfterMs: 0,
  run: async ({ values }) =>
    (await import('../checks/soak/run.ts')).runSoak({
      cyclesSim: whole('cycles-sim', values['cycles-sim']),
      cyclesServe: whole('cycles-serve', values['cycles-serve']),
      cyclesReal: whole('cycles-real', values['cycles-real']),
      clients: whole('clients', values.clients),
      mib: whole('mib', values.mib),
      only: values.only ?? [],
    }),
});

const soakLoad = defineCommand({
  name: 'soak-load',
  summary: 'one NBD load run, printed as JSON',
  dev: true,
  description: 'Exit 1 when a byte read was wrong, a client failed or not every client connected.',
  options: {
    target: { type: 'string', arg: 'serve|qsd', default: 'serve', help: 'the server under load' },
    clients: { type: 'string', arg: 'N', default: '64', help: 'NBD clients at once' },
    mib: { type: 'string', arg: 'N', default: '8', help: 'the size of the export, in MiB' },
    'max-connections': {
      type: 'string',
      arg: 'N',
      help: "nbd-server-start's max-connections (default: none)",
    },
  },
  exitAfterMs: 0,
  run: async ({ values }) => {
    const { runNbdLoad } = await import('../checks/soak/nbd-load.ts');
    const r = await runNbdLoad({
      target: values.target as 'serve' | 'qsd',
      clients: Number(values.clients),
      size: Number(values.mib) * MiB,
      maxConnections: values['max-connections'] === undefined ? undefined : Number(values['max-connections']),
      log: (l) => console.error(l),
    });
    console.log(JSON.stringify(r, null, 1));
    return r.ok ? 0 : 1;
  },
});

const soakCycles = defineCommand({
  name: 'soak-cycles',
  summary: 'one run of fleecing cycles, printed as JSON (without the samples)',
  dev: true,
  description: 'Exit 1 when a cycle failed, left something behind, or fds or memory grew.',
  options: {
    target: { type: 'string', arg: 'sim|serve|qsd', default: 'sim', help: 'where the cycles run' },
    cycles: { type: 'string', arg: 'N', default: '100', help: 'fleecing cycles' },
  },
  exitAfterMs: 0,
  run: async ({ values }) => {
    const { runCycles } = await import('../checks/soak/cycles.ts');
    const r = await runCycles({
      target: values.target as 'sim' | 'serve' | 'qsd',
      cycles: Number(values.cycles),
      log: (l) => console.error(l),
    });
    const { samples: _s, ...rest } = r;
    console.log(JSON.stringify(rest, null, 1));
    return r.ok ? 0 : 1;
  },
});

const soakMaxConnections = defineCommand({
  name: 'soak-max-connections',
  summary: 'how many NBD connections a server without max-connections takes at once',
  args: '[TARGET...]',
  dev: true,
  description: `TARGET as 'fleece-lab conform --target' takes them (qsd, qsd:5.2, serve:7.2, ...; default qsd and
serve:7.2). One JSON line per target.`,
  options: {},
  exitAfterMs: 0,
  run: async ({ positionals }) => {
    const { probeCap } = await import('../checks/soak/max-connections.ts');
    for (const t of positionals.length ? positionals : ['qsd', 'serve:7.2'])
      console.log(JSON.stringify(await probeCap(t)));
    return 0;
  },
});

const fuzz = defineCommand({
  name: 'fuzz',
  summary: 'every fuzz target, seeded, with a replay command for each failure (npm run fuzz)',
  dev: true,
  description: `Runs every fuzz target for --count inputs or --seconds seconds, whichever comes first, from one seed;
prints per target the inputs run, the outcome classes, crashes and hangs and the time, and a one-line
replay command for every failure (npm run fuzz -- --only NAME --seed S --replay K). Exit 1 on any crash,
hang or broken invariant; 2 on bad usage.`,
  options: {
    count: { type: 'string', arg: 'N', default: '100000', help: 'inputs per target' },
    seconds: { type: 'string', arg: 'S', default: '300', help: 'time cap per target' },
    only: { type: 'string', arg: 'NAME[,NAME]', help: 'the targets to run (below)' },
    seed: { type: 'string', arg: 'S', default: '1', help: 'the seed of every input' },
    replay: {
      type: 'string',
      arg: 'K',
      help: 'run input K of the one target named by --only, printing it and its outcome',
    },
    json: { type: 'string', arg: 'F', help: 'write the counts to F' },
  },
  errors: { prefix: 'fuzz', status: 2, helpOnUsageError: true },
  // sockets the targets closed may still be finishing: do not wait for stragglers
  exitAfterMs: 200,
  moreHelp: async () => `targets: ${(await import('./dev/fuzz.ts')).targetNames()}`,
  run: async ({ values }) => (await import('./dev/fuzz.ts')).cmdFuzz(values),
});

const captureSchema = defineCommand({
  name: 'qemu capture-schema',
  summary: "a real QEMU's greeting, version, QMP schema and commands, as contract/qapi-schema/ keeps them",
  args: '[VERSION|ROOT|BINARY ...]',
  dev: true,
  description: `For each QEMU (default: every known version) and each of its programs (qemu-storage-daemon,
qemu-system-x86_64): writes <version>-<qsd|system>.json into --out, one line per file. Exit 1 when any
capture failed.`,
  options: {
    out: { type: 'string', arg: 'DIR', default: 'contract/qapi-schema', help: 'where the snapshots go' },
  },
  run: async ({ values, positionals }) =>
    (await import('./dev/capture-schema.ts')).cmdCaptureSchema(positionals, values.out),
});

const genQapi = defineCommand({
  name: 'gen-qapi',
  summary: 'the QMP command types and docs, from the captured schemas (npm run gen:qapi)',
  dev: true,
  description: `Reads every contract/qapi-schema/*.json and writes contract/qapi/generated/commands.ts (CommandName,
the schemas that have each command, CommandArgs<C>) and docs/qmp-commands.md, one line per file.
contract/qapi/generated.test.ts checks that both are what this writes.`,
  options: {},
  run: async () => {
    for (const line of (await import('../contract/qapi/gen-qapi.ts')).writeGenerated()) console.log(line);
    return 0;
  },
});

const captureSystem = defineCommand({
  name: 'qemu capture-system',
  summary:
    "what a real qemu-system-x86_64 says beyond its schema (machines, types, libvirt's probe), as contract/qemu-system/ keeps it",
  args: '[VERSION|ROOT|BINARY ...]',
  dev: true,
  description: `For each QEMU (default: every known version): its -h, -machine help and -accel help; its machines, QOM
types, CPU models and the properties of the machine and device types the simulator creates; and its replies
to the requests libvirt 9.0 sends when it probes an emulator and starts a q35 domain
(harness/qemu/libvirt-requests.json), each under libvirt's own command line. Writes <version>.json into
--out, one line per file. Exit 1 when any capture failed.`,
  options: {
    out: { type: 'string', arg: 'DIR', default: 'contract/qemu-system', help: 'where the captures go' },
  },
  run: async ({ values, positionals }) =>
    (await import('./dev/capture-system.ts')).cmdCaptureSystem(positionals, values.out),
});

const recordGolden = defineCommand({
  name: 'record-golden',
  summary: "record every runbook's transcript from real QEMU into checks/conformance/golden/",
  args: '[VERSION ...]',
  dev: true,
  description: `The recordings are what the simulator is compared with when that QEMU is not on the machine (default
version: 7.2). Runbooks needing a feature the version lacks are skipped, with a line saying so.`,
  options: { only: { type: 'string', arg: 'PATTERN', help: 'only the runbooks whose id contains PATTERN' } },
  errors: { prefix: 'record', status: 1 },
  exitAfterMs: 0,
  run: async ({ values, positionals }) => {
    const { recordGolden } = await import('../checks/conformance/record.ts');
    await recordGolden(positionals.length > 0 ? positionals : ['7.2'], values.only);
    return 0;
  },
});

const qmpDifferential = defineCommand({
  name: 'qmp-differential',
  summary: 'random QMP sequences on the simulator and on real qemu-storage-daemon, replies compared',
  dev: true,
  description: `fast-check generates QMP command sequences of fleecing (nodes, bitmaps, NBD exports, jobs, transactions,
queries); each runs on the simulator and on a real qemu-storage-daemon of the same version, replies and
each step's events compared; a divergence is shrunk to a minimal sequence. Exit 1 when one is found.`,
  options: {
    version: { type: 'string', arg: 'V[,V]', default: '7.2', help: 'the QEMU versions' },
    runs: { type: 'string', arg: 'N', default: '100', help: 'sequences per version' },
    seed: { type: 'string', arg: 'S', help: 'the seed (default: from the clock)' },
    replay: {
      type: 'string',
      arg: 'JSON',
      help: 'one sequence (a JSON list of commands) run and printed step by step',
    },
    'minimize-crashes': {
      type: 'boolean',
      default: false,
      help: 'shrink the first sequence that crashed QEMU and print it',
    },
  },
  errors: { prefix: 'qmp-differential', status: 2 },
  exitAfterMs: 0,
  run: async ({ values }) => (await import('./dev/qmp-differential.ts')).cmdQmpDifferential(values),
});

const screenshot = defineCommand({
  name: 'screenshot',
  summary: 'a picture of the HTML report in headless Chromium',
  args: '[HTML] [PNG]',
  dev: true,
  description: 'HTML defaults to reports/latest/index.html, PNG to reports/screenshot.png.',
  options: {},
  errors: { prefix: 'screenshot', status: 1 },
  run: async ({ positionals: [html = 'reports/latest/index.html', png = 'reports/screenshot.png'] }) => {
    await (await import('../reports/browser.ts')).screenshot(html, png, 1400, 1600);
    console.log(`${png}: ${html} in headless Chromium`);
    return 0;
  },
});

const readme = defineCommand({
  name: 'readme',
  summary: "make the README's measured tables from the committed reports (--check: fail when they differ)",
  dev: true,
  description: `The README's measured tables (the version matrix, the differential replay, fuzz, soak, bench) are made from
reports/matrix/matrix.json, reports/differential/summary.json, reports/fuzz.json, reports/soak.json and
reports/bench.json. Each sits between <!-- measured:NAME --> and <!-- /measured:NAME --> in README.md.
Without --check the tables are written into README.md; with --check nothing is written.
Exit status: 1 with --check when a table differs from its report or its markers are missing, 0 otherwise.`,
  options: {
    check: { type: 'boolean', default: false, help: 'only compare; exit 1 when the README differs' },
    file: { type: 'string', arg: 'F', default: 'README.md', help: 'the README' },
  },
  errors: { prefix: 'readme', status: 2 },
  run: async ({ values }) => (await import('./readme-cmd.ts')).cmdReadme(values),
});

export const DEV_COMMANDS = [
  readme,
  bench,
  benchNbd,
  benchMemory,
  soak,
  soakLoad,
  soakCycles,
  soakMaxConnections,
  fuzz,
  captureSchema,
  captureSystem,
  genQapi,
  recordGolden,
  qmpDifferential,
  screenshot,
];
