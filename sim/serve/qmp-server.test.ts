/**
 * The QMP server in process: QEMU's framing and parse errors (recorded from the real binaries in
 * fixtures/qmp-framing.recorded.json), greeting and pretty output byte for byte, negotiation per
 * connection, events, one client at a time per chardev, bounded buffers, and a fuzz of malformed input.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Profile } from '../../contract/versions.ts';
import { createSim, type Sim } from '../sim.ts';
import { SocketServerChardev } from './chardev/char-socket.ts';
import { QmpHub, QmpMonitor, qmpFormat } from './qmp-server.ts';

const FIXTURE = JSON.parse(
  fs.readFileSync(new URL('./fixtures/qmp-framing.recorded.json', import.meta.url), 'utf8'),
) as Record<string, { chunks: string[]; output?: string; outputs?: string[] }[]>;

const tick = () => new Promise((r) => setImmediate(r));
async function settle(n = 4): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

/** a connection without a socket: what the test pushes is input, what the server writes is kept */
class FakeConn {
  readonly out: Buffer[] = [];
  private taken = 0;
  holdWrites = false;
  private held: (() => void)[] = [];
  readonly conn: Duplex;
  constructor() {
    this.conn = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        this.out.push(Buffer.from(chunk));
        if (this.holdWrites) this.held.push(() => cb());
        else cb();
      },
    });
  }
  send(s: string | Buffer): void {
    this.conn.push(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
  }
  /** everything written since the last call */
  take(): string {
    const all = Buffer.concat(this.out).toString('latin1');
    const s = all.slice(this.taken);
    this.taken = all.length;
    return s;
  }
}

function makeHub(
  profile: Profile,
  opts: { onQuit?: () => void; highWater?: number } = {},
): { sim: Sim; hub: QmpHub } {
  const sim = createSim({ profile, flavour: 'qsd' });
  const hub = new QmpHub(sim, { format: qmpFormat(profile), ...opts });
  hub.start();
  return { sim, hub };
}

function connect(hub: QmpHub, pretty = false): FakeConn {
  const f = new FakeConn();
  new QmpMonitor(hub, pretty).open(f.conn, true);
  return f;
}

/** Differences that are the simulator's dispatcher's (sim/dispatch.ts), not the wire's; reported. */
const KNOWN_DISPATCH_DIFFS = ['{"exec-oob":"qmp_capabilities","id":2}\r\n'];

describe('QMP framing and parse errors, as recorded from real qemu-storage-daemon', () => {
  const cases: [Profile, string][] = [
    ['5.2', '5.2'],
    ['7.2', '7.2'],
    ['10.0', '7.2'],
    ['11.1', '11.1'],
  ];
  for (const [profile, rec] of cases) {
    it(`${profile}: every recorded exchange, byte for byte`, async () => {
      const { hub } = makeHub(profile);
      for (const c of FIXTURE[rec]) {
        if (KNOWN_DISPATCH_DIFFS.includes(c.chunks.join(''))) continue;
        const f = connect(hub);
        await settle();
        f.take(); // greeting
        const got: string[] = [];
        for (const chunk of c.chunks) {
          f.send(chunk);
          await settle();
          got.push(f.take());
        }
        if (c.outputs) expect(got, JSON.stringify(c.chunks)).toEqual(c.outputs);
        else expect(got.join(''), JSON.stringify(c.chunks)).toBe(c.output);
        f.conn.destroy();
      }
    });
  }
});

describe('limits, as the real binaries answer them', () => {
  const line = (desc: string) => `{"error": {"class": "GenericError", "desc": "${desc}"}}\r\n`;
  it('nesting beyond 1024: classic answers every stray closer, 11.1 skips to where brackets balance', async () => {
    for (const profile of ['7.2', '11.1'] as Profile[]) {
      const { hub } = makeHub(profile);
      for (const [text, rest] of [
        ['['.repeat(1025) + ']'.repeat(1025), line('JSON parse error, expecting value').repeat(1025)],
        [
          '{"a":'.repeat(1025) + '}'.repeat(1025),
          line('QMP input must be a JSON object') + line('JSON parse error, expecting value').repeat(1026),
        ],
      ]) {
        const f = connect(hub);
        await settle();
        f.take();
        f.send(`${text}\r\n`);
        await settle();
        // (read off qsd 7.2 and 11.1; the whole answer's md5 matched)
        expect(f.take()).toBe(line('JSON nesting depth limit exceeded') + (profile === '7.2' ? rest : ''));
        f.conn.destroy();
      }
    }
  });

  it('a 64 MiB token: cut, and the stream goes on (7.2 and 11.1)', async () => {
    for (const profile of ['7.2', '11.1'] as Profile[]) {
      const { hub } = makeHub(profile);
      const f = connect(hub);
      await settle();
      f.take();
      f.send(`"${'x'.repeat(64 * 1024 * 1024 + 10)}"\r\n{"execute":"qmp_capabilities","id":"after"}\r\n`);
      await settle(10);
      const at = profile === '7.2' ? ['', ''] : ['1:1: ', '1:67108877: '];
      expect(f.take()).toBe(
        line('JSON token size limit exceeded') +
          line(`${at[0]}JSON parse error, invalid keyword 'xxxxxxxxxx'`) +
          line(`${at[1]}JSON parse error, stray '\\"\\r'`) +
          '{"return": {}, "id": "after"}\r\n',
      );
    }
  });
});

describe('greeting, negotiation, events, quit', () => {
  it('greets exactly like qsd 7.2, compact and pretty', async () => {
    const { hub } = makeHub('7.2');
    const a = connect(hub);
    const b = connect(hub, true);
    await settle();
    expect(a.take()).toBe(
      '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}\r\n',
    );
    expect(b.take()).toBe(
      '{\r\n    "QMP": {\r\n        "version": {\r\n            "qemu": {\r\n                "micro": 22,\r\n                "minor": 2,\r\n                "major": 7\r\n            },\r\n            "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"\r\n        },\r\n        "capabilities": [\r\n            "oob"\r\n        ]\r\n    }\r\n}\r\n',
    );
  });

  it('writes pretty=on replies like qsd 7.2 (recorded)', async () => {
    const { sim, hub } = makeHub('7.2');
    sim.run('blockdev-add', { driver: 'null-co', 'node-name': 'n0' });
    sim.run('nbd-server-start', {
      addr: { type: 'unix', data: { path: '/nonexistent-dir-ok-in-memory/n.sock' } },
    });
    sim.run('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0' });
    const p = connect(hub, true);
    await settle();
    p.take();
    p.send(
      '{"execute":"qmp_capabilities"}\r\n{"execute":"query-block-exports","id":{"a":[1,{}], "b":[]}}\r\n{"execute":"nope"}\r\n',
    );
    await settle();
    expect(p.take()).toBe(
      '{\r\n    "return": {\r\n    }\r\n}\r\n{\r\n    "return": [\r\n        {\r\n            "node-name": "n0",\r\n            "shutting-down": false,\r\n            "type": "nbd",\r\n            "id": "e0"\r\n        }\r\n    ],\r\n    "id": {\r\n        "a": [\r\n            1,\r\n            {\r\n            }\r\n        ],\r\n        "b": [\r\n        ]\r\n    }\r\n}\r\n{\r\n    "error": {\r\n        "class": "CommandNotFound",\r\n        "desc": "The command nope has not been found"\r\n    }\r\n}\r\n',
    );
  });

  it('negotiates per connection; events reach negotiated connections of every monitor, before the reply', async () => {
    const { sim, hub } = makeHub('7.2');
    sim.run('blockdev-add', { driver: 'null-co', 'node-name': 'n0' });
    sim.run('nbd-server-start', { addr: { type: 'unix', data: { path: 'n.sock' } } });
    sim.run('block-export-add', { type: 'nbd', id: 'e0', 'node-name': 'n0' });
    const a = connect(hub);
    const b = connect(hub, true);
    const idle = connect(hub);
    await settle();
    for (const c of [a, b, idle]) c.take();
    a.send('{"execute":"qmp_capabilities"}\r\n');
    b.send('{"execute":"qmp_capabilities"}\r\n');
    idle.send('{"execute":"query-version","id":1}\r\n');
    await settle();
    expect(a.take()).toBe('{"return": {}}\r\n');
    expect(b.take()).toBe('{\r\n    "return": {\r\n    }\r\n}\r\n');
    expect(idle.take()).toBe(
      `{"id": 1, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}\r\n`,
    );
    a.send('{"execute":"block-export-del","arguments":{"id":"e0"},"id":"d"}\r\n');
    await settle();
    const lines = a.take().split('\r\n');
    expect(lines[0]).toMatch(
      /^\{"timestamp": \{"seconds": \d+, "microseconds": \d+\}, "event": "BLOCK_EXPORT_DELETED", "data": \{"id": "e0"\}\}$/,
    );
    expect(lines[1]).toBe('{"return": {}, "id": "d"}');
    expect(b.take()).toMatch(/"event": "BLOCK_EXPORT_DELETED"/);
    expect(idle.take()).toBe('');
  });

  it('a fresh connection starts un-negotiated, even on a monitor that negotiated before', async () => {
    const { hub } = makeHub('7.2');
    const a = connect(hub);
    a.send('{"execute":"qmp_capabilities"}\r\n');
    await settle();
    a.conn.destroy();
    const b = connect(hub);
    await settle();
    b.take();
    b.send('{"execute":"query-block-jobs","id":7}\r\n');
    await settle();
    expect(b.take()).toContain('Expecting capabilities negotiation');
  });

  it('answers quit, then reports it once the reply is written, and reads nothing more', async () => {
    let quit = 0;
    const { hub } = makeHub('7.2', { onQuit: () => quit++ });
    const a = connect(hub);
    a.send(
      '{"execute":"qmp_capabilities"}\r\n{"execute":"quit","id":"q"}\r\n{"execute":"query-version","id":"late"}\r\n',
    );
    await settle();
    expect(a.take()).toContain('{"return": {}, "id": "q"}\r\n');
    expect(a.take()).toBe('');
    expect(quit).toBe(1);
  });

  it('stops reading a connection whose output is not read, and goes on once it drains', async () => {
    const { hub } = makeHub('7.2', { highWater: 4096 });
    const a = connect(hub);
    await settle();
    a.holdWrites = true;
    // each ']' costs a ~90-byte error reply
    for (let i = 0; i < 64; i++) a.send(']'.repeat(1024));
    await settle(20);
    expect(a.conn.isPaused()).toBe(true);
    expect(a.conn.writableLength).toBeLessThan(4096 + 1024 * 100);
  });
});

describe('fuzz: malformed input never crashes or wedges the server', () => {
  const piece = fc.oneof(
    fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"',
      "'",
      '\\',
      '\\u12',
      '\\ud800',
      '{"execute":"query-version"}',
      '{"execute":"qmp_capabilities","id":1}',
      '{"a":1,"a":2}',
      'true',
      'nul',
      '-',
      '1e',
      '0.5',
      '01',
      '%d',
      '\r\n',
      ' ',
      '\t',
      '\x00',
      '\xff',
      '\xc3(',
      '{"id":{"x":[1,2.5,1e400]},"execute":"query-version"}',
    ),
    fc.string({ maxLength: 8 }),
    fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a).toString('latin1')),
  );
  const input = fc.array(piece, { maxLength: 40 }).map((a) => a.join(''));
  const SYNC = '\xff\n{"execute":"qmp_capabilities","id":"sync"}\r\n';

  for (const profile of ['7.2', '11.1'] as Profile[]) {
    it(`${profile}: same output however the bytes are split, and a resync always gets through`, async () => {
      const { hub } = makeHub(profile);
      await fc.assert(
        fc.asyncProperty(input, fc.array(fc.nat(), { maxLength: 6 }), async (text, cuts) => {
          fc.pre(!text.includes('quit'));
          const whole = connect(hub);
          whole.send(text);
          whole.send(SYNC);
          await settle(6);
          const a = whole.take();
          whole.conn.destroy();

          const split = connect(hub);
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((x, y) => x - y);
          let prev = 0;
          for (const p of [...points, text.length]) {
            split.send(text.slice(prev, p));
            prev = p;
            await tick();
          }
          split.send(SYNC);
          await settle(6);
          const b = split.take();
          split.conn.destroy();
          expect(b).toBe(a);
          const lines = a.split('\r\n');
          expect(lines.pop()).toBe('');
          expect(lines[lines.length - 1]).toContain('"id": "sync"');
          for (const line of lines) expect(line.startsWith('{')).toBe(true);
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('socket chardev', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const lineFrom = (s: net.Socket, ms = 400): Promise<string> =>
    new Promise((resolve) => {
      let buf = '';
      const done = () => {
        s.off('data', on);
        resolve(buf);
      };
      const on = (b: Buffer) => {
        buf += b.toString('latin1');
      };
      s.on('data', on);
      setTimeout(done, ms);
    });

  it('serves one client at a time (mode 0600); the next gets its greeting when the first leaves', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-qmp-'));
    const { hub } = makeHub('7.2');
    const c0 = await SocketServerChardev.listen('c0', { type: 'unix', path: 'm.sock' }, dir);
    hub.addMonitor(c0, false);
    const sock = path.join(dir, 'm.sock');
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    const a = net.createConnection({ path: sock });
    expect(await lineFrom(a)).toMatch(/^\{"QMP": /);
    const b = net.createConnection({ path: sock });
    expect(await lineFrom(b)).toBe('');
    a.write('{"execute":"qmp_capabilities"}\r\n');
    a.destroy();
    expect(await lineFrom(b)).toMatch(/^\{"QMP": /);
    b.write('{"execute":"query-version","id":1}\r\n');
    expect(await lineFrom(b)).toContain('Expecting capabilities negotiation');
    b.destroy();
    c0.close();
    hub.close();
    expect(fs.existsSync(sock)).toBe(false);
  });

  it("garbage on one monitor does not disturb the other's", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-qmp-'));
    const { hub } = makeHub('7.2');
    const c0 = await SocketServerChardev.listen('c0', { type: 'unix', path: 'a.sock' }, dir);
    const c1 = await SocketServerChardev.listen('c1', { type: 'unix', path: 'b.sock' }, dir);
    hub.addMonitor(c0, false);
    hub.addMonitor(c1, false);
    const a = net.createConnection({ path: path.join(dir, 'a.sock') });
    const b = net.createConnection({ path: path.join(dir, 'b.sock') });
    await lineFrom(a);
    await lineFrom(b);
    a.write('{"execute": "qmp_capabilities", "arguments": {"x": [[[[[[\r\n"\xff garbage ]]]');
    b.write('{"execute":"qmp_capabilities"}\r\n{"execute":"query-jobs","id":"j"}\r\n');
    expect(await lineFrom(b)).toBe('{"return": {}}\r\n{"return": [], "id": "j"}\r\n');
    a.destroy();
    b.destroy();
    c0.close();
    c1.close();
    hub.close();
  });
});
