/**
 * Real libvirt 9.0 driving real QEMU (issues 13 and 15): the scenarios of scenario-backup-pull.ts and
 * scenario-checkpoints.ts, bytes checked inside them (nbdcopy + qemu-img compare, dirty maps read over
 * NBD), and the QMP conversation libvirt had, compared with the committed fixture in fixtures/.
 *
 *   FLEECE_LAB_LIBVIRT_QEMU=7.2,10.0,11.1   QEMU versions to run (default 7.2; others need
 *                                           `fleece-lab qemu install V`)
 *   FLEECE_LAB_RECORD_LIBVIRT=1             write the fixtures instead of comparing with them (each
 *                                           scenario is then run twice and must be the same both times)
 *
 * The issue-13 scenario always runs twice: libvirt's conversation must be the same run to run (after the
 * noise rules of conversation-noise.ts), the capability probe included. A fixture is compared only when it
 * was recorded with the same libvirt, the same QEMU build (the greeting names it) and the same /dev/kvm
 * presence; then the domain conversations, virsh answers and observations are compared in full, and of
 * the probe only the TCG one (the first, accel=kvm:tcg, answers with the host CPU's features).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isQemuVersion, type QemuVersion } from '../qemu/install.js';
import { type ConversationFixture, fixtureText } from './conversation-fixture.js';
import { comparable } from './conversation-noise.js';
import { libvirtUnavailable } from './libvirtd.js';
import { type Recording, recordScenario, type ScenarioName } from './record-scenario.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const RECORD = process.env.FLEECE_LAB_RECORD_LIBVIRT === '1';
const VERSIONS = (process.env.FLEECE_LAB_LIBVIRT_QEMU ?? '7.2')
  .split(',')
  .map((v) => v.trim())
  .filter((v): v is QemuVersion => isQemuVersion(v));
const unavailable = libvirtUnavailable();
const BOUND_MS = 600_000;

function fixturePath(kind: string, version: string): string {
  return path.join(FIXTURES, `${kind}-${version}.json`);
}

function readFixture(kind: string, version: string): ConversationFixture | undefined {
  const p = fixturePath(kind, version);
  return fs.existsSync(p) ? (JSON.parse(fs.readFileSync(p, 'utf8')) as ConversationFixture) : undefined;
}

/** The parts of two recordings that must be equal: connections by the noise rules, answers, observations. */
function comparableRecording(f: ConversationFixture, probes: 'all' | 'tcg'): unknown {
  const conns = f.connections.filter(
    (c) => probes === 'all' || c.role !== 'probe' || c.machine === 'none,accel=tcg',
  );
  return { qemu: f.qemu, virsh: f.virsh, observed: f.observed, connections: comparable(conns) };
}

function writeRecording(name: ScenarioName, version: string, r: Recording): void {
  fs.mkdirSync(FIXTURES, { recursive: true });
  fs.writeFileSync(fixturePath(name, version), fixtureText(r.scenario));
  fs.writeFileSync(fixturePath('probe', version), fixtureText(r.probe));
}

/**
 * Compares with the committed fixtures where they apply; returns why a comparison was left out. The
 * first probe (accel=kvm:tcg) answers with the host CPU's features, so only the TCG probe is compared.
 */
function compareWithFixtures(name: ScenarioName, version: string, r: Recording): string[] {
  const notes: string[] = [];
  for (const [kind, got] of [
    [name, r.scenario],
    ['probe', r.probe],
  ] as const) {
    const want = readFixture(kind, version);
    if (!want)
      throw new Error(`no fixture ${fixturePath(kind, version)}: record it with FLEECE_LAB_RECORD_LIBVIRT=1`);
    const host = (f: ConversationFixture): string => `libvirt ${f.libvirt}, QEMU ${f.qemu}, kvm ${f.kvm}`;
    if (host(want) !== host(got)) {
      notes.push(`${kind}-${version} was recorded with ${host(want)}: not compared here (${host(got)})`);
      continue;
    }
    expect(comparableRecording(got, 'tcg'), `${kind}-${version} differs from its fixture`).toEqual(
      comparableRecording(want, 'tcg'),
    );
  }
  return notes;
}

describe('real libvirt 9.0 (root, Debian libvirt-daemon packages)', () => {
  for (const version of VERSIONS) {
    it(
      `issue 13 on QEMU ${version}: backup-begin (pull), domjobabort, blockcopy --pivot; bytes exact; the same conversation twice`,
      async (ctx) => {
        if (unavailable) return ctx.skip(unavailable);
        const first = await recordScenario('backup-pull', version);
        const second = await recordScenario('backup-pull', version);
        expect(comparableRecording(second.scenario, 'all'), 'the second run differs from the first').toEqual(
          comparableRecording(first.scenario, 'all'),
        );
        expect(comparableRecording(second.probe, 'all'), 'the second probe differs from the first').toEqual(
          comparableRecording(first.probe, 'all'),
        );
        if (RECORD) writeRecording('backup-pull', version, first);
        else for (const n of compareWithFixtures('backup-pull', version, first)) ctx.annotate(n);
      },
      BOUND_MS,
    );

    it(
      `issue 15 on QEMU ${version}: checkpoints, incremental pull backups, delete, restart, kill -9`,
      async (ctx) => {
        if (unavailable) return ctx.skip(unavailable);
        const first = await recordScenario('checkpoints', version);
        if (RECORD) {
          const second = await recordScenario('checkpoints', version);
          expect(
            comparableRecording(second.scenario, 'all'),
            'the second run differs from the first',
          ).toEqual(comparableRecording(first.scenario, 'all'));
          writeRecording('checkpoints', version, first);
        } else for (const n of compareWithFixtures('checkpoints', version, first)) ctx.annotate(n);
      },
      BOUND_MS,
    );
  }
});
