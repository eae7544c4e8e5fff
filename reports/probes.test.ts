import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProbeResults, ProbeStatus } from '../contract/formats/probes.ts';
import { writeHtmlReport } from './html.ts';
import { diffProbes } from './probe-diff.ts';
import { fixesCarriedMarkdown, fixesCarriedText, probesHtml, probesMarkdown } from './probes.ts';

const probes = (target: string, statuses: Record<string, ProbeStatus>): ProbeResults => ({
  tool: 'fleece-lab',
  kind: 'probes',
  target,
  qemu: { version: target.replace(/^[a-z]+:/, ''), package: 'test' },
  switched: [],
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 1,
  probes: Object.entries(statuses).map(([id, status], i) => ({
    id,
    bug: `bug ${id}`,
    kind: 'bug' as const,
    fix: { commit: `${i}`.repeat(40), title: `fix ${id}`, release: '9.1.0', backports: ['7.2.14'] },
    affected: 'some',
    runbook: `probes/${id}`,
    status,
    evidence: { step: 3, request: 'nbd-server-stop', saw: `{"x":${i}}`, why: `because ${id}` },
    durationMs: 1,
  })),
});

const real72 = probes('qemu:7.2.22', { a: 'fixed', b: 'present', c: 'broken', d: 'not-applicable' });
const sim72 = probes('sim:7.2', { a: 'fixed', b: 'present', c: 'broken', d: 'not-applicable' });
const real10 = probes('qemu:10.0.13', { a: 'fixed', b: 'fixed', c: 'fixed', d: 'fixed' });

describe('fixes carried', () => {
  it('counts the applicable probes and names the others', () => {
    expect(fixesCarriedText(real72)).toBe('1 of 3 fixed; present: b; broken: c; 1 not applicable');
    expect(fixesCarriedText(real10)).toBe('4 of 4 fixed');
  });

  it('is a row per version and side in the matrix, and a probe × version table', () => {
    const md = fixesCarriedMarkdown([
      { version: '7.2', real: real72, sim: sim72 },
      { version: '10.0', real: real10 },
    ]);
    expect(md).toContain('## Fixes carried');
    expect(md).toContain(
      '| 7.2 | real QEMU | qemu:7.2.22 | test | 1 of 3 fixed; present: b; broken: c; 1 not applicable |',
    );
    expect(md).toContain(
      '| 7.2 | simulator | sim:7.2 | test | 1 of 3 fixed; present: b; broken: c; 1 not applicable |',
    );
    expect(md).toContain('| 10.0 | real QEMU | qemu:10.0.13 | test | 4 of 4 fixed |');
    expect(md).toContain('| probe | fix | 7.2 | 10.0 |');
    expect(md).toContain('| b | 1111111111 (9.1.0) | present | fixed/– |');
    expect(fixesCarriedMarkdown([{ version: '5.2' }])).toBe('');
  });

  it('reads in Markdown and HTML with each probe’s fix and evidence', () => {
    const md = probesMarkdown([real72]);
    expect(md).toContain(
      '| b | bug b | 1111111111 "fix b" (9.1.0; stable 7.2.14) | some | **present** | step 3 (nbd-server-stop): {"x":1} — because b |',
    );
    const html = probesHtml([real72, real10]);
    expect(html).toContain('<h2 id="probes">');
    expect(html).toContain(
      '<td class="c unexplained" title="step 3 (nbd-server-stop): {&quot;x&quot;:1} — because b">present</td>',
    );
    expect(probesHtml([])).toBe('');
  });

  it('is a column of the HTML report’s targets table', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-probes-html-'));
    try {
      writeHtmlReport(dir, {
        results: [],
        pages: false,
        fixesCarried: new Map([['qemu:7.2.22', fixesCarriedText(real72)]]),
        sections: [probesHtml([real72])],
      });
      const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
      expect(html).toContain('<th>fixes carried</th>');
      expect(html).toContain('<a href="#probes">fixes carried</a>');
      expect(html).toContain('id="probes-table"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diff of two probe files', () => {
  it('calls a fix that went away "fix lost" and one that came "fix gained"', () => {
    const d = diffProbes(real10, real72, 'a.json', 'b.json');
    expect(d.changes.map((c) => [c.id, c.a, c.b, c.verdict])).toEqual([
      ['b', 'fixed', 'present', 'fix lost'],
      ['c', 'fixed', 'broken', 'fix lost'],
      ['d', 'fixed', 'not-applicable', 'changed'],
    ]);
    expect(d.same).toBe(1);
    expect(diffProbes(real72, real10, 'b.json', 'a.json').changes[0].verdict).toBe('fix gained');
  });
});
