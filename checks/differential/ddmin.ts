/**
 * Delta debugging (ddmin) over a list, bounded by a number of tests: the one shrinker of the differentials
 * (a divergence's operations, a sequence that crashes a real QEMU). Run to the end it gives a 1-minimal
 * list: dropping any one item more makes the test fail. `budget.left` counts the tests still allowed.
 */
export async function ddmin<T>(
  items: T[],
  test: (c: T[]) => Promise<boolean>,
  budget: { left: number } = { left: Number.POSITIVE_INFINITY },
): Promise<T[]> {
  let cur = items;
  if (cur.length > 0 && budget.left > 0) {
    budget.left--;
    if (await test([])) return [];
  }
  let n = 2;
  while (cur.length >= 2 && budget.left > 0) {
    const size = Math.ceil(cur.length / n);
    const chunks: T[][] = [];
    for (let i = 0; i < cur.length; i += size) chunks.push(cur.slice(i, i + size));
    let reduced = false;
    // try each complement (drop one chunk), then each chunk alone
    for (let i = 0; i < chunks.length && budget.left > 0; i++) {
      const comp = chunks.filter((_, j) => j !== i).flat();
      budget.left--;
      if (await test(comp)) {
        cur = comp;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced)
      for (let i = 0; i < chunks.length && budget.left > 0 && chunks.length > 2; i++) {
        budget.left--;
        if (await test(chunks[i])) {
          cur = chunks[i];
          n = 2;
          reduced = true;
          break;
        }
      }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  return cur;
}
