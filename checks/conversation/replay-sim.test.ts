/**
 * Replaying on the simulator (as a process, `serve --flavour system`): real libvirt 9.0's recorded
 * backup-pull conversation with real QEMU 7.2 (harness/libvirt/fixtures) answers as recorded on the 7.2
 * profile; a recording that says otherwise is classed as the simulator's error; a trace without a
 * command line is refused with the reason.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { traceOfFixture } from '../../harness/libvirt/log-trace.ts';
import { replayConversation } from './replay-conversation.ts';

const FIXTURE = fileURLToPath(
  new URL('../../harness/libvirt/fixtures/backup-pull-7.2.json', import.meta.url),
);
const trace = () => traceOfFixture(JSON.parse(fs.readFileSync(FIXTURE, 'utf8')), 'backup-pull-7.2.json');

describe('replaying a recorded libvirt conversation on the simulator', () => {
  it("answers libvirt's backup-pull conversation with real 7.2 as recorded, on profile 7.2", async () => {
    const r = await replayConversation(trace(), 'backup-pull-7.2.json', ['sim:7.2']);
    expect(r.outcomes).toEqual([
      { label: 'sim:7.2', qemu: 'simulator 7.2', steps: 458, broken: [], timeouts: [], differences: [] },
    ]);
  }, 120_000);

  it('classes a step the recording answers otherwise as the simulator wrong (its own version, no other)', async () => {
    const t = trace();
    const c = t.connections[0];
    if (!c) throw new Error('no connection');
    // the start's first queries only, with the recorded reply to query-hotpluggable-cpus changed
    c.messages = c.messages.slice(0, 30);
    const i = c.messages.findIndex((m) => m.dir === 'recv' && (m.msg as { id?: string }).id === 'libvirt-5');
    c.messages[i] = { dir: 'recv', msg: { return: [{ thread: 'not QEMU' }], id: 'libvirt-5' } };
    const r = await replayConversation(t, 't.json', ['sim:7.2']);
    const [o] = r.outcomes;
    expect(o?.differences).toHaveLength(1);
    expect(o?.differences[0]).toMatchObject({ label: 'query-hotpluggable-cpus', class: 'simulator-wrong' });

    const none = { ...t, connections: [{ ...c, argv: undefined }] };
    const n = await replayConversation(none, 't.json', ['sim:7.2']);
    expect(n.outcomes[0]?.broken).toEqual([
      'connection 0: no command line recorded for this domain connection (record it with --qemu-log)',
    ]);
  }, 120_000);
});
