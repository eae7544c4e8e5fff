/**
 * The common part of every libvirt scenario: each step is marked in the monitor log before it runs (so
 * every QMP message can be tagged with the API call that caused it), each virsh call's answer is kept,
 * the guest's writes go through HMP qemu-io on the disk's device (the domain's log tells whether they
 * happened), and at the end the log becomes a normalised fixture.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyIo } from '../targets/hmp-qemu-io.js';
import {
  type ConversationFixture,
  greetingVersion,
  type StepMark,
  toFixtureConnections,
  type VirshOutcome,
} from './conversation-fixture.js';
import { normaliseConnections, normaliseOutput, normaliseVirsh, scrubPaths } from './conversation-noise.js';
import { diskDevice } from './domain-xml.js';
import { type PatternWrite, qemuIoWrite } from './image-tools.js';
import type { PrivateLibvirtd, VirshOptions } from './libvirtd.js';
import { commandLineOfQemuLog } from './log-trace.ts';
import { parseMonitorLog } from './monitor-log.js';
import type { RunResult } from './run-bounded.js';
import { StepError } from './run-bounded.js';

/** The step every message before the first mark belongs to: libvirtd's start, with its capability probes. */
export const START_STEP = 'libvirtd start';

/** qemu-io prints its result on QEMU's stdout, which libvirt sends to the domain's log file */
const WRITE_SEEN_BOUND_MS = 5_000;
const QUIET_MS = 300;
const SETTLE_BOUND_MS = 10_000;

export class ScenarioRecorder {
  readonly marks: StepMark[] = [{ step: START_STEP, offset: 0 }];
  readonly outcomes: VirshOutcome[] = [];
  readonly observed: Record<string, unknown> = {};

  constructor(
    readonly lv: PrivateLibvirtd,
    readonly scenario: string,
  ) {}

  mark(step: string): void {
    this.marks.push({ step, offset: this.lv.logOffset() });
  }

  /** One virsh call as a scenario step; a step name is used once (a repeated one gets " #2", …). */
  async virsh(
    step: string,
    args: readonly string[],
    opts: Omit<VirshOptions, 'step'> = {},
  ): Promise<RunResult> {
    const name = this.uniqueStep(step);
    this.mark(name);
    const r = await this.lv.virsh(args, { ...opts, step: name });
    await this.settle();
    this.outcomes.push({
      step: name,
      args: [...args],
      code: r.code,
      stdout: r.stdout.trim(),
      stderr: r.stderr.trim(),
    });
    return r;
  }

  /**
   * Waits until libvirtd's log has been quiet for QUIET_MS (bounded): what libvirt does after virsh has
   * its answer (a backup's teardown as the cancelled jobs' events arrive, a QEMU's exit) stays in the step.
   */
  async settle(): Promise<void> {
    const until = Date.now() + SETTLE_BOUND_MS;
    let size = this.lv.logOffset();
    let quietSince = Date.now();
    while (Date.now() - quietSince < QUIET_MS && Date.now() < until) {
      await sleep(50);
      const now = this.lv.logOffset();
      if (now !== size) {
        size = now;
        quietSince = Date.now();
      }
    }
  }

  private uniqueStep(step: string): string {
    const used = new Set(this.marks.map((m) => m.step));
    if (!used.has(step)) return step;
    for (let i = 2; ; i++) if (!used.has(`${step} #${i}`)) return `${step} #${i}`;
  }

  observe(step: string, value: unknown): void {
    this.observed[step] = normaliseOutput(value, { scratch: this.lv.dir });
  }

  /** The guest writes a pattern on disk `index` (virtio-diskN); throws unless qemu-io reports the write. */
  async guestWrite(step: string, domain: string, index: number, w: PatternWrite): Promise<void> {
    const log = `/var/log/libvirt/qemu/${domain}.log`;
    const before = fs.existsSync(log) ? fs.statSync(log).size : 0;
    const cmd = `qemu-io -d ${diskDevice(index)}/virtio-backend "${qemuIoWrite(w)}"`;
    const r = await this.virsh(step, ['qemu-monitor-command', '--hmp', domain, cmd]);
    const until = Date.now() + WRITE_SEEN_BOUND_MS;
    for (;;) {
      const out = fs.existsSync(log) ? fs.readFileSync(log).subarray(before).toString('utf8') : '';
      const outcome = classifyIo(r.stdout.trim(), out);
      if (outcome === 'ok') return;
      if (outcome !== 'unknown' || Date.now() > until)
        throw new StepError(
          step,
          `qemu-io ${qemuIoWrite(w)} on ${diskDevice(index)}: ${outcome}: ${(r.stdout + out).trim()}`,
        );
      await sleep(50);
    }
  }

  /**
   * The command line libvirt started the domain's QEMU with, from the domain's log (the last "starting
   * up" block: one word or option per line, continued with " \\"), without the environment before it.
   */
  observeCommandLine(step: string, domain: string): void {
    const log = fs.readFileSync(`/var/log/libvirt/qemu/${domain}.log`, 'utf8');
    this.observe(`qemu command line at ${step}`, commandLineOfQemuLog(log));
  }

  /** Polls `virsh domstate` until it starts with `state` ("shut off", "running"), bounded. */
  async waitState(step: string, domain: string, state: string, boundMs = 30_000): Promise<string> {
    const until = Date.now() + boundMs;
    let last = '';
    while (Date.now() < until) {
      const r = await this.lv.virsh(['domstate', domain, '--reason'], { step, allowFailure: true });
      last = r.stdout.trim();
      if (last.startsWith(state)) return last;
      await sleep(200);
    }
    throw new StepError(step, `${domain} not '${state}' within ${boundMs} ms (last: ${last})`);
  }

  /** The recording so far: every connection of the monitor log, tagged with steps and normalised. */
  fixture(meta: { libvirt: string; emulator: string }): ConversationFixture {
    const ctx = { scratch: this.lv.dir };
    const connections = normaliseConnections(
      toFixtureConnections(parseMonitorLog(fs.readFileSync(this.lv.logFile)), this.marks),
      ctx,
    );
    return {
      format: 1,
      scenario: this.scenario,
      libvirt: meta.libvirt,
      qemu: greetingVersion(connections.filter((c) => c.role === 'domain')),
      emulator: scrubPaths(meta.emulator, ctx) as string,
      kvm: fs.existsSync('/dev/kvm'),
      steps: this.marks.map((m) => m.step),
      virsh: normaliseVirsh(this.outcomes, ctx),
      observed: this.observed,
      connections,
    };
  }
}
