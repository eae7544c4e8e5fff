/**
 * The sides of a differential: the simulator with a version's profile, and the real QEMU of that version.
 * A pair is compared A against B: each version's real QEMU with its simulator, and consecutive real versions.
 */
export interface Side {
  /** 'sim:7.2' or 'real:7.2' */
  key: string;
  kind: 'sim' | 'real';
  version: string;
}

export type Pair = [Side, Side];

export function side(kind: Side['kind'], version: string): Side {
  return { key: `${kind}:${version}`, kind, version };
}

/** The pairs compared: each version's real QEMU with its simulator, then consecutive real versions. */
export function pairsOf(versions: string[]): Pair[] {
  const out: Pair[] = versions.map((v) => [side('real', v), side('sim', v)]);
  for (let i = 1; i < versions.length; i++)
    out.push([side('real', versions[i - 1]), side('real', versions[i])]);
  return out;
}
