/**
 * The soak run (`npm run soak`, `fleece-lab soak`: bin/dev-commands.ts reads its options):
 *
 * - NBD load: `clients` (64) NbdClients + 4 nbdcopy + 2 nbdinfo reading one point-in-time export of
 *   `mib` (32) MiB while the guest writes, against `fleece-lab serve` (the simulator as its own process)
 *   and against the real qemu-storage-daemon on PATH;
 * - fleecing cycles: `cyclesSim` (1000) on the simulator in process, `cyclesServe` (1000) on
 *   `fleece-lab serve`, `cyclesReal` (100) on one real qemu-storage-daemon.
 *
 * Writes reports/soak.json and reports/soak.md (the Markdown table it prints). Returns 1 when anything failed or grew.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CycleResult, runCycles } from './cycles.ts';
import { type LoadResult, runNbdLoad } from './nbd-load.ts';
import { haveGc, type SeriesSummary } from './probe.ts';

const MiB = 1 << 20;

export interface SoakOptions {
  cyclesSim: number;
  cyclesServe: number;
  cyclesReal: number;
  clients: number;
  mib: number;
  only: string[];
}

function haveQsd(): boolean {
  try {
    execFileSync('qemu-storage-daemon', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const fmtSeries = (s: SeriesSummary) =>
  s.judged === 'slope'
    ? `${s.first} → ${s.last} (max ${s.max}), slope ${s.slopeSecondHalf}/cycle (bound ${s.bound})${s.flat ? '' : ' **GROWS**'}`
    : `${s.first} → ${s.last} (max ${s.max}), floor ${s.floorPerCycle}/cycle (bound ${s.bound}; slope ${s.slopeSecondHalf})${s.flat ? '' : ' **GROWS**'}`;

export function loadRow(r: LoadResult): string {
  const result = r.ok
    ? `ok: ${r.connected}/${r.clients} connected at once, ${r.requests} reads, 0 wrong bytes, 0 errors`
    : `**FAILED**: ${r.wrongBytes} wrong bytes, ${r.errors.length} errors (${r.errors[0] ?? 'clients missing'})`;
  return [
    `NBD load, ${r.label}`,
    `${r.clients} clients + ${r.toolProcesses} nbdcopy/nbdinfo, ${r.size / MiB} MiB export, ${(r.bytesRead / MiB).toFixed(0)} MiB read, ${r.guestWrites} guest writes, ${r.seconds} s`,
    result,
    `server ${r.fds.start} → ${r.fds.peak} (all connected) → ${r.fds.afterClients} (clients gone, baseline ${r.fds.baseline}) → ${r.fds.end} (teardown)`,
    '—',
  ].join(' | ');
}

export function cycleRow(r: CycleResult): string {
  const result = r.ok
    ? `ok: ${r.completed} cycles, 0 wrong bytes, nodes/exports/jobs back to start after every cycle`
    : `**FAILED**: ${r.completed}/${r.cycles} cycles, ${r.wrongBytes} wrong bytes, ${r.cyclesWithLeftovers} cycles left something, ${r.errors.length} errors${r.errors[0] ? ` (${r.errors[0]})` : ''}`;
  const mem =
    r.target === 'sim'
      ? `our heap after gc (KiB) ${fmtSeries(r.series.ourHeapKiB)}; RSS (KiB) ${fmtSeries(r.series.targetRssKiB)}`
      : `RSS (KiB) ${fmtSeries(r.series.targetRssKiB)}; harness heap (KiB, not judged) ${r.series.ourHeapKiB.first} → ${r.series.ourHeapKiB.last}, slope ${r.series.ourHeapKiB.slopeSecondHalf}/cycle`;
  const fds =
    r.target === 'sim'
      ? `ours ${fmtSeries(r.series.ourFds)}`
      : `endpoint ${fmtSeries(r.series.targetFds)}; ours ${r.series.ourFds.first} → ${r.series.ourFds.last}`;
  return [
    `${r.cycles} fleecing cycles, ${r.label}`,
    `${r.size / MiB} MiB disk, ${(r.bytesRead / MiB).toFixed(0)} MiB read, ${r.guestWrites} guest writes, ${r.seconds} s`,
    result,
    fds,
    mem,
  ].join(' | ');
}

export function markdown(loads: LoadResult[], cycles: CycleResult[]): string {
  const lines = [
    '| load | size | result | fds before/after | memory first → last, slope |',
    '|---|---|---|---|---|',
    ...loads.map((r) => `| ${loadRow(r)} |`),
    ...cycles.map((r) => `| ${cycleRow(r)} |`),
  ];
  return `${lines.join('\n')}\n`;
}

export async function runSoak(o: SoakOptions): Promise<number> {
  const want = (name: string) => o.only.length === 0 || o.only.some((w) => name.includes(w));
  const log = (l: string) => console.error(l);
  const real = haveQsd();
  if (!real) console.error('soak: no qemu-storage-daemon on PATH: the real-QEMU rows are skipped');
  if (!haveGc) console.error('soak: run with node --expose-gc (npm run soak does) for exact heap figures');
  const loads: LoadResult[] = [];
  const cycles: CycleResult[] = [];
  const size = o.mib * MiB;
  if (want('load') && o.clients > 0) {
    loads.push(await runNbdLoad({ target: 'serve', clients: o.clients, size, guestWrites: 256, log }));
    console.error(loadRow(loads[loads.length - 1]));
    if (real) {
      loads.push(await runNbdLoad({ target: 'qsd', clients: o.clients, size, guestWrites: 256, log }));
      console.error(loadRow(loads[loads.length - 1]));
    }
  }
  const every = (n: number) => (n >= 200 ? 10 : Math.max(1, Math.floor(n / 10)));
  if (want('cycles') && o.cyclesSim > 0) {
    cycles.push(
      await runCycles({ target: 'sim', cycles: o.cyclesSim, sampleEvery: every(o.cyclesSim), log }),
    );
    console.error(cycleRow(cycles[cycles.length - 1]));
  }
  if (want('cycles') && o.cyclesServe > 0) {
    cycles.push(
      await runCycles({ target: 'serve', cycles: o.cyclesServe, sampleEvery: every(o.cyclesServe), log }),
    );
    console.error(cycleRow(cycles[cycles.length - 1]));
  }
  if (want('cycles') && o.cyclesReal > 0 && real) {
    cycles.push(
      await runCycles({ target: 'qsd', cycles: o.cyclesReal, sampleEvery: every(o.cyclesReal), log }),
    );
    console.error(cycleRow(cycles[cycles.length - 1]));
  }
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const out = path.join(root, 'reports', 'soak.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const report = {
    date: new Date().toISOString(),
    options: o,
    node: process.version,
    haveGc,
    ok: [...loads, ...cycles].every((r) => r.ok),
    loads,
    cycles,
  };
  fs.writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
  const table = markdown(loads, cycles);
  fs.writeFileSync(out.replace(/\.json$/, '.md'), `# Soak (npm run soak, ${report.date})\n\n${table}`);
  process.stdout.write(table);
  console.error(`soak: ${report.ok ? 'everything held' : 'FAILED'}; wrote ${path.relative(root, out)}`);
  return report.ok ? 0 : 1;
}
