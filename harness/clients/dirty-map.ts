import type { DirtyRange } from '../../contract/port.ts';
import type { NbdClient } from './nbd-client.ts';

/**
 * The dirty ranges a connected client's `qemu:dirty-bitmap:NAME` context reports over the whole export,
 * merged (absolute offsets): block status from the start until every byte is answered.
 */
export async function dirtyRanges(client: NbdClient, context: string): Promise<DirtyRange[]> {
  const out: DirtyRange[] = [];
  let pos = 0;
  while (pos < client.size) {
    const ext = (await client.blockStatus(pos, client.size - pos)).get(context) ?? [];
    if (ext.length === 0) throw new Error(`no extents of ${context} at ${pos}`);
    for (const e of ext) {
      const last = out.at(-1);
      if (e.flags & 1) {
        if (last && last.offset + last.length === e.offset) last.length += e.length;
        else out.push({ offset: e.offset, length: e.length });
      }
      pos = e.offset + e.length;
    }
  }
  return out;
}
