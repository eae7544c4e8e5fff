/**
 * Client behaviour a real QEMU will not produce on demand: silence, hang-ups, garbage, reordering.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FAKE_GREETING, type FakeConnection, type FakeServer, startFakeServer } from './fake-qmp-server.js';
import {
  QmpClient,
  QmpConnectionClosedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
} from './qmp-client.js';

let server: FakeServer | undefined;
let client: QmpClient | undefined;

afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

const ts = { seconds: 1, microseconds: 2 };

/** A server that greets and answers qmp_capabilities, then hands the connection to the test. */
async function negotiated(timeoutMs = 2_000): Promise<{ c: QmpClient; conn: FakeConnection }> {
  server = await startFakeServer((conn) => conn.send(FAKE_GREETING));
  const connecting = QmpClient.connect(server.path, { timeoutMs });
  const conn = await server.nextConnection();
  const neg = JSON.parse(await conn.nextLine()) as { id: string };
  conn.send({ return: {}, id: neg.id });
  client = await connecting;
  return { c: client, conn };
}

async function nextRequest(conn: FakeConnection): Promise<{ execute: string; id?: unknown }> {
  return JSON.parse(await conn.nextLine()) as { execute: string; id?: unknown };
}

describe('QmpClient against a fake server', () => {
  it('times out a call that never gets a reply, and drops the late reply', async () => {
    const { c, conn } = await negotiated();
    const t0 = Date.now();
    const call = c.execute('query-status', undefined, { timeoutMs: 150 });
    const req = await nextRequest(conn);
    await expect(call).rejects.toThrow(QmpTimeoutError);
    await expect(call).rejects.toThrow(/no reply to 'query-status' \(id fl-\d+\) within 150 ms/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    conn.send({ return: 'late', id: req.id });
    const next = c.execute('query-name');
    const req2 = await nextRequest(conn);
    conn.send({ return: { name: 'x' }, id: req2.id });
    await expect(next).resolves.toEqual({ name: 'x' });
    expect(c.closed).toBe(false);
  });

  it('times out the greeting', async () => {
    server = await startFakeServer();
    await expect(QmpClient.connect(server.path, { timeoutMs: 100 })).rejects.toThrow(
      /timed out after 100 ms waiting for the QMP greeting/,
    );
  });

  it('matches replies by id when they come back out of order', async () => {
    const { c, conn } = await negotiated();
    const calls = ['a', 'b', 'c', 'd'].map((n) => c.execute(`cmd-${n}`));
    const reqs = await Promise.all(calls.map(() => nextRequest(conn)));
    for (const r of [...reqs].reverse()) conn.send({ return: r.execute, id: r.id });
    await expect(Promise.all(calls)).resolves.toEqual(['cmd-a', 'cmd-b', 'cmd-c', 'cmd-d']);
  });

  it('turns an error reply into QmpError with class, desc and the sent message', async () => {
    const { c, conn } = await negotiated();
    const call = c.execute('blockdev-del', { 'node-name': 'x' });
    const req = await nextRequest(conn);
    conn.send({
      error: { class: 'GenericError', desc: "Failed to find node with node-name='x'" },
      id: req.id,
    });
    const err: unknown = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpError);
    const qe = err as QmpError;
    expect(qe.errorClass).toBe('GenericError');
    expect(qe.desc).toBe("Failed to find node with node-name='x'");
    expect(qe.sent).toEqual({ execute: 'blockdev-del', arguments: { 'node-name': 'x' }, id: req.id });
  });

  it('matches an id-less reply to the single id-less request, and refuses a second one', async () => {
    const { c, conn } = await negotiated();
    const call = c.executeRaw('query-status', undefined, { withId: false });
    await expect(c.executeRaw('query-name', undefined, { withId: false })).rejects.toThrow(/still pending/);
    const req = await nextRequest(conn);
    expect(req).toEqual({ execute: 'query-status' });
    conn.send({ return: { running: true } });
    await expect(call).resolves.toEqual({ return: { running: true } });
  });

  it('fails every pending call naming its command when the server hangs up', async () => {
    const { c, conn } = await negotiated();
    const one = c.execute('blockdev-backup', { sync: 'none' });
    const two = c.execute('query-jobs');
    const listener = c.events.listen();
    await nextRequest(conn);
    await nextRequest(conn);
    conn.socket.destroy();
    await expect(one).rejects.toThrow(QmpConnectionClosedError);
    await expect(one).rejects.toThrow(/closed by the server.*'blockdev-backup'/);
    await expect(two).rejects.toThrow(/'query-jobs'/);
    await expect(listener.next()).rejects.toThrow(/closed by the server/);
    await expect(c.execute('query-status')).rejects.toThrow(
      /closed by the server; cannot send 'query-status'/,
    );
  });

  it('fails everything and closes on malformed JSON', async () => {
    const { c, conn } = await negotiated();
    const call = c.execute('query-status');
    await nextRequest(conn);
    conn.sendBytes('{"return": {}, "id": \r\n');
    await expect(call).rejects.toThrow(QmpProtocolError);
    await expect(call).rejects.toThrow(/malformed JSON: "\{\\"return\\": \{\}, \\"id\\": ".*'query-status'/);
    expect(c.closed).toBe(true);
  });

  it('rejects a reply of the wrong shape with one line naming the field', async () => {
    const { c, conn } = await negotiated();
    const call = c.execute('query-status');
    const req = await nextRequest(conn);
    conn.send({ error: { class: 'GenericError', desc: 42 }, id: req.id });
    const err: unknown = await call.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect(String((err as Error).message)).toMatch(/^QMP error reply has the wrong shape: error\.desc: /);
    expect((err as Error).message).not.toContain('\n');
  });

  it('rejects a greeting of the wrong shape naming the field', async () => {
    server = await startFakeServer((conn) => conn.send({ QMP: { version: { qemu: { major: 7 } } } }));
    await expect(QmpClient.connect(server.path, { timeoutMs: 1_000 })).rejects.toThrow(
      /QMP greeting has the wrong shape: QMP\.version\.qemu\.minor: Required/,
    );
  });

  it('fails when a line exceeds the bound', async () => {
    server = await startFakeServer((conn) => conn.send(FAKE_GREETING));
    const connecting = QmpClient.connect(server.path, {
      timeoutMs: 2_000,
      negotiate: false,
      maxLineBytes: 1024,
    });
    const conn = await server.nextConnection();
    client = await connecting;
    const call = client.execute('query-status');
    conn.sendBytes('x'.repeat(600));
    conn.sendBytes('y'.repeat(600));
    await expect(call).rejects.toThrow(/line longer than 1024 bytes/);
  });

  it('treats a reply that matches nothing as a protocol error unless raw mode is on', async () => {
    const { c, conn } = await negotiated();
    const pending = c.execute('query-status');
    conn.send({ return: {}, id: 'someone-else' });
    await expect(pending).rejects.toThrow(/reply matching no pending request \(id "someone-else"\)/);
  });

  it('hands replies to raw input to nextUnmatched', async () => {
    const { c, conn } = await negotiated();
    await c.sendRaw('{garbage}\r\n');
    expect(await conn.nextLine()).toBe('{garbage}');
    conn.send({ error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'garbage'" } });
    const u = await c.nextUnmatched();
    expect(u.msg).toEqual({
      error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'garbage'" },
    });
    expect(c.log.at(-1)).toMatchObject({ dir: 'recv', msg: u.msg });
    expect(c.log.at(-2)).toMatchObject({ dir: 'send', msg: '{garbage}\r\n' });
  });

  it('gives each listener its own queue, and waitFor names what it waited for', async () => {
    const { c, conn } = await negotiated();
    const all = c.events.listen();
    const jobs = c.events.listen('JOB_STATUS_CHANGE');
    const ev = (status: string) => ({ event: 'JOB_STATUS_CHANGE', data: { id: 'j', status }, timestamp: ts });
    conn.send(ev('created'));
    conn.send({ event: 'STOP', timestamp: ts });
    conn.send(ev('running'));
    expect((await jobs.waitFor({ data: { status: 'running' } })).data).toEqual({
      id: 'j',
      status: 'running',
    });
    expect((await all.next()).data?.status).toBe('created');
    expect((await all.next()).event).toBe('STOP');
    expect((await all.next()).data?.status).toBe('running');
    conn.send(ev('aborting'));
    await expect(
      jobs.waitFor({ event: 'JOB_STATUS_CHANGE', data: { status: 'concluded' } }, { timeoutMs: 100 }),
    ).rejects.toThrow(
      /timed out after 100 ms waiting for event {"event":"JOB_STATUS_CHANGE","data":{"status":"concluded"}}; passed over: JOB_STATUS_CHANGE\(j aborting\)/,
    );
    expect(all.drain().map((e) => e.data?.status)).toEqual(['aborting']);
    all.close();
    await expect(all.next()).rejects.toThrow(/listener was closed/);
  });

  it('close() is idempotent and fails pending calls as closed by the client', async () => {
    const { c } = await negotiated();
    // attach the handler now: close() rejects the call before we get to look at it
    const failed = c.execute('query-status').catch((e: unknown) => e);
    await Promise.all([c.close(), c.close()]);
    await c.close();
    expect(await failed).toBeInstanceOf(QmpConnectionClosedError);
    expect(String(await failed)).toMatch(
      /closed by the client while waiting for the reply to 'query-status'/,
    );
  });

  it('reports a peer that closes after half a message', async () => {
    const { c, conn } = await negotiated();
    const call = c.execute('query-status');
    await nextRequest(conn);
    conn.socket.end('{"return"');
    await expect(call).rejects.toThrow(/closed by the server with 9 bytes of an unterminated message/);
  });
});
