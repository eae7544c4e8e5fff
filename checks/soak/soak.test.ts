import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCycles } from './cycles.ts';
import { probeCap } from './max-connections.ts';
import { runNbdLoad } from './nbd-load.ts';
import { fillPattern, pattern, randomPieces, rng, slope, summarize } from './probe.ts';

const MiB = 1 << 20;

function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const haveQsd = have('qemu-storage-daemon');

describe('soak helpers', () => {
  it('the pattern tells every 8-byte word apart and depends on the seed', () => {
    const a = pattern(0, 1 << 16, 1);
    const words = new Set<string>();
    for (let i = 0; i < a.length; i += 8) words.add(a.subarray(i, i + 8).toString('hex'));
    expect(words.size).toBe(a.length / 8);
    expect(pattern(0, 4096, 2).equals(a.subarray(0, 4096))).toBe(false);
    // a piece computed at its own offset is the same bytes as the whole
    expect(fillPattern(Buffer.alloc(512), 4096, 1).equals(a.subarray(4096, 4608))).toBe(true);
  });

  it('random pieces cover the export exactly once', () => {
    const pieces = randomPieces(MiB, 65536, rng(3)).sort((x, y) => x[0] - y[0]);
    let at = 0;
    for (const [off, len] of pieces) {
      expect(off).toBe(at);
      expect(len % 512).toBe(0);
      at += len;
    }
    expect(at).toBe(MiB);
  });

  it('slope and flatness', () => {
    expect(slope([0, 10, 20, 30], [5, 5, 5, 5])).toBe(0);
    expect(slope([0, 10, 20, 30], [0, 10, 20, 30])).toBeCloseTo(1);
    expect(summarize([0, 10, 20, 30], [30, 30, 31, 32], 'fds', 0.01).flat).toBe(false);
    expect(summarize([0, 10, 20, 30], [30, 31, 30, 30], 'fds', 0.01).flat).toBe(true);
    // RSS is judged by its floor: a steady leak fails, one step up that is later given back does not
    const xs = Array.from({ length: 101 }, (_, i) => i * 10);
    expect(
      summarize(
        xs,
        xs.map((x) => 100_000 + 20 * x),
        'KiB',
        16,
        'floor',
      ).flat,
    ).toBe(false);
    const steps = xs.map((x) => ((x > 100 && x < 200) || x > 850 ? 110_000 : 100_000));
    expect(summarize(xs, steps, 'KiB', 16, 'floor').flat).toBe(true);
  });
});

describe('NBD load on the simulator', () => {
  it('64 clients (+ nbdcopy/nbdinfo) read one point-in-time export of fleece-lab serve at once: every byte right, every connection let go', async () => {
    const r = await runNbdLoad({ target: 'serve', clients: 64, size: 2 * MiB, guestWrites: 32 });
    expect(r.errors).toEqual([]);
    expect(r.wrongBytes).toBe(0);
    expect(r.connected).toBe(64);
    // every client really held a connection at the same time
    expect(r.fds.peak).toBeGreaterThanOrEqual(r.fds.baseline + 64);
    expect(r.requests).toBeGreaterThan(64);
    expect(r.bytesRead).toBeGreaterThanOrEqual(64 * 2 * MiB);
    expect(r.fds.afterClients).toBe(r.fds.baseline);
    expect(r.fds.end).toBe(r.fds.start);
    expect(r.ok).toBe(true);
  }, 180_000);

  it('in process: the connection count goes back to 0', async () => {
    const r = await runNbdLoad({ target: 'sim', clients: 16, size: MiB, guestWrites: 16, tools: false });
    expect(r.errors).toEqual([]);
    expect(r.connectionsAfter).toBe(0);
    expect(r.ok).toBe(true);
  }, 120_000);

  it('negative control: one wrong byte on the server is seen by every client', async () => {
    const r = await runNbdLoad({
      target: 'sim',
      clients: 4,
      size: MiB,
      guestWrites: 0,
      tools: false,
      flipByteAt: 12345,
    });
    expect(r.ok).toBe(false);
    expect(r.wrongBytes).toBe(4);
    expect(r.errors.filter((e) => /wrong bytes/.test(e))).toHaveLength(4);
  }, 120_000);

  it('nbd-server-start without max-connections takes 100 connections at once, as QEMU 7.2.22 does', async () => {
    const sim = await probeCap('serve:7.2', 110, 1_500);
    expect(sim.greeted).toBe(100);
    if (haveQsd) expect((await probeCap('qsd', 110, 1_500)).greeted).toBe(sim.greeted);
  }, 120_000);
});

describe('fleecing cycles', () => {
  it('100 cycles on the simulator: right bytes, nodes/exports/jobs and fds back to the start', async () => {
    const r = await runCycles({ target: 'sim', cycles: 100, size: MiB, sampleEvery: 10 });
    expect(r.errors).toEqual([]);
    expect(r.completed).toBe(100);
    expect(r.wrongBytes).toBe(0);
    expect(r.cyclesWithLeftovers).toBe(0);
    expect(r.samples).toHaveLength(11);
    expect(r.series.ourFds.last).toBe(r.series.ourFds.first);
    expect(r.series.ourFds.flat).toBe(true);
  }, 300_000);

  it.skipIf(!haveQsd)(
    '10 cycles on one real qemu-storage-daemon: fds back to the start',
    async () => {
      const r = await runCycles({ target: 'qsd', cycles: 10, size: MiB, sampleEvery: 1 });
      expect(r.errors).toEqual([]);
      expect(r.completed).toBe(10);
      expect(r.wrongBytes).toBe(0);
      expect(r.cyclesWithLeftovers).toBe(0);
      expect(r.series.targetFds.last).toBe(r.series.targetFds.first);
      expect(r.series.targetFds.max).toBe(r.series.targetFds.first);
    },
    180_000,
  );
});
