import { qdictOrder } from '../qjson.ts';

/**
 * GLib's string hash table, as far as its iteration order goes: the QObject input visitor keeps the keys it
 * has not visited yet in one, so the member it names as unexpected is the first left there (g_str_hash,
 * `hash * 11 % prime`, quadratic probing; glib 2.5x-2.8x).
 */

const PRIME_MOD = [1, 2, 3, 7, 13, 31, 61, 127, 251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];

function gStrHash(s: string): number {
  let h = 5381;
  for (const c of Buffer.from(s, 'utf8')) {
    const sc = c < 128 ? c : c - 256; // signed char
    h = (Math.imul(h, 33) + sc) >>> 0;
  }
  return Math.max(h, 2);
}

/** GHashTable with string keys (glib 2.5x-2.8x), enough of it to know the iteration order. */
class GHashSet {
  private size = 8;
  private mod = 7;
  private mask = 7;
  private hashes: number[] = new Array(8).fill(0);
  private keys: (string | undefined)[] = new Array(8).fill(undefined);
  private nnodes = 0;
  private noccupied = 0;

  private setShift(shift: number): void {
    this.size = 1 << shift;
    this.mod = PRIME_MOD[shift];
    this.mask = this.size - 1;
  }

  private index(hash: number): number {
    return (Math.imul(hash, 11) >>> 0) % this.mod;
  }

  private lookup(key: string): { i: number; hash: number } {
    const hash = gStrHash(key);
    let i = this.index(hash);
    let step = 0;
    let tomb = -1;
    while (this.hashes[i] !== 0) {
      if (this.hashes[i] === hash && this.keys[i] === key) return { i, hash };
      if (this.hashes[i] === 1 && tomb < 0) tomb = i;
      step++;
      i = (i + step) & this.mask;
    }
    return { i: tomb >= 0 ? tomb : i, hash };
  }

  insert(key: string): void {
    const { i, hash } = this.lookup(key);
    if (this.hashes[i] >= 2) return;
    const unused = this.hashes[i] === 0;
    this.hashes[i] = hash;
    this.keys[i] = key;
    this.nnodes++;
    if (unused) {
      this.noccupied++;
      this.maybeResize();
    }
  }

  remove(key: string): void {
    const { i } = this.lookup(key);
    if (this.hashes[i] < 2) return;
    this.hashes[i] = 1;
    this.keys[i] = undefined;
    this.nnodes--;
    this.maybeResize();
  }

  private maybeResize(): void {
    const size = this.size;
    const nocc = this.noccupied;
    if ((size > this.nnodes * 4 && size > 8) || size <= nocc + Math.floor(nocc / 16)) this.resize();
  }

  /** g_hash_table_resize + resize_map: in place, by eviction */
  private resize(): void {
    let n = Math.floor(this.nnodes * 1.333);
    let shift = 0;
    while (n) {
      n >>= 1;
      shift++;
    }
    shift = Math.max(shift, 3);
    const oldSize = this.size;
    this.setShift(shift);
    if (this.size > oldSize) {
      for (let k = oldSize; k < this.size; k++) {
        this.hashes[k] = 0;
        this.keys[k] = undefined;
      }
    }
    const moved = new Array(Math.max(this.size, oldSize)).fill(false);
    for (let i = 0; i < oldSize; i++) {
      let nodeHash = this.hashes[i];
      if (nodeHash < 2) {
        this.hashes[i] = 0;
        continue;
      }
      if (moved[i]) continue;
      this.hashes[i] = 0;
      let key = this.keys[i];
      this.keys[i] = undefined;
      for (;;) {
        let step = 0;
        let hv = this.index(nodeHash);
        while (moved[hv]) {
          step++;
          hv = (hv + step) & this.mask;
        }
        moved[hv] = true;
        const replaced = this.hashes[hv];
        this.hashes[hv] = nodeHash;
        if (replaced < 2) {
          this.keys[hv] = key;
          break;
        }
        nodeHash = replaced;
        const k = this.keys[hv];
        this.keys[hv] = key;
        key = k;
      }
    }
    this.hashes.length = this.size;
    this.keys.length = this.size;
    this.noccupied = this.nnodes;
  }

  first(): string | undefined {
    for (let i = 0; i < this.size; i++) if (this.hashes[i] >= 2) return this.keys[i];
    return undefined;
  }

  /** g_hash_table_iter order: slot by slot */
  all(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.size; i++) if (this.hashes[i] >= 2) out.push(this.keys[i]!);
    return out;
  }
}

/**
 * The order a GLib string hash table iterates keys inserted in the given order (QOM's property table:
 * what qom-list walks, before it reverses it).
 */
export function ghashOrder(keysInInsertionOrder: readonly string[]): string[] {
  const g = new GHashSet();
  for (const k of keysInInsertionOrder) g.insert(k);
  return g.all();
}

/**
 * The member qobject_input_check_struct names as unexpected: the first key left in the visitor's GLib
 * hash table, which got every key in QDict order and lost them in visiting order.
 */
export function firstUnexpected(
  keysInInsertionOrder: string[],
  visitedInOrder: string[],
): string | undefined {
  const g = new GHashSet();
  for (const k of qdictOrder(keysInInsertionOrder)) g.insert(k);
  for (const k of visitedInOrder) g.remove(k);
  return g.first();
}
