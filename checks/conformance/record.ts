import { PROFILES, type Profile, versionInfo } from '../../contract/versions.ts';
import { resolveQemu } from '../../harness/qemu/install.ts';
import { saveGolden, withoutTarget } from './golden.ts';
import { runRunbook } from './run-runbook.ts';
import { RUNBOOKS } from './runbooks/index.ts';

/**
 * Records every runbook's transcript (those whose id contains `only`, when given) from the real QEMU of
 * each version into checks/conformance/golden/<version>/ (`fleece-lab record-golden 7.2 [10.0 ...]`).
 */
export async function recordGolden(versions: readonly string[], only?: string): Promise<void> {
  for (const v of versions as Profile[]) {
    if (!PROFILES.includes(v)) throw new Error(`unknown version ${v}`);
    const q = resolveQemu(v);
    const info = versionInfo(v);
    for (const rb of RUNBOOKS) {
      if (only && !rb.id.includes(only)) continue;
      const missing = rb.needs.filter((f) => !info.features.has(f));
      if (missing.length > 0) {
        console.log(`skip ${v} ${rb.id}: needs ${missing.join(', ')}`);
        continue;
      }
      const t = await runRunbook(
        rb,
        {
          kind: 'qemu',
          argvPrefix: rb.flavour === 'qsd' ? q.qsd : q.system,
          env: { ...process.env, ...q.env },
          qemuImg: q.img,
          qemuIo: q.io,
        },
        `qemu ${q.version}`,
      );
      saveGolden(v, rb.id, {
        qemu: { version: q.version, package: q.package },
        transcript: withoutTarget(t),
      });
      console.log(`recorded ${v} ${rb.id}`);
    }
  }
}
