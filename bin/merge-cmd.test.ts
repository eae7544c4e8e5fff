import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { res } from '../reports/test-fixtures.ts';
import { cmdMerge } from './merge-cmd.ts';

describe('fleece-lab merge', () => {
  it('fleece-lab merge writes the merged file (and a matrix beside it)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-merge-'));
    try {
      const a = path.join(dir, 'a.json');
      const b = path.join(dir, 'b.json');
      fs.writeFileSync(a, JSON.stringify(res('sim:7.2', '7.2', [['bitmaps/clear', 'pass']])));
      fs.writeFileSync(
        b,
        JSON.stringify(res('sim:7.2', '7.2', [['fleecing/legacy-backup-sync-none', 'pass']])),
      );
      const out = path.join(dir, 'out.json');
      expect(await cmdMerge([a, b, '--out', out])).toBe(0);
      const merged = JSON.parse(fs.readFileSync(out, 'utf8'));
      // the suite's order: fleecing runbooks come first
      expect(merged.checks.map((c: { id: string }) => c.id)).toEqual([
        'fleecing/legacy-backup-sync-none',
        'bitmaps/clear',
      ]);
      expect(await cmdMerge([a])).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
