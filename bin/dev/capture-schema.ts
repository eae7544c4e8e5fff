import { statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { captureSchema } from '../../harness/qemu/capture-schema.ts';
import { QEMU_VERSIONS, resolveQemu, versionKey } from '../../harness/qemu/install.ts';

/**
 * `fleece-lab qemu capture-schema [VERSION|ROOT|BINARY ...] [--out DIR]`: the introspection snapshots of
 * each QEMU's qemu-storage-daemon and qemu-system-x86_64, one line per file written (or FAILED and why).
 * Exit 1 when any capture failed.
 */
export async function cmdCaptureSchema(specs: string[], outDir: string): Promise<number> {
  const out = resolve(outDir);
  let failed = 0;
  for (const spec of specs.length ? specs : QEMU_VERSIONS) {
    for (const kind of ['qsd', 'system'] as const) {
      try {
        const q = resolveQemu(spec);
        const cap = await captureSchema(kind, q);
        const file = join(out, `${versionKey(q.version)}-${kind}.json`);
        writeFileSync(file, `${JSON.stringify(cap)}\n`);
        console.log(`${spec}\t${kind}\t${q.version}\t${file}\t${statSync(file).size} bytes`);
      } catch (e) {
        failed++;
        console.log(`${spec}\t${kind}\tFAILED\t${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  return failed ? 1 : 0;
}
