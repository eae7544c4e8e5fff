/**
 * A recorded libvirt conversation as committed under fixtures/: which connections libvirt opened (probe of
 * an emulator, a domain, a re-connection after libvirtd's restart), every message in wire order tagged
 * with the scenario step it happened in, and what each virsh call answered. Written one message per line
 * so a difference between two recordings reads as a line diff.
 */
import { messagePerLineJson } from '../../contract/formats/conversation-trace.ts';
import type { Direction, MonitorConversation } from './monitor-log.js';

/** A scenario step begins at this offset of the monitor log (PrivateLibvirtd.logOffset before the call). */
export interface StepMark {
  step: string;
  offset: number;
}

/** [direction, step, message] */
export type FixtureMessage = [Direction, string, unknown];

export interface FixtureConnection {
  role: MonitorConversation['role'];
  binary?: string;
  machine?: string;
  domain?: string;
  reconnect?: boolean;
  messages: FixtureMessage[];
}

/** What a virsh call of the scenario answered (exit code and output), for error texts and states. */
export interface VirshOutcome {
  step: string;
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ConversationFixture {
  format: 1;
  scenario: string;
  libvirt: string;
  /** the QEMU the emulator reported in its greeting: "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" */
  qemu: string;
  emulator: string;
  /** whether the host had /dev/kvm: libvirt's first probe (accel=kvm:tcg) answers differ without it */
  kvm: boolean;
  steps: string[];
  virsh: VirshOutcome[];
  /** other findings of the scenario (bitmaps read from images, dirty maps), by step */
  observed: Record<string, unknown>;
  connections: FixtureConnection[];
}

/** The step a log offset falls in: the last mark at or before it. */
export function stepAt(marks: readonly StepMark[], offset: number): string {
  let step = marks[0]?.step ?? '';
  for (const m of marks) if (m.offset <= offset) step = m.step;
  return step;
}

export function toFixtureConnections(
  convs: readonly MonitorConversation[],
  marks: readonly StepMark[],
): FixtureConnection[] {
  return convs.map((c) => {
    const out: FixtureConnection = { role: c.role, messages: [] };
    if (c.binary !== undefined) out.binary = c.binary;
    if (c.machine !== undefined) out.machine = c.machine;
    if (c.domain !== undefined) out.domain = c.domain;
    if (c.reconnect) out.reconnect = true;
    out.messages = c.messages.map((m) => [m.dir, stepAt(marks, m.offset), m.msg]);
    return out;
  });
}

/** "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" from the first greeting of any connection. */
export function greetingVersion(convs: readonly { messages: readonly FixtureMessage[] }[]): string {
  for (const c of convs)
    for (const [dir, , msg] of c.messages) {
      const q = (msg as { QMP?: { version?: { qemu?: Record<string, number>; package?: string } } }).QMP;
      if (dir === 'recv' && q?.version?.qemu) {
        const v = q.version.qemu;
        return `${v.major}.${v.minor}.${v.micro}${q.version.package ? ` (${q.version.package.trim()})` : ''}`;
      }
    }
  return 'unknown';
}

/** Stable JSON with one connection message per line. */
export function fixtureText(f: ConversationFixture): string {
  const { connections, ...head } = f;
  return messagePerLineJson(head, connections);
}
