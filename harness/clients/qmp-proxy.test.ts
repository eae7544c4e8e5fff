/**
 * The recording proxy against upstreams made here: a well-behaved one, one that sends garbage, one that
 * hangs up, and none at all. Each ends cleanly with the conversation so far or a one-line error.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { proxyOnce } from './qmp-proxy.ts';

const dirs: string[] = [];
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-proxy-'));
  dirs.push(d);
  return d;
}

/** an upstream that runs `serve` for each connection */
async function upstream(file: string, serve: (s: net.Socket) => void): Promise<void> {
  const srv = net.createServer(serve);
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(file, r));
}

/** a client: connects once the proxy listens, writes `chunks` (one per reply awaited), then hangs up */
function client(file: string, chunks: string[], waitFor = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: file });
    let got = '';
    let sent = 0;
    s.on('data', (b) => {
      got += b.toString();
      const lines = got.split('\n').filter((l) => l !== '').length;
      if (lines >= waitFor + sent && sent < chunks.length) s.write(chunks[sent++] ?? '');
      else if (sent === chunks.length && lines >= waitFor + sent) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n';

describe('the recording proxy', () => {
  it("passes bytes unchanged and keeps the client's ids and the order of commands, replies and events", async () => {
    const d = scratch();
    const up = path.join(d, 'up.sock');
    await upstream(up, (s) => {
      s.write(GREETING);
      let buf = '';
      s.on('data', (b) => {
        buf += b.toString();
        // the client's second command arrives without a newline: QEMU's streamer splits it all the same
        for (const m of buf.match(/\{[^{}]*\}/g) ?? []) {
          const id = JSON.parse(m).id;
          s.write(
            `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "X", "data": {"for": ${JSON.stringify(id)}}}\r\n`,
          );
          s.write(`{"return": {}, "id": ${JSON.stringify(id)}}\r\n`);
        }
        buf = '';
      });
    });
    const listen = path.join(d, 'p.sock');
    const rec = proxyOnce({ listen, upstream: up, clientWaitMs: 5000 });
    while (!fs.existsSync(listen)) await new Promise((r) => setTimeout(r, 10));
    const got = await client(listen, [
      '{"execute":"qmp_capabilities","id":"mine-1"}\n',
      '{"execute":"stop","id":7}',
    ]);
    const r = await rec;
    expect(got.startsWith(GREETING)).toBe(true);
    expect(r.endedBy).toBe('client');
    expect(r.messages.map((m) => [m.dir, m.msg])).toEqual([
      ['recv', JSON.parse(GREETING)],
      ['send', { execute: 'qmp_capabilities', id: 'mine-1' }],
      ['recv', { timestamp: { seconds: 1, microseconds: 2 }, event: 'X', data: { for: 'mine-1' } }],
      ['recv', { return: {}, id: 'mine-1' }],
      ['send', { execute: 'stop', id: 7 }],
      ['recv', { timestamp: { seconds: 1, microseconds: 2 }, event: 'X', data: { for: 7 } }],
      ['recv', { return: {}, id: 7 }],
    ]);
    expect(fs.existsSync(listen)).toBe(false);
  });

  it('keeps garbage from the upstream as unparsed lines and ends when the upstream hangs up', async () => {
    const d = scratch();
    const up = path.join(d, 'up.sock');
    await upstream(up, (s) => {
      s.write('this is not QMP\r\n\u0000\u0001{"half": \r\n');
      setTimeout(() => s.destroy(), 50);
    });
    const listen = path.join(d, 'p.sock');
    const rec = proxyOnce({ listen, upstream: up, clientWaitMs: 5000 });
    while (!fs.existsSync(listen)) await new Promise((r) => setTimeout(r, 10));
    const got = await client(listen, [], 5);
    const r = await rec;
    expect(got).toContain('this is not QMP');
    expect(r.endedBy).toBe('upstream');
    expect(r.messages).toEqual([
      { dir: 'recv', msg: { unparsed: 'this is not QMP' }, ms: expect.any(Number) },
      { dir: 'recv', msg: { unparsed: '\u0000\u0001{"half": ' }, ms: expect.any(Number) },
    ]);
  });

  it('refuses with one line: no upstream, a socket path in use, no client in time', async () => {
    const d = scratch();
    const listen = path.join(d, 'p.sock');
    const rec = proxyOnce({ listen, upstream: path.join(d, 'none.sock'), clientWaitMs: 5000 });
    rec.catch(() => {});
    while (!fs.existsSync(listen)) await new Promise((r) => setTimeout(r, 10));
    const c = net.createConnection({ path: listen });
    c.on('error', () => {});
    await expect(rec).rejects.toThrow(/^upstream .*none\.sock: ENOENT$/);
    c.destroy();
    expect(fs.existsSync(listen)).toBe(false);

    fs.writeFileSync(listen, '');
    await expect(proxyOnce({ listen, upstream: 'x' })).rejects.toThrow(/p\.sock exists: remove it/);
    fs.rmSync(listen);

    const t0 = Date.now();
    await expect(proxyOnce({ listen, upstream: 'x', clientWaitMs: 200 })).rejects.toThrow(
      /^no client connected to .* within 200 ms$/,
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(fs.existsSync(listen)).toBe(false);
  });
});
