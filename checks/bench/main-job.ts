import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The main job (`npx fleece-lab`) as a user runs it on a machine with one real QEMU: the one on PATH. The
 * QEMUs `fleece-lab qemu install` keeps in the cache are hidden from it by an empty cache folder, so the
 * main job finds only that one. Returns seconds and exit status.
 */
export function timeMainJob(): {
  seconds: number;
  status: number | null;
  realQemus: string;
  /** each suite's own time, as the main job printed it ("sim:7.2 4.1 s") */
  suites: string;
} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleece-lab-bench-main-'));
  try {
    const env = { ...process.env, FLEECE_LAB_CACHE: path.join(dir, 'cache') };
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['bin/fleece-lab.js', '--out', path.join(dir, 'out')], {
      stdio: 'pipe',
      env,
      maxBuffer: 64 << 20,
    });
    const seconds = (performance.now() - t0) / 1000;
    const out = String(r.stdout);
    // the summary's lines for the real QEMU ("qemu  QEMU 7.2.x ...")
    const realQemus = [...out.matchAll(/^qemu\S*\s+QEMU (\S+)/gm)].map((m) => m[1]).join(', ');
    const suites = [...out.matchAll(/^(\S+)\s+QEMU .*\((\d+(?:\.\d+)?) s\)/gm)]
      .map((m) => `${m[1]} ${m[2]} s`)
      .join(', ');
    return { seconds, status: r.status, realQemus, suites };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
