import { isDeepStrictEqual } from 'node:util';
import type { Matrix, MatrixRow } from '../contract/formats/matrix.ts';
import type { CheckResult, Results } from '../contract/formats/results.ts';

/**
 * `fleece-lab merge`: shards of one run (`--shard i/n` on several machines) back into one file. Results
 * of one target, matrices of the same versions, or proposal reports of `check --json`. A check (row,
 * proposal) may appear in several inputs only with the same outcome. `order` puts the checks in the
 * suite's own order, so merging the n shards gives what one unsharded run would have written.
 */
function ordered<T extends { id: string }>(items: T[], order?: readonly string[]): T[] {
  if (!order) return items;
  const rank = new Map(order.map((id, i) => [id, i]));
  return items
    .map((x, i) => ({ x, i }))
    .sort((p, q) => (rank.get(p.x.id) ?? order.length + p.i) - (rank.get(q.x.id) ?? order.length + q.i))
    .map((p) => p.x);
}

function unionById<T extends { id: string }>(
  lists: { file: string; items: T[] }[],
  same: (a: T, b: T) => boolean,
  what: string,
): T[] {
  const seen = new Map<string, { file: string; item: T }>();
  const out: T[] = [];
  for (const l of lists)
    for (const item of l.items) {
      const prev = seen.get(item.id);
      if (!prev) {
        seen.set(item.id, { file: l.file, item });
        out.push(item);
      } else if (!same(prev.item, item))
        throw new Error(`${what} ${item.id} differs between ${prev.file} and ${l.file}`);
    }
  return out;
}

export function mergeResults(
  inputs: { file: string; results: Results }[],
  order?: readonly string[],
): Results {
  if (inputs.length === 0) throw new Error('merge: no input');
  const first = inputs[0];
  for (const i of inputs.slice(1)) {
    if (i.results.target !== first.results.target)
      throw new Error(`merge: ${i.file} is of ${i.results.target}, ${first.file} of ${first.results.target}`);
    if (!isDeepStrictEqual(i.results.qemu, first.results.qemu))
      throw new Error(
        `merge: ${i.file} ran on QEMU ${i.results.qemu.version} (${i.results.qemu.package}), ${first.file} on ${first.results.qemu.version} (${first.results.qemu.package})`,
      );
  }
  const checks = unionById<CheckResult>(
    inputs.map((i) => ({ file: i.file, items: i.results.checks })),
    (a, b) => a.status === b.status,
    'check',
  );
  return {
    ...first.results,
    startedAt: inputs.map((i) => i.results.startedAt).sort()[0],
    // the machine time of all shards
    durationMs: inputs.reduce((s, i) => s + i.results.durationMs, 0),
    checks: ordered(checks, order),
  };
}

export function mergeMatrices(inputs: { file: string; matrix: Matrix }[], order?: readonly string[]): Matrix {
  if (inputs.length === 0) throw new Error('merge: no input');
  const first = inputs[0];
  const key = (m: Matrix) => m.versions.map((v) => `${v.version}:${v.real?.package ?? '-'}`).join(',');
  for (const i of inputs.slice(1))
    if (key(i.matrix) !== key(first.matrix))
      throw new Error(
        `merge: ${i.file} has versions ${key(i.matrix)}, ${first.file} has ${key(first.matrix)}`,
      );
  const rows = unionById<MatrixRow>(
    inputs.map((i) => ({ file: i.file, items: i.matrix.rows })),
    (a, b) => isDeepStrictEqual(a.cells, b.cells),
    'matrix row',
  );
  const { shard: _s, ...rest } = first.matrix;
  return {
    ...rest,
    createdAt: inputs.map((i) => i.matrix.createdAt).sort()[0],
    rows: ordered(rows, order),
  };
}

/** proposal reports (`check --json`): one array of reports per shard, each proposal in one shard */
export function mergeProposals<
  T extends { proposal: string; verdicts: { property: string; status: string }[] },
>(inputs: { file: string; reports: T[] }[], order?: readonly string[]): T[] {
  const withId = inputs.map((i) => ({ file: i.file, items: i.reports.map((r) => ({ id: r.proposal, r })) }));
  const verdicts = (r: T) => r.verdicts.map((v) => `${v.property}:${v.status}`).join(',');
  const merged = unionById(withId, (a, b) => verdicts(a.r) === verdicts(b.r), 'proposal');
  return ordered(merged, order).map((x) => x.r);
}
