import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cmdCompare } from './compare-cmd.ts';

describe('fleece-lab compare', () => {
  it('writes proposals × properties per domain and profile, the costs, and HTML with each API machine', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-compare-'));
    try {
      const md = path.join(dir, 'c.md');
      const html = path.join(dir, 'c.html');
      const json = path.join(dir, 'c.json');
      const log = console.log;
      console.log = () => {};
      try {
        await cmdCompare({ runs: '40', seed: '1', profile: '7.2,5.2', domain: 'vm', md, html, json }, [
          'job-ids',
          'seed-2013',
        ]);
      } finally {
        console.log = log;
      }
      const text = fs.readFileSync(md, 'utf8');
      expect(text).toContain('## vm domain, sim:7.2');
      expect(text).toContain('## vm domain, sim:5.2');
      expect(text).toContain('| property | job-ids | seed-2013 |');
      expect(text).toMatch(/\| isolation \| holds in \d+ of 40 runs \(claimed\) \| n\/a \|/);
      expect(text).toMatch(
        /\| job-ids \| 40 \| \d+ \| [\d.]+ \| [\d.]+ KiB \| [\d.]+ (KiB|MiB) \| 3\/3 transitions taken \|/,
      );
      // 5.2 lacks copy-before-write: the claim that needs it is n/a there
      expect(text.split('## vm domain, sim:5.2')[1]).toMatch(
        /\| concurrent-points-in-time \| n\/a \(claimed\) \|/,
      );
      const page = fs.readFileSync(html, 'utf8');
      expect(page.match(/class="api machine"/g)).toHaveLength(2);
      expect(page).toContain('<svg');
      expect(JSON.parse(fs.readFileSync(json, 'utf8'))).toHaveLength(4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names a wrong option value', async () => {
    await expect(
      cmdCompare({ runs: '10', seed: '1', profile: '7.2', domain: 'vm,xen' }, ['job-ids']),
    ).rejects.toThrow('--domain xen: expected vm or qsd (comma-separated)');
  });
});
