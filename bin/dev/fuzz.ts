import { runFuzz } from '../../checks/fuzz/run.ts';
import { TARGETS } from '../../checks/fuzz/targets/index.ts';
import { REPORT_FUZZ_TARGETS } from '../../reports/fuzz-targets.ts';

/** every fuzz target, in the order a run takes them (targets of higher layers join this list here) */
export const FUZZ_TARGETS = [...TARGETS, ...REPORT_FUZZ_TARGETS];

export interface FuzzOptions {
  count: string;
  seconds: string;
  only?: string;
  seed: string;
  replay?: string;
  json?: string;
}

function int(v: string, name: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${v}: expected an integer ≥ ${min}`);
  return n;
}

export const targetNames = (): string => FUZZ_TARGETS.map((t) => t.name).join(', ');

/** `fleece-lab fuzz` (`npm run fuzz --`): bad usage is one line and exit 2, as the fuzz runner always did */
export async function cmdFuzz(values: FuzzOptions): Promise<number> {
  let count: number;
  let seconds: number;
  let seed: number;
  let replay: number | undefined;
  try {
    count = int(values.count, 'count', 1);
    seconds = int(values.seconds, 'seconds', 1);
    seed = int(values.seed, 'seed', -(2 ** 31));
    replay = values.replay === undefined ? undefined : int(values.replay, 'replay', 0);
  } catch (e) {
    console.error(`fuzz: ${(e as Error).message}`);
    return 2;
  }
  const names = values.only ? values.only.split(',') : FUZZ_TARGETS.map((t) => t.name);
  const unknown = names.filter((n) => !FUZZ_TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    console.error(`fuzz: unknown target ${unknown.join(', ')} (known: ${targetNames()})`);
    return 2;
  }
  if (replay !== undefined && names.length !== 1) {
    console.error('fuzz: --replay K needs one target: --only NAME');
    return 2;
  }
  const targets = names.map((n) => FUZZ_TARGETS.find((t) => t.name === n)!);
  return runFuzz({ targets, count, seconds, seed, replay, json: values.json });
}
