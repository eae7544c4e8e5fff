/**
 * Trace files: the JSONL transcripts of `conform --traces` (read by diff and the reports) and the JSON
 * counterexample traces `fleece-lab check` saves (read by `fleece-lab replay`), mutated line-, structure-
 * and byte-wise, as their format modules (contract/formats) parse them. Each is accepted (and a transcript
 * then goes through the comparison; one saved trace in 20 is replayed on the simulator) or rejected with one
 * line naming the file and the line or field. The HTML page of a transcript is fuzzed on the same inputs by
 * reports/fuzz-targets.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describeDifference } from '../../../contract/formats/json-diff.ts';
import { parseSavedTrace, type SavedTrace } from '../../../contract/formats/saved-runs.ts';
import {
  parseJsonl,
  stepOf,
  type TranscriptData,
  transcriptDifference,
} from '../../../contract/formats/transcripts.ts';
import { bundled } from '../../../contract/proposals/index.ts';
import { profileSchema } from '../../../contract/versions.ts';
import { SimPort } from '../../../harness/sim-port.ts';
import { replayOps } from '../../model/replay.ts';
import { World } from '../../model/world.ts';
import { type FuzzTarget, normalizeClass } from '../core.ts';
import {
  applyByteEdits,
  applyJsonEdits,
  type ByteEdit,
  byteEdit,
  type JsonEdit,
  jsonEdit,
} from '../mutate.ts';
import { rejection } from './results-files.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface Seeds {
  jsonl: { file: string; lines: unknown[]; parsed: TranscriptData }[];
  saved: { file: string; value: unknown }[];
}

/**
 * Seeds are committed (fuzz/seeds/): transcripts as `conform --traces` writes them, from the simulator and
 * from real QEMU, and traces `fleece-lab check` saved — so a clean checkout fuzzes the same inputs.
 */
export function loadSeeds(): Seeds {
  const jsonl: Seeds['jsonl'] = [];
  const tr = path.join(ROOT, 'checks/fuzz/seeds/transcripts');
  for (const f of fs
    .readdirSync(tr)
    .filter((x) => x.endsWith('.jsonl'))
    .sort()) {
    const file = path.join(tr, f);
    const text = fs.readFileSync(file, 'utf8');
    jsonl.push({
      file: path.relative(ROOT, file),
      lines: text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as unknown),
      parsed: parseJsonl(text, file),
    });
  }
  const saved: Seeds['saved'] = [];
  const tdir = path.join(ROOT, 'checks/fuzz/seeds/traces');
  for (const f of fs.readdirSync(tdir).sort()) {
    if (!f.endsWith('.json')) continue;
    const v = JSON.parse(fs.readFileSync(path.join(tdir, f), 'utf8')) as Record<string, unknown>;
    // the QMP trace is not read back by replay: without it a mutation more often lands in what is read
    saved.push({ file: f, value: { ...v, trace: [] } });
  }
  if (jsonl.length === 0 || saved.length === 0)
    throw new Error('trace-files: no seed traces in checks/fuzz/seeds/');
  return { jsonl, saved };
}

type LineEdit = { kind: 'delete' | 'dup' | 'swap' | 'blank'; at: number; to: number };

export interface TraceInput {
  saved: boolean;
  seed: number;
  /** which line a structure edit goes to (JSONL) */
  line: number;
  json: JsonEdit[];
  lines: LineEdit[];
  bytes: ByteEdit[];
  replay: boolean;
}

export const traceInput: fc.Arbitrary<TraceInput> = fc.record({
  saved: fc.boolean(),
  seed: fc.nat(),
  line: fc.nat(),
  json: fc.array(jsonEdit, { maxLength: 3 }),
  lines: fc.array(
    fc.record({ kind: fc.constantFrom('delete', 'dup', 'swap', 'blank'), at: fc.nat(), to: fc.nat() }),
    { maxLength: 2 },
  ),
  bytes: fc.oneof(
    { arbitrary: fc.constant([] as ByteEdit[]), weight: 2 },
    { arbitrary: fc.array(byteEdit, { minLength: 1, maxLength: 3 }), weight: 1 },
  ),
  replay: fc.nat({ max: 19 }).map((x) => x === 0),
});

interface State {
  seeds: Seeds;
}

export function jsonlText(s: Seeds['jsonl'][number], i: TraceInput): string {
  let lines: unknown[] = [...s.lines];
  if (i.json.length > 0) {
    const k = i.line % lines.length;
    lines[k] = applyJsonEdits(lines[k], i.json);
  }
  const texts = lines.map((l) => JSON.stringify(l) ?? '');
  for (const e of i.lines) {
    const a = e.at % Math.max(1, texts.length);
    const b = e.to % Math.max(1, texts.length);
    if (texts.length === 0) break;
    if (e.kind === 'delete') texts.splice(a, 1);
    else if (e.kind === 'dup') texts.splice(a, 0, texts[a]);
    else if (e.kind === 'blank') texts.splice(a, 0, '');
    else [texts[a], texts[b]] = [texts[b], texts[a]];
  }
  lines = [];
  const text = `${texts.join('\n')}\n`;
  return i.bytes.length > 0 ? applyByteEdits(text, i.bytes) : text;
}

async function savedCase(st: State, i: TraceInput, file: string): Promise<string> {
  const s = st.seeds.saved[i.seed % st.seeds.saved.length];
  const v = i.json.length > 0 ? applyJsonEdits(s.value, i.json) : s.value;
  const text = applyByteEdits(`${JSON.stringify(v, null, 1) ?? ''}\n`, i.bytes);
  let t: SavedTrace;
  try {
    t = parseSavedTrace(text, file);
  } catch (e) {
    return `saved ${rejection(e, file)}`;
  }
  const proposal = bundled(t.proposal);
  const profile = profileSchema.safeParse(t.profile);
  if (!i.replay || !proposal || !profile.success) return 'saved accepted';
  // what `fleece-lab replay` then does on the simulator: an outcome, never a raw error
  const domain = { kind: 'qsd' as const, disks: World.domainDisks('qsd', 2, 256 * 1024) };
  const r = await replayOps(proposal, async () => new SimPort(profile.data, 1, domain), t.ops);
  return `saved accepted, replayed: ${r.violated ? `${r.violated} fails` : 'no property fails'}`;
}

export const traceFiles: FuzzTarget<TraceInput, State> = {
  name: 'trace-files',
  what: 'conform --traces JSONL transcripts and check counterexample traces: accepted, or one line naming file and line/field',
  input: traceInput,
  async setup() {
    return { seeds: loadSeeds() };
  },
  async exec(st, i) {
    if (i.saved) return savedCase(st, i, 'trace.json');
    const s = st.seeds.jsonl[i.seed % st.seeds.jsonl.length];
    const file = 'trace.jsonl';
    let t: TranscriptData;
    try {
      t = parseJsonl(jsonlText(s, i), file);
    } catch (e) {
      return `jsonl ${rejection(e, file)}`;
    }
    // what diff and the matrix do with a transcript
    const d = transcriptDifference(s.parsed, t);
    if (d) {
      describeDifference(d, 'a', 'b');
      stepOf(t, d.path);
    }
    return d
      ? `jsonl accepted, differs at ${normalizeClass(d.path.split('.').slice(0, 3).join('.'), 30)}`
      : 'jsonl accepted, same';
  },
  async teardown() {},
  show: (i) => JSON.stringify(i),
};
