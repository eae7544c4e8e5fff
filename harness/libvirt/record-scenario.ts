/**
 * One recording: a fresh private libvirtd (so the capability probe of the emulator is in the log again —
 * teardown removed the cache entry), a scenario run on the chosen QEMU, the log turned into a fixture, and
 * a teardown that must leave the host as it was. The fixture is split in two: the probe of the emulator
 * under test (the same for every scenario, and big: query-qmp-schema alone is 200 KB) and the scenario's
 * domain conversations. Probes of other binaries libvirt finds on PATH are dropped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type QemuVersion, qemuRoot, versionKey } from '../qemu/install.js';
import type { ConversationFixture } from './conversation-fixture.js';
import { scrubPaths } from './conversation-noise.js';
import { hostEmulator, rootEmulator, simulatorEmulator } from './emulator.js';
import { LIBVIRTD, PrivateLibvirtd } from './libvirtd.js';
import { runBounded, StepError } from './run-bounded.js';
import { runBackupPull } from './scenario-backup-pull.js';
import { runCheckpoints } from './scenario-checkpoints.js';
import { ScenarioRecorder } from './scenario-recorder.js';

export const SCENARIOS = {
  'backup-pull': runBackupPull,
  checkpoints: runCheckpoints,
} as const;
export type ScenarioName = keyof typeof SCENARIOS;

export interface Recording {
  /** the emulator's capability probes (KVM and TCG) */
  probe: ConversationFixture;
  scenario: ConversationFixture;
}

/** "9.0.0" from `libvirtd --version`. */
export async function libvirtVersion(): Promise<string> {
  const r = await runBounded([LIBVIRTD, '--version'], { step: 'libvirtd --version', timeoutMs: 10_000 });
  return /(\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] ?? r.stdout.trim();
}

/**
 * The emulator for a QEMU version: the host's qemu-system-x86_64 when it is that version, else a wrapper
 * (in `dir`) for the debootstrapped root of ~/.cache/fleece-lab/qemu/<version>.
 */
export async function emulatorFor(version: QemuVersion, dir: string): Promise<string> {
  const host = hostEmulator();
  const r = await runBounded([host, '--version'], {
    step: 'qemu-system-x86_64 --version',
    timeoutMs: 10_000,
  });
  const hostVersion = /version (\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
  if (hostVersion && versionKey(hostVersion) === version) return host;
  const root = qemuRoot(version);
  if (!fs.existsSync(root))
    throw new StepError(
      'choose the emulator',
      `QEMU ${version} is not installed: run 'fleece-lab qemu install ${version}'`,
    );
  return rootEmulator(root, path.join(dir, `qemu-system-x86_64-${version}`));
}

/** Splits a whole recording into the emulator's probes and the domain conversations. */
export function splitRecording(whole: ConversationFixture, emulator: string): Recording {
  const probes = whole.connections.filter((c) => c.role === 'probe' && c.binary === emulator);
  return {
    probe: {
      ...whole,
      scenario: 'capability probe',
      steps: [],
      virsh: [],
      observed: {},
      connections: probes,
    },
    scenario: { ...whole, connections: whole.connections.filter((c) => c.role !== 'probe') },
  };
}

/**
 * `on`: the real QEMU of `version` (default), or the simulator behaving as it (serve --flavour system
 * --profile version) as the domain's emulator.
 */
export async function recordScenario(
  name: ScenarioName,
  version: QemuVersion,
  on: 'qemu' | 'simulator' = 'qemu',
): Promise<Recording> {
  const lv = await PrivateLibvirtd.start();
  let recording: Recording | undefined;
  let failure: unknown;
  try {
    const emulator =
      on === 'simulator'
        ? simulatorEmulator(version, path.join(lv.dir, `fleece-lab-system-${version}`))
        : await emulatorFor(version, lv.dir);
    const rec = new ScenarioRecorder(lv, name);
    await SCENARIOS[name](rec, emulator);
    const whole = rec.fixture({ libvirt: await libvirtVersion(), emulator });
    recording = splitRecording(whole, scrubPaths(emulator, { scratch: lv.dir }) as string);
  } catch (e) {
    failure = e;
  }
  const problems = await lv.teardown();
  if (failure) throw failure;
  if (problems.length > 0) throw new StepError('teardown', problems.join('; '));
  if (!recording) throw new StepError(name, 'no recording');
  return recording;
}
