/**
 * `--shard i/n`: a deterministic split of a list over n machines. Item k (0-based, in the list's own
 * order) goes to shard (k mod n) + 1, so every shard gets a slice of every part of the suite (the slow
 * job runbooks sit together in the list) and the union of the n shards is the whole list, each item once.
 */
export interface Shard {
  /** 1-based */
  index: number;
  count: number;
}

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`--shard ${s}: expected i/n, e.g. 1/4`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count)
    throw new Error(`--shard ${s}: expected 1 <= i <= n (got i=${index}, n=${count})`);
  return { index, count };
}

export function inShard<T>(list: readonly T[], shard: Shard | undefined): T[] {
  if (!shard || shard.count === 1) return [...list];
  return list.filter((_, k) => k % shard.count === shard.index - 1);
}

export function shardLabel(shard: Shard | undefined): string {
  return shard ? `${shard.index}/${shard.count}` : '';
}
