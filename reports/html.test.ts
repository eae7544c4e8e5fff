import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProposalReport } from '../checks/model/check.ts';
import { bundled } from '../contract/proposals/index.ts';
import { findChromium, type OpenBrowser, openChromium } from './browser.ts';
import { proposalsHtml } from './compare.ts';
import { checkFile, matrixHtml, writeHtmlReport } from './html.ts';
import { buildMatrix } from './matrix.ts';
import { res, tr } from './test-fixtures.ts';

/**
 * The HTML report as a reader sees it: written from small results, transcripts and a proposal report,
 * opened in headless Chromium (Debian's chromium package).
 */
const NEW = "Cannot find device='nope' nor node-name='nope'";
const OLD = 'Cannot find device=nope nor node_name=nope';

const proposal: ProposalReport = {
  proposal: 'seed-2013',
  title: 'one fleecing job per domain',
  domain: 'vm',
  profile: '7.2',
  seed: 1,
  runs: 50,
  findings: [],
  coverage: { covered: 1, total: 2, uncovered: [{ from: 'fleecing', event: 'fleeceStop', to: 'stopped' }] },
  machine: bundled('seed-2013')!.shape,
  stats: { runs: 60, qmpCommands: 900, ms: 1200 },
  verdicts: [
    {
      property: 'point-in-time',
      description: 'reads show the disk as it was',
      claimed: true,
      status: 'holds',
      runs: 50,
      exercised: 41,
    },
    {
      property: 'teardown-safe' as never,
      description: 'teardown never loses data',
      claimed: true,
      status: 'fails',
      runs: 7,
      exercised: 3,
      counterexample: {
        property: 'teardown-safe' as never,
        detail: 'the export was removed while a reader was connected',
        ops: [],
        seed: 1,
        path: '6:0',
        replay: 'npx fleece-lab check seed-2013 --profile 7.2 --seed 1 --path 6:0 --runs 1',
        ms: 20,
        trace: [
          { kind: 'note', text: 'setup done' },
          { kind: 'api', call: 'fleece.start', params: { disks: [0] }, result: { id: 1 } },
          {
            kind: 'qmp',
            command: 'blockdev-backup',
            args: { device: 'd0', sync: 'none' },
            reply: { return: {} },
          },
          { kind: 'event', event: 'JOB_STATUS_CHANGE', data: { status: 'running' } },
        ],
      },
    },
    {
      property: 'job-identity' as never,
      description: 'jobs have ids',
      claimed: false,
      status: 'not-expressible',
      runs: 0,
      exercised: 0,
      reason: 'the API has no job ids',
    },
  ],
};

function site(dir: string): void {
  const realRes = res('qemu:7.2.22', '7.2.22', [
    ['errors/unknown-node-backup', 'pass'],
    ['bitmaps/clear', 'pass'],
    ['jobs/needs-10', 'skip', 'QEMU 7.2 lacks block-job-change'],
  ]);
  const simRes = res('sim:7.2', '7.2', [
    ['errors/unknown-node-backup', 'fail', '.steps.1.reply.error.desc: got …'],
    ['bitmaps/clear', 'pass'],
    ['jobs/needs-10', 'skip', 'QEMU 7.2 lacks block-job-change'],
  ]);
  const realTr = new Map([
    ['errors/unknown-node-backup', tr('errors/unknown-node-backup', NEW)],
    ['bitmaps/clear', tr('bitmaps/clear')],
  ]);
  const simTr = new Map([
    ['errors/unknown-node-backup', tr('errors/unknown-node-backup', OLD)],
    ['bitmaps/clear', tr('bitmaps/clear')],
  ]);
  const matrix = buildMatrix({
    createdAt: '2026-01-01T00:00:00Z',
    versions: [
      {
        version: '5.2',
        real: {
          results: res('qemu:5.2.0', '5.2.0', [['errors/unknown-node-backup', 'pass']]),
          traces: new Map([['errors/unknown-node-backup', tr('errors/unknown-node-backup', OLD)]]),
        },
      },
      { version: '7.2', real: { results: realRes, traces: realTr }, sim: { results: simRes, traces: simTr } },
    ],
  });
  writeHtmlReport(dir, {
    title: 'fleece-lab report (test)',
    results: [realRes, simRes],
    matrix,
    proposals: [proposal],
    traces: new Map([
      ['qemu:7.2.22', realTr],
      ['sim:7.2', simTr],
    ]),
  });
}

describe('the report written for the browser', () => {
  it('has an index, a page per check, and no external assets', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-html-'));
    try {
      site(dir);
      const index = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
      expect(fs.existsSync(path.join(dir, 'checks', checkFile('bitmaps/clear')))).toBe(true);
      expect(index).not.toMatch(/(src|href)="(https?:)?\/\//);
      expect(index).toContain('data-check="errors/unknown-node-backup" data-version="7.2"');
      // it leads with the proposals, then the matrix; the targets after
      const at = (id: string) => index.indexOf(`<h2 id="${id}"`);
      expect(at('proposals')).toBeGreaterThan(0);
      expect(at('proposals')).toBeLessThan(at('matrix'));
      expect(at('matrix')).toBeLessThan(at('targets'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows the first domain and profile in full, the others folded under what changes, each API once', () => {
    const on111: ProposalReport = {
      ...proposal,
      profile: '11.1',
      verdicts: proposal.verdicts.map((v) =>
        v.property === ('teardown-safe' as never) ? { ...v, status: 'holds', counterexample: undefined } : v,
      ),
    };
    const html = proposalsHtml([proposal, on111]);
    expect(html).toContain('<h3>vm domain, sim:7.2</h3>');
    expect(html).toContain(
      '<details class="group" data-group="vm domain, sim:11.1"><summary><b>vm domain, sim:11.1</b>: 1 verdict differs from vm domain, sim:7.2: seed-2013 / teardown-safe: fails → holds</summary>',
    );
    expect(html.match(/class="api machine"/g)).toHaveLength(1);
    expect(html).toContain('<th>vm, sim:7.2</th><th>vm, sim:11.1</th>');
  });

  it('folds a long matrix by check family, the families that differ first and open', () => {
    const ids = [
      ...Array.from({ length: 30 }, (_, i) => `bitmaps/b${i}`),
      ...Array.from({ length: 20 }, (_, i) => `jobs/j${i}`),
    ];
    const real = res(
      'qemu:7.2.22',
      '7.2.22',
      ids.map((id) => [id, 'pass']),
    );
    const sim = res(
      'sim:7.2',
      '7.2',
      ids.map((id) => [id, id === 'jobs/j7' ? 'fail' : 'pass']),
    );
    const html = matrixHtml(
      buildMatrix({
        createdAt: '2026-01-01T00:00:00Z',
        versions: [{ version: '7.2', real: { results: real }, sim: { results: sim } }],
      }),
    );
    const jobs = html.indexOf('data-family="jobs"');
    const bitmaps = html.indexOf('data-family="bitmaps"');
    expect(jobs).toBeGreaterThan(0);
    expect(jobs).toBeLessThan(bitmaps);
    expect(html).toMatch(
      /data-family="jobs" open><summary><b>jobs<\/b>: 20 checks, 1 where the simulator differs/,
    );
    expect(html).toMatch(/data-family="bitmaps"><summary><b>bitmaps<\/b>: 30 checks, no difference/);
    // the differing row leads its family
    expect(html.indexOf('data-check="jobs/j7"')).toBeLessThan(html.indexOf('data-check="jobs/j0"'));
  });
});

const chromium = findChromium();

/** the text a reader sees (rendered: closed <details> and hidden parts left out) */
function shown(l: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is checked
  return l.innerText();
}

describe.skipIf(!chromium)('the HTML report in headless Chromium', () => {
  let dir: string;
  let b: OpenBrowser;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-html-'));
    site(dir);
    b = await openChromium(chromium!);
  }, 90_000);
  afterAll(async () => {
    await b?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the matrix in colour, a check page with its trace, and the proposals table', async () => {
    const page = await b.context.newPage();
    await page.goto(pathToFileURL(path.join(dir, 'index.html')).href);
    expect(await page.title()).toBe('fleece-lab report (test)');

    // the matrix: a disagreement cell (simulator wrong: sim:7.2 has 5.2's text, unlike its own real QEMU;
    // issue 16), an agreeing one, a skip
    const cell = (id: string, v: string) =>
      page.locator(`#matrix-table td[data-check="${id}"][data-version="${v}"]`);
    const bad = cell('errors/unknown-node-backup', '7.2');
    expect((await shown(bad)).trim()).toBe('pass / fail ✗');
    expect(await bad.getAttribute('class')).toContain('simulator-wrong');
    expect(await bad.getAttribute('title')).toContain('answers as real QEMU 5.2 does');
    const color = (l: ReturnType<typeof cell>) =>
      l.evaluate(
        (e) =>
          (
            globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }
          ).getComputedStyle(e).backgroundColor,
      );
    expect(await color(bad)).toBe('rgb(247, 196, 138)');
    const good = cell('bitmaps/clear', '7.2');
    expect((await shown(good)).trim()).toBe('pass');
    expect(await color(good)).toBe('rgb(185, 232, 185)');
    expect(await color(cell('jobs/needs-10', '7.2'))).toBe('rgb(228, 228, 228)');
    expect(await shown(page.locator('#differences-table'))).toContain('simulator wrong');
    expect(await shown(page.locator('#matrix-summary tr[data-version="7.2"]'))).toContain('Debian 7.2.22');

    // the proposals × properties table with its counterexample
    const verdict = page.locator(
      '#proposals-table td[data-proposal="seed-2013"][data-property="teardown-safe"]',
    );
    expect((await shown(verdict)).trim()).toBe('fails (claimed)');
    expect(await color(verdict)).toBe('rgb(240, 128, 128)');
    expect((await shown(page.locator('#proposals-table td[data-property="job-identity"]'))).trim()).toBe(
      'n/a',
    );
    const ce = page.locator('#ce-seed-2013-teardown-safe');
    expect(await shown(ce)).toContain('npx fleece-lab check seed-2013 --profile 7.2 --seed 1 --path 6:0');
    expect(await shown(ce)).toContain('fleece.start({"disks":[0]})');
    await page.screenshot({ path: path.join(dir, 'index.png'), fullPage: true });
    expect(fs.statSync(path.join(dir, 'index.png')).size).toBeGreaterThan(10_000);

    // a check page, reached by its link: status per target, matrix cells, transcripts
    await page.locator('#matrix-table a', { hasText: 'errors/unknown-node-backup' }).click();
    await page.waitForURL(/checks\/errors__unknown-node-backup\.html$/);
    expect(await shown(page.locator('h1#check'))).toBe('errors/unknown-node-backup');
    expect(await shown(page.locator('#check-status'))).toMatch(/sim:7\.2\s+fail/);
    expect(await shown(page.locator('#check-matrix'))).toContain('versions differ');
    const sim = page.locator('details.trace[data-target="sim:7.2"]');
    expect(await shown(sim)).toContain('blockdev-backup');
    expect(await shown(sim)).toContain(OLD);
    expect(await shown(page.locator('details.trace[data-target="qemu:7.2.22"]'))).toContain(
      "node-name='nope'",
    );
    await page.close();
  });
});

if (!chromium)
  describe('the HTML report in headless Chromium', () => {
    it.skip('skipped: chromium is not installed (apt-get install chromium)', () => {});
  });
