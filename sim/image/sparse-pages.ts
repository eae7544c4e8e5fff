/**
 * Byte storage for a sparse disk: fixed-size pages keyed by page index.
 *
 * Why this shape (see bench-memory.ts for the numbers):
 * - Page bytes live in 1 MiB slabs and a page is a slot number in a Map<number, number>,
 *   so a page costs its bytes plus one Map entry of small integers: no per-page
 *   ArrayBuffer/Uint8Array objects for the GC to track.
 * - A page whose bytes are all one value (zeroes, or a qemu-io style `-P 0xNN` fill) is stored
 *   as that value alone; an all-zero page is simply absent. Pattern-filled test workloads
 *   therefore cost almost nothing.
 */
const SLAB_BYTES = 1 << 20;
/** the first slab starts this small and doubles up to SLAB_BYTES: a small disk does not pay for 1 MiB */
const FIRST_SLAB_BYTES = 64 << 10;

export class SparsePages {
  /** value >= 0: slot number; value < 0: page filled with byte (-value - 1). Absent: zeroes. */
  private readonly pages = new Map<number, number>();
  private readonly slabs: Uint8Array[] = [];
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  private readonly slotsPerSlab: number;

  constructor(readonly pageSize = 4096) {
    if (!Number.isInteger(Math.log2(pageSize)) || pageSize < 512 || pageSize > SLAB_BYTES) {
      throw new RangeError(`page size must be a power of two in [512, ${SLAB_BYTES}]`);
    }
    this.slotsPerSlab = SLAB_BYTES / pageSize;
  }

  /**
   * bytes reserved for page data (slabs), whether or not every slot is in use; the first slab counts as
   * a whole one from its first page on, however far it has grown
   */
  get memoryBytes(): number {
    return this.slabs.length * SLAB_BYTES;
  }

  get pageCount(): number {
    return this.pages.size;
  }

  write(offset: number, data: Uint8Array): void {
    this.forEachPage(offset, data.length, (page, inPage, n, srcOff) => {
      this.writePage(page, inPage, data.subarray(srcOff, srcOff + n));
    });
  }

  /** Sets [offset, offset+length) to byte value 0 (the only fill callers need today). */
  zero(offset: number, length: number): void {
    const ps = this.pageSize;
    const firstFull = Math.ceil(offset / ps);
    const endFull = Math.floor((offset + length) / ps);
    // Whole pages: drop them; walk the map instead when the range dwarfs what is stored.
    if (endFull - firstFull > this.pages.size) {
      for (const [page, v] of this.pages) {
        if (page >= firstFull && page < endFull) this.dropPage(page, v);
      }
    } else {
      for (let page = firstFull; page < endFull; page++) {
        const v = this.pages.get(page);
        if (v !== undefined) this.dropPage(page, v);
      }
    }
    if (firstFull > endFull) {
      // Range inside a single page.
      this.zeroInPage(Math.floor(offset / ps), offset % ps, length);
      return;
    }
    if (offset < firstFull * ps) this.zeroInPage(firstFull - 1, offset % ps, firstFull * ps - offset);
    const end = offset + length;
    if (end > endFull * ps) this.zeroInPage(endFull, 0, end - endFull * ps);
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.forEachPage(offset, length, (page, inPage, n, dstOff) => {
      const v = this.pages.get(page);
      if (v === undefined) return;
      if (v < 0) {
        const fill = -v - 1;
        if (fill !== 0) out.fill(fill, dstOff, dstOff + n);
        return;
      }
      out.set(this.slotBytes(v).subarray(inPage, inPage + n), dstOff);
    });
    return out;
  }

  private forEachPage(
    offset: number,
    length: number,
    fn: (page: number, inPage: number, n: number, bufOff: number) => void,
  ): void {
    const ps = this.pageSize;
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const page = Math.floor(pos / ps);
      const inPage = pos - page * ps;
      const n = Math.min(ps - inPage, end - pos);
      fn(page, inPage, n, pos - offset);
      pos += n;
    }
  }

  private writePage(page: number, inPage: number, chunk: Uint8Array): void {
    const v = this.pages.get(page);
    const chunkFill = uniformValue(chunk);
    if (chunk.length === this.pageSize) {
      if (v !== undefined && v >= 0) this.releaseSlot(v);
      this.storeFillOrCopy(page, chunkFill, chunk);
      return;
    }
    if (v === undefined || v < 0) {
      const pageFill = v === undefined ? 0 : -v - 1;
      if (chunkFill === pageFill) return; // nothing changes
      const slot = this.allocSlot();
      const bytes = this.slotBytes(slot);
      bytes.fill(pageFill);
      bytes.set(chunk, inPage);
      this.pages.set(page, slot);
      return; // mixed content by construction: chunk differs from the rest of the page
    }
    const bytes = this.slotBytes(v);
    bytes.set(chunk, inPage);
    const pageFill = uniformValue(bytes);
    if (pageFill !== undefined) {
      this.releaseSlot(v);
      this.storeFillOrCopy(page, pageFill, bytes);
    }
  }

  private zeroInPage(page: number, inPage: number, n: number): void {
    if (n <= 0) return;
    this.writePage(page, inPage, new Uint8Array(n));
  }

  private storeFillOrCopy(page: number, fill: number | undefined, chunk: Uint8Array): void {
    if (fill === 0) this.pages.delete(page);
    else if (fill !== undefined) this.pages.set(page, -fill - 1);
    else {
      const slot = this.allocSlot();
      this.slotBytes(slot).set(chunk);
      this.pages.set(page, slot);
    }
  }

  private dropPage(page: number, v: number): void {
    if (v >= 0) this.releaseSlot(v);
    this.pages.delete(page);
  }

  private allocSlot(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    const slot = this.nextSlot++;
    const slab = Math.floor(slot / this.slotsPerSlab);
    if (slab >= this.slabs.length)
      this.slabs.push(new Uint8Array(slab === 0 ? Math.max(this.pageSize, FIRST_SLAB_BYTES) : SLAB_BYTES));
    else if (slab === 0 && (slot + 1) * this.pageSize > this.slabs[0].length) {
      // no view of a slot outlives the call that took it, so the first slab can move to a bigger one
      const grown = new Uint8Array(Math.min(SLAB_BYTES, this.slabs[0].length * 2));
      grown.set(this.slabs[0]);
      this.slabs[0] = grown;
    }
    return slot;
  }

  /** Slots are recycled, not returned to the OS: slabs only grow (documented trade-off). */
  private releaseSlot(slot: number): void {
    this.freeSlots.push(slot);
  }

  private slotBytes(slot: number): Uint8Array {
    const slab = this.slabs[Math.floor(slot / this.slotsPerSlab)];
    const off = (slot % this.slotsPerSlab) * this.pageSize;
    return slab.subarray(off, off + this.pageSize);
  }
}

/**
 * The single byte value of a uniform buffer, or undefined if it holds two different bytes.
 * A buffer is uniform iff it equals itself shifted by one byte; Buffer.compare does that as a
 * memcmp, several times faster than a JS loop over a 4 KiB page.
 */
function uniformValue(buf: Uint8Array): number | undefined {
  if (buf.length < 2) return buf[0];
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  return b.compare(b, 1, b.length, 0, b.length - 1) === 0 ? buf[0] : undefined;
}
