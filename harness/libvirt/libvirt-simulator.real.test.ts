/**
 * Real libvirt 9.0 with the simulator as its emulator (`fleece-lab serve --flavour system --profile V`,
 * issue 13): the scenarios libvirt.real.test.ts runs on real QEMU, with their byte checks, and the QMP
 * conversation libvirt had compared with the fixture recorded on real QEMU V — domain conversations, virsh
 * answers and observations in full, and the capability probe (both probes when this host's /dev/kvm
 * matches the fixture's, else the TCG one). The only differences allowed are the emulator's own path.
 *
 *   FLEECE_LAB_LIBVIRT_QEMU=7.2,10.0,11.1             profiles to run (default 7.2)
 *   FLEECE_LAB_LIBVIRT_SCENARIOS=backup-pull,checkpoints  scenarios (default backup-pull)
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kvmUsable } from '../../sim/serve/system-machine.ts';
import { isQemuVersion, type QemuVersion } from '../qemu/install.js';
import type { ConversationFixture } from './conversation-fixture.js';
import { comparable } from './conversation-noise.js';
import { libvirtUnavailable } from './libvirtd.js';
import { recordScenario, SCENARIOS, type ScenarioName } from './record-scenario.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const VERSIONS = (process.env.FLEECE_LAB_LIBVIRT_QEMU ?? '7.2')
  .split(',')
  .map((v) => v.trim())
  .filter((v): v is QemuVersion => isQemuVersion(v));
const NAMES = (process.env.FLEECE_LAB_LIBVIRT_SCENARIOS ?? 'backup-pull')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is ScenarioName => s in SCENARIOS);
const unavailable = libvirtUnavailable();
const BOUND_MS = 900_000;

function readFixture(kind: string, version: string): ConversationFixture | undefined {
  const p = path.join(FIXTURES, `${kind}-${version}.json`);
  return fs.existsSync(p) ? (JSON.parse(fs.readFileSync(p, 'utf8')) as ConversationFixture) : undefined;
}

/** what must be equal; the emulator's path (the binary, or the wrapper that runs the simulator) is not */
function comparableRecording(f: ConversationFixture, probes: 'all' | 'tcg'): unknown {
  const conns = f.connections
    .filter((c) => probes === 'all' || c.role !== 'probe' || c.machine === 'none,accel=tcg')
    .map(({ binary: _, ...c }) => c);
  const observed = Object.fromEntries(
    Object.entries(f.observed).map(([k, v]) => [
      k,
      Array.isArray(v) && k.startsWith('qemu command line') ? v.slice(1) : v,
    ]),
  );
  return { qemu: f.qemu, virsh: f.virsh, observed, connections: comparable(conns) };
}

/** a probe's messages without the scenario step they fell in */
function withoutSteps(r: unknown): unknown {
  const x = r as { connections: { messages: unknown[][] }[] };
  return {
    ...x,
    connections: x.connections.map((c) => ({ ...c, messages: c.messages.map(([d, , m]) => [d, m]) })),
  };
}

describe('real libvirt 9.0 on the simulator (serve --flavour system)', () => {
  for (const version of VERSIONS)
    for (const name of NAMES)
      it(
        `${name} on profile ${version}: the same conversation as with real QEMU ${version}`,
        async (ctx) => {
          if (unavailable) return ctx.skip(unavailable);
          const want = readFixture(name, version);
          const probe = readFixture('probe', version);
          if (!want || !probe) return ctx.skip(`no fixture of real QEMU ${version} for ${name}`);
          const got = await recordScenario(name, version, 'simulator');
          expect(comparableRecording(got.scenario, 'all'), `${name}-${version}`).toEqual(
            comparableRecording(want, 'all'),
          );
          // libvirt probes a binary on its PATH when it starts, a wrapper when a domain names it
          const probes = probe.kvm === kvmUsable() ? 'all' : 'tcg';
          expect(withoutSteps(comparableRecording(got.probe, probes)), `probe-${version}`).toEqual(
            withoutSteps(comparableRecording(probe, probes)),
          );
        },
        BOUND_MS,
      );
});
