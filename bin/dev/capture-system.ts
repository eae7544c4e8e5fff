import { statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { captureSystem, loadRequests } from '../../harness/qemu/capture-system.ts';
import { QEMU_VERSIONS, resolveQemu, versionKey } from '../../harness/qemu/install.ts';

/**
 * `fleece-lab qemu capture-system [VERSION|ROOT|BINARY ...] [--out DIR]`: what each QEMU's
 * qemu-system-x86_64 says about itself beyond the schema (contract/qemu-system/<version>.json), one line
 * per file written (or FAILED and why). Exit 1 when any capture failed.
 */
export async function cmdCaptureSystem(specs: string[], outDir: string): Promise<number> {
  const out = resolve(outDir);
  const requests = loadRequests();
  let failed = 0;
  for (const spec of specs.length ? specs : QEMU_VERSIONS) {
    try {
      const q = resolveQemu(spec);
      const v = versionKey(q.version);
      const cap = await captureSystem(q, requests[v] ?? {});
      const file = join(out, `${v}.json`);
      writeFileSync(file, `${JSON.stringify(cap, null, 0)}\n`);
      console.log(`${spec}\t${q.version}\t${file}\t${statSync(file).size} bytes`);
    } catch (e) {
      failed++;
      console.log(`${spec}\tFAILED\t${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return failed ? 1 : 0;
}
