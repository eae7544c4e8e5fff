import { NbdClient } from '../../harness/clients/nbd-client.ts';
import { NbdError, NbdOptionError, NbdRequestError } from '../../harness/clients/nbd-errors.ts';

/**
 * A runbook's NBD reader. It uses our own client on every target, so what is compared is what a reader
 * on the wire gets: the export's size, the bytes of each read (run-length encoded, so a transcript
 * stays small and a difference says where it is), block status when asked, or the error the server sent.
 */
export interface NbdStep {
  socket: string;
  export: string;
  writes?: [number, number, number][];
  reads: [number, number][];
  context?: string;
}

export type NbdReadRecord =
  | { at: [number, number]; data: string; extents?: [number, number, number][] }
  | { at: [number, number]; error: string; message?: string };

export interface NbdStepRecord {
  /** the handshake was refused: the option error's name and the server's text */
  connect?: string;
  size?: number;
  /** "ok" or the error of each write */
  writes?: string[];
  reads?: NbdReadRecord[];
}

/** each request of the step, and the handshake, is bounded by this */
const NBD_STEP_TIMEOUT_MS = 10_000;

/** "0x11*61440 0x22*4096": each run of one byte value, in order */
export function runLength(buf: Uint8Array): string {
  const runs: string[] = [];
  let i = 0;
  while (i < buf.length) {
    const v = buf[i];
    let j = i + 1;
    while (j < buf.length && buf[j] === v) j++;
    runs.push(`0x${v.toString(16).padStart(2, '0')}*${j - i}`);
    i = j;
    // a buffer of random bytes would make a transcript as long as the data; the first runs say enough
    if (runs.length === 64 && i < buf.length) {
      runs.push(`…${buf.length - i} more bytes`);
      break;
    }
  }
  return runs.join(' ');
}

function describe(e: unknown): { error: string; message?: string } {
  if (e instanceof NbdRequestError) return { error: e.codeName, message: e.serverMessage };
  if (e instanceof NbdError) return { error: e.constructor.name, message: e.message };
  throw e;
}

export async function runNbdStep(step: NbdStep, socketPath: string): Promise<NbdStepRecord> {
  let client: NbdClient;
  try {
    client = await NbdClient.connect(
      { path: socketPath },
      {
        exportName: step.export,
        timeoutMs: NBD_STEP_TIMEOUT_MS,
        metaContexts: step.context ? [step.context] : undefined,
      },
    );
  } catch (e) {
    if (e instanceof NbdOptionError) return { connect: `${e.replyName}: ${e.serverMessage}` };
    if (e instanceof NbdError) return { connect: e.message };
    throw e;
  }
  const record: NbdStepRecord = { size: client.size, reads: [] };
  try {
    if (step.writes) {
      record.writes = [];
      for (const [offset, length, pattern] of step.writes) {
        try {
          await client.write(offset, new Uint8Array(length).fill(pattern));
          record.writes.push('ok');
        } catch (e) {
          const d = describe(e);
          record.writes.push(d.message ? `${d.error}: ${d.message}` : d.error);
          if (client.isClosed) break;
        }
      }
    }
    for (const [offset, length] of client.isClosed ? [] : step.reads) {
      const at: [number, number] = [offset, length];
      try {
        const data = runLength(await client.read(offset, length));
        if (!step.context) {
          record.reads!.push({ at, data });
          continue;
        }
        const map = await client.blockStatus(offset, length);
        const extents = (map.get(step.context) ?? []).map(
          (x) => [x.offset, x.length, x.flags] as [number, number, number],
        );
        record.reads!.push({ at, data, extents });
      } catch (e) {
        record.reads!.push({ at, ...describe(e) });
        if (client.isClosed) break;
      }
    }
  } finally {
    // the server has closed its end when this resolves, so a following block-export-del sees no client
    await client.disconnect({ timeoutMs: NBD_STEP_TIMEOUT_MS });
  }
  return record;
}
