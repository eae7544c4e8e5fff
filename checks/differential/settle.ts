import { ddmin } from './ddmin.ts';

/**
 * A divergence seen once is settled before it is reported: shrunk (ddmin over its input, then any further
 * shrinking its user knows, within a bound on replays), then replayed once more — a divergence must happen
 * again to count as behaviour.
 */
export interface SettleOptions<T, F> {
  /** the input that showed the divergence, as a list shrinking drops items from */
  items: T[];
  /** replays an input on both sides: the same divergence again, or undefined */
  reproduce(items: T[]): Promise<F | undefined>;
  /** shrink first, with at most `tests` replays; `more` shrinks further within what is left of them */
  shrink?: {
    tests: number;
    more?: (items: T[], test: (c: T[]) => Promise<boolean>, budget: { left: number }) => Promise<T[]>;
  };
}

export interface Settled<T, F> {
  /** the shrunk input (the input itself when it was not shrunk) */
  items: T[];
  /** the divergence on the shrunk input, replayed once more; undefined: it did not happen again */
  again?: F;
  /** shrinking used all its replays: the input may not be minimal */
  boundReached: boolean;
}

export async function settle<T, F>(o: SettleOptions<T, F>): Promise<Settled<T, F>> {
  let items = o.items;
  let boundReached = false;
  if (o.shrink) {
    const budget = { left: Math.max(1, o.shrink.tests) };
    const test = async (c: T[]) => (await o.reproduce(c)) !== undefined;
    items = await ddmin(items, test, budget);
    if (o.shrink.more) items = await o.shrink.more(items, test, budget);
    boundReached = budget.left <= 0;
  }
  return { items, again: await o.reproduce(items), boundReached };
}
