import { PROFILES, type Profile, versionInfo } from '../../contract/versions.ts';
import { resolveQemu } from '../../harness/qemu/install.ts';
import { saveGolden, withoutTarget } from './golden.ts';
import { runRunbook } from './run-runbook.ts';
import { RUNBOOKS } from './runbooks/index.ts';

/**
 * Records every runbook's transcript from a real QEMU into conformance/golden/<version>/:
 *   npx tsx conformance/record.ts 7.2 [10.0 ...] [--only PATTERN]
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? args.splice(onlyAt, 2)[1] : undefined;
  const versions = (args.length > 0 ? args : ['7.2']) as Profile[];
  for (const v of versions) {
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

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`record: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
