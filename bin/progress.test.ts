import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressFor, progressLine, QUIET, wantsProgress } from './progress.ts';

describe('the live progress line', () => {
  it('says done/total, rate, time left and failures so far', () => {
    expect(
      progressLine({ what: 'check job-ids', unit: 'runs', done: 120, total: 2000, failed: 0, seconds: 3 }),
    ).toBe('check job-ids: 120/2000 runs, 40/s, 47s left, 0 failed');
    expect(progressLine({ what: '', unit: 'checks', done: 5, total: 5, failed: 2, seconds: 2 })).toBe(
      '5/5 checks, 2.5/s, done, 2 failed',
    );
  });

  it('is drawn on a terminal only: not in CI, not piped, not with --json', () => {
    const tty = { isTTY: true };
    expect(wantsProgress({}, {}, tty)).toBe(true);
    expect(wantsProgress({}, { CI: 'true' }, tty)).toBe(false);
    expect(wantsProgress({}, {}, { isTTY: false })).toBe(false);
    expect(wantsProgress({ json: 'out.json' }, {}, tty)).toBe(false);
    expect(wantsProgress({}, { TERM: 'dumb' }, tty)).toBe(false);
    expect(progressFor({}, new PassThrough() as unknown as NodeJS.WriteStream)).toBe(QUIET);
  });

  it('on a terminal: redraws one line in place, prints the command’s own lines above it, and clears it at the end', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream & { isTTY: boolean; columns: number };
    out.isTTY = true;
    out.columns = 80;
    const env = { ...process.env };
    delete process.env.CI;
    let written = '';
    out.on('data', (b: Buffer) => {
      written += b.toString();
    });
    const log = console.log;
    const printed: unknown[] = [];
    console.log = (...a: unknown[]) => printed.push(a.join(' '));
    try {
      const p = progressFor({}, out);
      p.start(2, 'checks', 'conform sim:7.2');
      console.log('pass  bitmaps/clear');
      p.tick(false);
      p.tick(true);
      p.done();
    } finally {
      console.log = log;
      process.env = env;
    }
    expect(printed).toEqual(['pass  bitmaps/clear']);
    expect(written).toContain('\r\x1b[2Kconform sim:7.2: 0/2 checks');
    expect(written).toMatch(/conform sim:7\.2: 2\/2 checks, [\d.]+\/s, done, 1 failed/);
    expect(written.endsWith('\r\x1b[2K')).toBe(true);
  });
});
