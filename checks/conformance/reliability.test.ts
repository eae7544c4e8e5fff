import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseResults } from '../../contract/formats/results.ts';
import { registeredCount } from '../../harness/targets/cleanup-registry.ts';
import { isProcessAlive } from '../../harness/targets/proc-alive.ts';
import { type QemuProcess, startQsd } from '../../harness/targets/qemu-process.ts';
import { resolveAttachTarget, resolveTarget } from '../../harness/targets/target-spec.ts';
import { conform } from './conform.ts';

/**
 * A target that dies, hangs up or stops answering mid-run, for real: a watcher finds the QEMU (or
 * `fleece-lab serve`) the runner started — through /proc, among the descendants of the runner's process —
 * and sends it SIGKILL or SIGSTOP while the first check runs; an attach-mode endpoint's connection is cut
 * by a proxy. Each time the first check fails with one line naming what happened and where, the next
 * checks pass on a fresh target, and afterwards no process of ours is alive and no scratch folder is left
 * (the runner's os.tmpdir() is a private folder for each test, so other users of /tmp do not count).
 *
 * The first check is jobs/mirror-standby-complete: about 0.7 s of steps with three 200 ms pauses, so a
 * signal sent 150 ms after its QMP socket appears lands mid-check.
 */
const CLI = fileURLToPath(new URL('../../bin/fleece-lab.js', import.meta.url));
const ONLY = '^jobs/(mirror-standby-complete|mirror-smaller-target|mirror-running-cancel-manual)$';
const FIRST = 'jobs/mirror-standby-complete';
const REAL_TMP = os.tmpdir();
const HAVE_QSD = process.env.PATH?.split(':').some((d) => fs.existsSync(path.join(d, 'qemu-storage-daemon')));

// ---- processes, through /proc -------------------------------------------------------------------------

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // the task ended meanwhile
    }
  }
  return out;
}

function descendants(root: number): number[] {
  const out: number[] = [];
  const todo = childrenOf(root);
  while (todo.length > 0) {
    const p = todo.shift() as number;
    out.push(p);
    todo.push(...childrenOf(p));
  }
  return out;
}

function argvOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

// a daemon with a QMP socket, not the `--help`/`--version` probes run before it
const isQsd = (argv: string[]) =>
  argv.some((a) => path.basename(a) === 'qemu-storage-daemon') && qmpSocketOf(argv) !== undefined;
const isServe = (argv: string[]) =>
  argv.some((a) => a.endsWith('fleece-lab.js')) && argv.includes('serve') && qmpSocketOf(argv) !== undefined;

/** the QMP socket path from `--chardev socket,path=P,...` */
function qmpSocketOf(argv: string[]): string | undefined {
  const c = argv.find((a) => a.startsWith('socket,path='));
  return c ? /path=([^,]+)/.exec(c)?.[1] : undefined;
}

interface Watcher {
  /** every matching process seen, in order */
  seen: number[];
  /** the pid signalled: the first matching process, `delayMs` after its QMP socket appeared */
  victim: Promise<number>;
  stop(): void;
}

function watch(
  root: number,
  match: (argv: string[]) => boolean,
  signal: NodeJS.Signals,
  delayMs: number,
): Watcher {
  const seen: number[] = [];
  let running = true;
  let resolveVictim: (pid: number) => void = () => {};
  const victim = new Promise<number>((r) => {
    resolveVictim = r;
  });
  const strike = async (pid: number, sock: string | undefined) => {
    const until = Date.now() + 15_000;
    while (running && sock && !fs.existsSync(sock) && Date.now() < until) await sleep(5);
    await sleep(delayMs);
    if (!running) return;
    try {
      process.kill(pid, signal);
      resolveVictim(pid);
    } catch {
      resolveVictim(-1); // gone already: the test then fails on the pid in the reason
    }
  };
  void (async () => {
    while (running) {
      for (const pid of descendants(root)) {
        if (seen.includes(pid)) continue;
        const argv = argvOf(pid);
        if (!match(argv)) continue;
        seen.push(pid);
        if (seen.length === 1) void strike(pid, qmpSocketOf(argv));
      }
      await sleep(10);
    }
  })();
  return {
    seen,
    victim,
    stop: () => {
      running = false;
      resolveVictim(-1);
    },
  };
}

/** After a run: none of the processes the watcher saw is alive (a zombie counts as dead). */
function alive(pids: number[]): number[] {
  return pids.filter((p) => isProcessAlive(p));
}

// ---- a private os.tmpdir() per test ------------------------------------------------------------------

let tmp = '';
let watcher: Watcher | undefined;
let cli: ChildProcess | undefined;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(REAL_TMP, 'reliability-test-'));
  // tsx (in `fleece-lab serve` and the CLI) keeps its compile cache in os.tmpdir(): share the real one
  const cache = path.join(REAL_TMP, `tsx-${os.userInfo().uid}`);
  if (fs.existsSync(cache)) fs.symlinkSync(cache, path.join(tmp, path.basename(cache)));
  process.env.TMPDIR = tmp;
});

afterEach(() => {
  if (cli?.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
  cli = undefined;
  watcher?.stop();
  // whatever the outcome, leave nothing running
  for (const p of alive(watcher?.seen ?? [])) process.kill(p, 'SIGKILL');
  watcher = undefined;
  process.env.TMPDIR = REAL_TMP;
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** what the run left in its os.tmpdir(): scratch folders of the runner and of each target */
function leftovers(): string[] {
  return fs.readdirSync(tmp).filter((n) => n.startsWith('fleece-lab'));
}

describe.skipIf(!HAVE_QSD)('a target that fails mid-run (skipped without qemu-storage-daemon)', () => {
  it('kill -9 of qemu-storage-daemon during the first check (fleece-lab conform)', {
    timeout: 30_000,
  }, async () => {
    const json = path.join(tmp, 'results.json');
    const child = spawn(
      process.execPath,
      [CLI, 'conform', '--target', 'qsd', '--only', ONLY, '--json', json],
      { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cli = child;
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    watcher = watch(child.pid as number, isQsd, 'SIGKILL', 150);
    // bounded: a runner that hangs fails the test instead of outliving it
    const bound = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    clearTimeout(bound);
    watcher.stop();
    const victim = await watcher.victim;
    const r = parseResults(JSON.parse(fs.readFileSync(json, 'utf8')), json);
    expect(code, out).toBe(1);
    const [first, ...rest] = r.checks;
    expect(first.id).toBe(FIRST);
    expect(first.status).toBe('fail');
    expect(first.reason).toMatch(
      new RegExp(
        `^qemu-storage-daemon \\(pid ${victim}\\) was killed by SIGKILL during (step \\d+ \\(.+\\)|the wait after the last step)$`,
      ),
    );
    expect(out).toContain(
      `fail  ${FIRST} — qemu-storage-daemon (pid ${victim}) was killed by SIGKILL during`,
    );
    // the runner went on, each check on a QEMU of its own
    expect(rest.map((c) => [c.id, c.status])).toEqual([
      ['jobs/mirror-smaller-target', 'pass'],
      ['jobs/mirror-running-cancel-manual', 'pass'],
    ]);
    // a fresh target for each check (a check that flakes once on real QEMU gets one more)
    expect(watcher.seen.length).toBeGreaterThanOrEqual(3);
    expect(alive(watcher.seen)).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('SIGSTOP of qemu-storage-daemon: reported stuck within the QMP bound, then killed', {
    timeout: 30_000,
  }, async () => {
    const registered = registeredCount();
    watcher = watch(process.pid, isQsd, 'SIGSTOP', 150);
    const t0 = Date.now();
    const r = await conform(resolveTarget('qsd'), { only: ONLY, qmpTimeoutMs: 1_000 });
    watcher.stop();
    const victim = await watcher.victim;
    const [first, ...rest] = r.checks;
    expect(first.id).toBe(FIRST);
    expect(first.status).toBe('fail');
    expect(first.reason).toMatch(
      new RegExp(
        `^qemu-storage-daemon \\(pid ${victim}\\) stuck: no reply to '[a-z-]+' within 1000 ms during step \\d+ \\(.+\\); stopped: SIGTERM went unanswered, then killed by SIGKILL$`,
      ),
    );
    // the bound (1 s), SIGTERM's grace (3 s) and the kill, not the 10 s default or a hang
    expect(first.durationMs).toBeLessThan(7_000);
    expect(rest.map((c) => c.status)).toEqual(['pass', 'pass']);
    // a fresh target for each check (a check that flakes once on real QEMU gets one more)
    expect(watcher.seen.length).toBeGreaterThanOrEqual(3);
    expect(alive(watcher.seen)).toEqual([]);
    expect(leftovers()).toEqual([]);
    expect(registeredCount()).toBe(registered);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('kill -9 of fleece-lab serve during the first check', { timeout: 30_000 }, async () => {
    watcher = watch(process.pid, isServe, 'SIGKILL', 150);
    const r = await conform(resolveTarget('serve:7.2'), { only: ONLY });
    watcher.stop();
    const victim = await watcher.victim;
    const [first, ...rest] = r.checks;
    expect(first.id).toBe(FIRST);
    expect(first.status).toBe('fail');
    expect(first.reason).toMatch(
      new RegExp(
        `^fleece-lab serve \\(pid ${victim}\\) was killed by SIGKILL during (step \\d+ \\(.+\\)|the wait after the last step)$`,
      ),
    );
    expect(rest.map((c) => c.status)).toEqual(['pass', 'pass']);
    // a fresh target for each check (a check that flakes once on real QEMU gets one more)
    expect(watcher.seen.length).toBeGreaterThanOrEqual(3);
    expect(alive(watcher.seen)).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('attach mode: the QMP connection is cut mid-check; what the check made is still removed', {
    timeout: 30_000,
  }, async () => {
    const monitor = path.join(tmp, 'monitor.sock');
    const q: QemuProcess = await startQsd({
      extraArgs: ['--chardev', `socket,path=${monitor},server=on,wait=off,id=c9`, '--monitor', 'chardev=c9'],
    });
    // a proxy in front of the endpoint's second monitor: on the first check's connection it forwards the
    // blockdev-add of node 'src' (step 8, after two other nodes were made) to QEMU, keeps QEMU's reply
    // from the client and hangs up
    const front = path.join(tmp, 'front.sock');
    let connections = 0;
    let cut = false;
    let swallowed = '';
    const open = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const n = ++connections;
      const up = net.createConnection(monitor);
      open.add(client).add(up);
      const hangUp = () => {
        client.destroy();
        up.destroy();
      };
      client.on('close', hangUp).on('error', hangUp);
      up.on('close', hangUp).on('error', hangUp);
      let reply = true;
      up.on('data', (d) => {
        if (reply) client.write(d);
        else swallowed += d;
      });
      let buf = '';
      client.on('data', (d) => {
        up.write(d);
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (n === 2 && !cut && /"execute":\s*"blockdev-add".*"node-name":\s*"src"/.test(line)) {
            cut = true;
            reply = false;
            setTimeout(hangUp, 200);
          }
        }
      });
    });
    await new Promise<void>((r) => proxy.listen(front, r));
    try {
      await q.qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'theirs', size: 1 << 20 });
      const nodes = async () =>
        ((await q.qmp.execute('query-named-block-nodes', { flat: true })) as { 'node-name': string }[]).map(
          (x) => x['node-name'],
        );
      const before = await nodes();
      const r = await conform(await resolveAttachTarget(front, false), {
        only: '^errors/(blockdev-add-node-names|blockdev-del-unknown|duplicate-job-id)$',
      });
      expect(cut).toBe(true);
      // QEMU did make the node, the client never heard of it
      expect(swallowed).toMatch(/^\{"return": \{\}, "id": "fl-\d+"\}/);
      const [first, ...rest] = r.checks;
      expect(first.status).toBe('fail');
      expect(first.reason).toMatch(
        new RegExp(`^QMP connection closed during step 8 \\(blockdev-add\\) \\(endpoint ${front}\\)$`),
      );
      expect(rest.map((c) => c.status)).toEqual(['pass', 'pass']);
      // the nodes the check made, 'src' too, were removed over a new connection; 'theirs' is untouched
      expect(await nodes()).toEqual(before);
      expect(leftovers().filter((n) => n !== path.basename(q.scratch))).toEqual([]);
    } finally {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => proxy.close(() => r()));
      await q.stop();
    }
  });
});
