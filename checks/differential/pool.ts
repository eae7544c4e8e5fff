/**
 * A bounded worker pool: `jobs` workers take the items in order until none is left or `stop` says so (a
 * time budget). Real QEMU work mostly waits on processes, so a few at once use the machine well.
 */
export async function pool<T>(
  items: readonly T[],
  jobs: number,
  fn: (item: T, index: number) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
}
