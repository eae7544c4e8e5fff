import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { conform } from '../checks/conformance/conform.ts';
import { parseShard } from '../checks/conformance/shard.ts';
import { parseJsonText } from '../contract/json-text.ts';
import { parseResults, summarize } from '../contract/results.ts';
import {
  installQemu,
  isQemuVersion,
  listQemu,
  QEMU_VERSIONS,
  type QemuVersion,
} from '../harness/qemu/install.ts';
import { resolveAttachTarget, resolveTarget } from '../harness/targets/target-spec.ts';
import { compareToBaseline } from '../reports/baseline.ts';
import { toJUnit } from '../reports/junit.ts';
import { toMarkdown } from '../reports/markdown.ts';
import { cmdCheck } from './check-cmd.ts';
import { cmdDiff, DIFF_HELP } from './diff-cmd.ts';
import { DIFFERENTIAL_HELP } from './differential-cmd.ts';
import { runMainJob } from './main-job.ts';
import { cmdMatrix, MATRIX_HELP } from './matrix-cmd.ts';
import { cmdMerge, MERGE_HELP } from './merge-cmd.ts';
import { cmdReplay } from './replay-cmd.ts';

/** `fleece-lab` — every command of DESIGN.md; the ones later issues fill in say so when called. */
const HELP: Record<string, string> = {
  '': `usage: fleece-lab [COMMAND] [OPTIONS]

With no command: the main job — the conformance suite on the simulator (every profile) and on every
real QEMU found on this machine; writes reports/latest/ and prints a summary.

commands:
  serve     the simulator as a drop-in qemu-storage-daemon
  conform   run the conformance suite against a target
  check     property-test API proposals against the simulator
  qemu      install or list real QEMU versions (Debian roots)
  matrix    the suite on several QEMU versions side by side
  diff      regression report between two results (or matrix) files
  merge     join the result files of sharded runs
  replay    replay a saved trace on a target, or saved runs on the simulator and real
            versions side by side (differential replay: --traces DIR --versions V,...)
  help      this text, or 'fleece-lab help COMMAND'

'fleece-lab COMMAND --help' describes each command.`,
  serve: `usage: fleece-lab serve [--profile 5.2|7.2|10.0|11.1] [--seed N] [qemu-storage-daemon options]

Runs the simulated QEMU block layer as a process that takes qemu-storage-daemon's own options:
  --chardev socket,path=P,server=on,wait=off,id=ID  --monitor chardev=ID
  --blockdev JSON|key=value   --nbd-server addr.type=unix,addr.path=P   --export type=nbd,...
  --pidfile FILE
It exits on QMP 'quit' and on SIGTERM/SIGINT, removing the sockets it created.`,
  conform: `usage: fleece-lab conform --target T [--json F] [--junit F] [--md F] [--baseline F] [--only PATTERN] [--jobs N] [--traces DIR] [--shard i/n]

T: sim[:PROFILE] | qsd[:BINARY_OR_ROOT_OR_VERSION] | system[:BINARY_OR_ROOT_OR_VERSION] | qemu[:...]
   (qemu: both programs of one QEMU, each runbook on the one it needs)
   | serve[:PROFILE] (the simulator as a process) | qmp:SOCKET [--allow-live-vm] (attach to a running QEMU:
   only what a check creates is touched and removed; a check naming anything that existed before is skipped;
   an endpoint with guest devices is refused unless --allow-live-vm)
--jobs N: checks at once (default 1); --traces DIR: every check's requests, replies and events as JSONL
--shard i/n: only every n-th check of the list, starting at the i-th ('fleece-lab merge' joins the shards)
Each check runs on the target and is compared with the recording of real QEMU of the same version.
A real target that dies, hangs up or stops answering fails the check with one line (e.g. "qemu-storage-daemon
(pid N) was killed by SIGKILL during step 7 (query-jobs)"), without a retry; the next check gets a fresh one.
Each QMP reply is awaited at most $FLEECE_LAB_QMP_TIMEOUT_MS (default 10000); past it the target is reported
stuck and killed (SIGTERM, 3 s, SIGKILL). Attach mode runs one check at a time.
Exit status: 0 when every check meets the baseline (or passes, without one), 1 otherwise, 2 on bad usage.`,
  check: `usage: fleece-lab check [PROPOSAL_FILE_OR_NAME...] [--runs N] [--seed S] [--profile P] [--path P] [--json F] [--traces DIR] [--shard i/n]

Property-tests API proposals against the simulator: fast-check generates interleavings of API calls, guest
writes (also between the QMP commands of one call) and NBD reads. Each property of the catalogue gets a
verdict: holds after N runs, fails with a shrunk counterexample (API trace, QMP trace, a replay command), or
cannot be expressed by the API. Bundled: seed-2013, blockcopy-2012, backup-begin-6.0, job-ids; a file path
whose default export is a proposal works the same. --traces DIR (default reports/latest/traces) gets each
counterexample as <proposal>.<property>.json; --save-runs also writes the operations of every generated run
to <proposal>.runs.jsonl (for 'fleece-lab replay --traces DIR --versions ...', the differential replay).
--shard i/n evaluates every n-th proposal of the list ('fleece-lab merge' joins the --json files).
Exit 1 when a claimed property fails.`,
  qemu: `usage: fleece-lab qemu install VERSION|all
       fleece-lab qemu list

Installs real QEMU versions (${QEMU_VERSIONS.join(', ')}) from Debian suites into a cache folder
($FLEECE_LAB_CACHE, $XDG_CACHE_HOME/fleece-lab or ~/.cache/fleece-lab) and lists what is installed.`,
  matrix: MATRIX_HELP,
  diff: DIFF_HELP,
  merge: MERGE_HELP,
  replay: DIFFERENTIAL_HELP,
};

/** print to stdout and succeed */
function say(text: string): number {
  console.log(text);
  return 0;
}

function notYet(cmd: string, issue: number): number {
  console.error(
    `fleece-lab ${cmd}: not implemented yet (planned in issue ${issue}); see 'fleece-lab ${cmd} --help'`,
  );
  return 3;
}

async function cmdConform(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      json: { type: 'string' },
      junit: { type: 'string' },
      md: { type: 'string' },
      baseline: { type: 'string' },
      only: { type: 'string' },
      jobs: { type: 'string', default: '1' },
      traces: { type: 'string' },
      'allow-live-vm': { type: 'boolean', default: false },
      shard: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`fleece-lab conform: --jobs ${values.jobs}: expected a positive integer`);
    return 2;
  }
  if (values.help) return say(HELP.conform);
  if (!values.target) {
    console.error('fleece-lab conform: --target is required (sim[:PROFILE], qsd[:...], system[:...])');
    return 2;
  }
  let shard: ReturnType<typeof parseShard> | undefined;
  try {
    shard = values.shard ? parseShard(values.shard) : undefined;
  } catch (e) {
    console.error(`fleece-lab conform: ${(e as Error).message}`);
    return 2;
  }
  const target = values.target.startsWith('qmp:')
    ? await resolveAttachTarget(values.target.slice(4), values['allow-live-vm'] === true)
    : resolveTarget(values.target);
  const tty = process.stdout.isTTY;
  let n = 0;
  const r = await conform(target, {
    only: values.only,
    jobs,
    traces: values.traces,
    shard,
    onResult: (c) => {
      n++;
      const line = `${c.status.padEnd(5)} ${c.id}${c.reason && c.status !== 'pass' ? ` — ${c.reason.slice(0, 160)}` : ''}`;
      if (tty) process.stdout.write(`\r\x1b[K[${n}] ${line}\n`);
      else console.log(line);
    },
  });
  const s = summarize(r);
  console.log(
    `${r.target} (QEMU ${r.qemu.version}, ${r.qemu.package}): ${s.pass} passed, ${s.fail} failed, ${s.skip} skipped, ${s.xfail} xfail in ${(r.durationMs / 1000).toFixed(1)} s`,
  );
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify(r, null, 1)}\n`);
  if (values.junit) fs.writeFileSync(values.junit, toJUnit([r]));
  if (values.md) fs.writeFileSync(values.md, toMarkdown([r]));
  if (values.baseline) {
    const base = parseResults(
      parseJsonText(fs.readFileSync(values.baseline, 'utf8'), values.baseline),
      values.baseline,
    );
    const v = compareToBaseline(r, base);
    for (const b of v.better) console.log(`better: ${b.id}: ${b.was} -> ${b.now}`);
    for (const w of v.worse)
      console.log(`WORSE:  ${w.id}: ${w.was} -> ${w.now}${w.reason ? ` (${w.reason.slice(0, 200)})` : ''}`);
    for (const m of v.missing) console.log(`missing from this run: ${m}`);
    for (const a of v.added) console.log(`not in the baseline: ${a.id} (${a.now})`);
    return v.worse.length > 0 ? 1 : 0;
  }
  return s.fail > 0 ? 1 : 0;
}

async function cmdQemu(argv: string[]): Promise<number> {
  const [sub, arg] = argv;
  if (sub === 'list') {
    const all = listQemu();
    if (all.length === 0) console.log('no QEMU installed; try: fleece-lab qemu install 7.2');
    for (const q of all)
      console.log(`${q.requested ?? 'PATH'}\t${q.version}\t${q.package}\t${q.root ?? '(system)'}`);
    return 0;
  }
  if (sub === 'install' && arg) {
    const versions: QemuVersion[] = arg === 'all' ? [...QEMU_VERSIONS] : isQemuVersion(arg) ? [arg] : [];
    if (versions.length === 0) {
      console.error(
        `fleece-lab qemu install: unknown version '${arg}' (known: ${QEMU_VERSIONS.join(', ')}, all)`,
      );
      return 2;
    }
    let failed = 0;
    for (const v of versions) {
      try {
        const r = await installQemu(v);
        const q = r.manifest.binaries.qsd;
        console.log(
          `${v}\t${q.version}\t${q.package}\t${r.installed ? `installed in ${r.seconds.toFixed(0)} s` : 'already installed'}`,
        );
      } catch (e) {
        failed++;
        console.error(`${v}\tfailed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return failed > 0 ? 1 : 0;
  }
  console.log(HELP.qemu);
  return sub === '--help' || sub === '-h' ? 0 : 2;
}

async function cmdServe(argv: string[]): Promise<number> {
  const entry = path.join(path.dirname(new URL(import.meta.url).pathname), 'serve.ts');
  if (!fs.existsSync(entry)) return notYet('serve', 3);
  const mod = (await import(entry)) as { main(argv: string[]): Promise<number> };
  return mod.main(argv);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd.startsWith('--')) {
    if (argv.includes('--help') || argv.includes('-h')) return say(HELP['']);
    return runMainJob(argv);
  }
  if (cmd === 'help') return say(HELP[rest[0] ?? ''] ?? HELP['']);
  // serve is qemu-storage-daemon: its --help is qsd's own
  if (cmd !== 'serve' && (rest.includes('--help') || rest.includes('-h'))) {
    if (!(cmd in HELP)) {
      console.error(`fleece-lab: unknown command '${cmd}'\n\n${HELP['']}`);
      return 2;
    }
    if (cmd !== 'serve') return say(HELP[cmd]);
  }
  switch (cmd) {
    case 'conform':
      return cmdConform(rest);
    case 'qemu':
      return cmdQemu(rest);
    case 'serve':
      return cmdServe(rest);
    case 'check':
      return cmdCheck(rest);
    case 'matrix':
      return cmdMatrix(rest);
    case 'diff':
      return cmdDiff(rest);
    case 'merge':
      return cmdMerge(rest);
    case 'replay':
      return cmdReplay(rest);
    default:
      console.error(`fleece-lab: unknown command '${cmd}'\n\n${HELP['']}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`fleece-lab: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  },
);
