/**
 * A randomized differential on the differential core (checks/differential/): fast-check generates plausible
 * QMP command sequences from the version's schema (qmp-sequences.ts), and each sequence runs on the
 * simulator in process and on a real qemu-storage-daemon of the same version (qmp-sides.ts). Replies are compared step by step, events as a
 * multiset per step. A divergence is shrunk (by fast-check, over the sequence's generation) and replayed once
 * more; a sequence that crashes the real QEMU is kept aside and can be shrunk by ddmin.
 *
 *   fleece-lab qmp-differential --version 7.2 --runs 300 --seed 42   (bin/dev/qmp-differential.ts)
 */
import fc from 'fast-check';
import { differences, firstDifference, pathShape } from '../../contract/formats/json-diff.ts';
import { type QemuVersion, type ResolvedQemu, resolveQemu } from '../../harness/qemu/install.ts';
import { multisetGap, type StepDifference } from '../differential/compare.ts';
import { ddmin } from '../differential/ddmin.ts';
import { type Differential, type PairRun, runPair } from '../differential/run-pair.ts';
import { settle } from '../differential/settle.ts';
import { type Pair, side } from '../differential/side.ts';
import { type Cmd, sequenceFor } from './qmp-sequences.ts';
import { QemuCrashed, runOnQemu, runOnSim, type StepRecord, withTemplate } from './qmp-sides.ts';

/** What a step shows on one side: its reply, and its events (normalised JSON texts, sorted). */
export type Outcome = Omit<StepRecord, 'request'>;
export type Divergence = StepDifference<Outcome>;

const outcome = (r: StepRecord): Outcome => ({ reply: r.reply, events: r.events });

/** How one step of the two sides differs (the reply first, then the events), or undefined. */
function stepDifference(i: number, real: StepRecord, sim: StepRecord): Divergence | undefined {
  const reply = firstDifference(real.reply, sim.reply);
  const events = multisetGap(real.events, sim.events, (e) => e);
  if (!reply && events.a.length === 0 && events.b.length === 0) return undefined;
  const what = reply ? `reply ${pathShape(reply.path, '[]')}` : 'events';
  return {
    step: i,
    label: real.request.execute,
    signature: `qmp ${real.request.execute}: ${what}`,
    path: reply ? reply.path : '(events)',
    a: outcome(real),
    b: outcome(sim),
  };
}

/** The first step where the real QEMU (a) and the simulator (b) differ. */
export function compare(real: StepRecord[], sim: StepRecord[]): Divergence[] {
  for (let i = 0; i < real.length; i++) {
    const d = stepDifference(i, real[i], sim[i]);
    if (d) return [d];
  }
  return [];
}

function qmpDifferential(q: ResolvedQemu, version: QemuVersion, template: string) {
  const d: Differential<Cmd[], StepRecord[], Outcome> = {
    run: async (s, seq) =>
      s.kind === 'real' ? runOnQemu(q, seq, template) : runOnSim(version, seq, template),
    compare,
  };
  const pair: Pair = [side('real', version), side('sim', version)];
  return { d, pair };
}

export interface DiffResult {
  version: QemuVersion;
  runs: number;
  seed: number;
  /** sequences that crashed the real QEMU (skipped) */
  crashes: { sequence: Cmd[]; detail: string }[];
  /** a divergence, or (when a run threw: a timeout, a QEMU that did not start) the error instead */
  failure?: { sequence: Cmd[]; divergence?: Divergence; error?: string; shrinks: number };
}

/** Runs `runs` sequences on `version` (real and simulated); a divergence is shrunk and returned. */
export async function runDifferential(opts: {
  version: QemuVersion;
  runs: number;
  seed: number;
  onRun?: (n: number) => void;
}): Promise<DiffResult> {
  const q = resolveQemu(opts.version);
  let n = 0;
  const crashes: { sequence: Cmd[]; detail: string }[] = [];
  return withTemplate(q, async (template) => {
    const { d, pair } = qmpDifferential(q, opts.version, template);
    let found: Divergence | undefined;
    const res = await fc.check(
      fc.asyncProperty(sequenceFor(opts.version), async (seq) => {
        opts.onRun?.(++n);
        let r: PairRun<StepRecord[], Outcome> | undefined;
        try {
          r = await runPair(d, pair, seq);
        } catch (e) {
          if (!(e instanceof QemuCrashed)) throw e;
          crashes.push({ sequence: seq, detail: e.message });
          fc.pre(false);
          return true;
        }
        const first = r?.differences[0];
        if (first) found = first;
        return first === undefined;
      }),
      { numRuns: opts.runs, seed: opts.seed, endOnFailure: false },
    );
    const out: DiffResult = { version: opts.version, runs: res.numRuns, seed: opts.seed, crashes };
    if (res.failed && res.counterexample) {
      const seq = res.counterexample[0];
      // fast-check shrank it (the last failing run is the shrunk one): replayed once more for its divergence
      const s = await settle({
        items: seq,
        reproduce: async (x: Cmd[]) => (await runPair(d, pair, x))?.differences[0],
      });
      const divergence = s.again ?? found;
      out.failure = divergence
        ? { sequence: seq, divergence, shrinks: res.numShrinks }
        : { sequence: seq, error: firstLine(res.errorInstance), shrinks: res.numShrinks };
    }
    return out;
  });
}

const cmdLine = (c: Cmd) => `${c.execute} ${c.arguments ? JSON.stringify(c.arguments) : ''}`;

/** Where two replies differ: "path: real X, sim Y" lines, paths as JSON pointers. */
function replyDiff(real: unknown, sim: unknown): string[] {
  return differences(real, sim).map(
    (x) =>
      `${x.path === '(top)' ? '/' : x.path.replace(/\./g, '/')}: real ${JSON.stringify(x.a)}, sim ${JSON.stringify(x.b)}`,
  );
}

export function formatCrashes(r: DiffResult): string {
  return r.crashes
    .map((c) =>
      [`${r.version}: real QEMU crashed: ${c.detail}`, ...c.sequence.map((x) => `    ${cmdLine(x)}`)].join(
        '\n',
      ),
    )
    .join('\n');
}

export function formatFailure(r: DiffResult): string {
  if (!r.failure) return `${r.version}: ${r.runs} sequences, no divergence (seed ${r.seed})`;
  const { sequence: seq, divergence: d, shrinks } = r.failure;
  if (!d)
    return `${r.version}: a run broke (seed ${r.seed}), no divergence to show: ${r.failure.error ?? 'no error given'}\n${seq.map((c) => `    ${cmdLine(c)}`).join('\n')}`;
  const lines = [`${r.version}: divergence (seed ${r.seed}, ${shrinks} shrinks) at step ${d.step}:`];
  for (const [i, c] of seq.entries()) lines.push(`  ${i === d.step ? '>' : ' '} ${cmdLine(c)}`);
  for (const x of replyDiff(d.a.reply, d.b.reply)) lines.push(`  differs: ${x}`);
  lines.push(`  real: ${JSON.stringify(d.a.reply)}`);
  for (const e of d.a.events) lines.push(`        ${e}`);
  lines.push(`  sim:  ${JSON.stringify(d.b.reply)}`);
  for (const e of d.b.events) lines.push(`        ${e}`);
  return lines.join('\n');
}

/** The shortest sequence (found by ddmin) that still crashes the real QEMU. */
export async function minimizeCrash(version: QemuVersion, seq: Cmd[]): Promise<Cmd[]> {
  const q = resolveQemu(version);
  return withTemplate(q, (template) =>
    ddmin(seq, async (s) => {
      try {
        await runOnQemu(q, s, template);
        return false;
      } catch (e) {
        if (e instanceof QemuCrashed) return true;
        throw e;
      }
    }),
  );
}

/** One given sequence on both sides (the CLI's --replay): every step's real and simulated outcome. */
export async function replaySequence(version: QemuVersion, seq: Cmd[]): Promise<string> {
  const q = resolveQemu(version);
  return withTemplate(q, async (template) => {
    const { d, pair } = qmpDifferential(q, version, template);
    const [real, sim] = [await d.run(pair[0], seq), await d.run(pair[1], seq)];
    const lines: string[] = [];
    for (const [i, c] of seq.entries()) {
      const same = stepDifference(i, real[i], sim[i]) === undefined;
      lines.push(`${same ? ' ' : '>'} ${cmdLine(c)}`);
      lines.push(`    real: ${JSON.stringify(real[i].reply)}`);
      for (const e of real[i].events) lines.push(`          ${e}`);
      if (!same) {
        for (const x of replyDiff(real[i].reply, sim[i].reply)) lines.push(`    differs: ${x}`);
        lines.push(`    sim:  ${JSON.stringify(sim[i].reply)}`);
        for (const e of sim[i].events) lines.push(`          ${e}`);
      }
    }
    return lines.join('\n');
  });
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
