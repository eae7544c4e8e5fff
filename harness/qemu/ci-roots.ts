import { resolveQemu } from './install.ts';

/**
 * The real QEMU versions CI says it has roots for (FLEECE_LAB_CI_ROOTS=5.2,7.2,…, set by .ci/run from
 * .ci/roots): the live checks skip a version without a root, so on CI a listed version that does not
 * resolve must fail instead (harness/qemu/ci-roots.test.ts), never pass by skipping.
 */
export function ciRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.FLEECE_LAB_CI_ROOTS ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** the listed versions that do not resolve to a runnable QEMU here, each with why */
export function missingRoots(
  versions: readonly string[],
  resolve: (v: string) => unknown = resolveQemu,
): { version: string; why: string }[] {
  const out: { version: string; why: string }[] = [];
  for (const v of versions) {
    try {
      resolve(v);
    } catch (e) {
      out.push({ version: v, why: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
