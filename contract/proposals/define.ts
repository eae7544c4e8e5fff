import type { AnyStateMachine } from 'xstate';
import { z } from 'zod';
import type { DomainKind, Port } from '../port.ts';
import { PROPERTY_IDS, type PropertyId } from '../properties.ts';
import { FEATURES, type Feature } from '../versions.ts';
import { checkMachine, type MachineShape, shapeOf } from './machine-shape.ts';

/**
 * An API proposal as an executable spec: its calls (zod-typed), what it claims, the states its user sees
 * (an xstate machine per session), how a fleecing session is made of its calls, and how each call is lowered
 * to QMP (feature-detected, as libvirt would). `defineProposal` checks the shape when the file is loaded and
 * names the field that is wrong.
 */

/** What a lowering sees: the QEMU (through a Port), the domain, and the API implementation's own state. */
export interface LowerCtx {
  port: Port;
  domain: DomainKind;
  /**
   * the domain's disks: API name -> the block node the domain was started with, its size, and (VM) the
   * qdev id of the guest device that writes to it
   */
  disks: Record<string, { node: string; size: number; device?: string }>;
  /** the implementation's bookkeeping (what libvirt keeps in its domain object) */
  state: Record<string, unknown>;
  /** the NBD server the harness runs (readers use it) */
  nbdServerRunning: boolean;
}

export type ApiCall = { call: string; params: Record<string, unknown> };

/**
 * A session is one user's fleecing: `start` returns the calls that begin it (the checker may let the guest
 * write between any two of their QMP commands); the session's machine then says which calls it accepts.
 * The point in time of every disk of a session is fixed by the call that first enters a state tagged
 * `pit`; readers read its exports while it is in a state tagged `readable`.
 */
export interface SessionPlan {
  start(disks: string[], ctx: { sessionNo: number }): ApiCall[];
  /** the handle of the session from the results of the start calls */
  handle(results: unknown[], disks: string[], ctx: { sessionNo: number }): string;
  exportName(handle: string, disk: string): string;
  /** the calls that end the session from the state it is in */
  stop(handle: string, disks: string[], state: string): ApiCall[];
  /**
   * QEMU events that move a session's machine, by the machine event they send (BLOCK_JOB_READY: the copy is
   * in sync, as libvirt learns it): a session takes the event when `match` says it is about it
   */
  qemuEvents?: Record<
    string,
    (e: { event: string; data?: Record<string, unknown> }, handle: string, disks: string[]) => boolean
  >;
  /**
   * every call the checker may make on a live session, by a label of its own ('pivot', 'abandon'): the
   * machine says in which states each is accepted (its guards may read the call's params); in the others it
   * is a misuse
   */
  request: Record<string, (handle: string, disks: string[]) => ApiCall>;
}

/**
 * An API's checkpoints (incremental backup): the checker makes checkpoints in one of two chains (two backup
 * destinations), deletes them, and takes incremental pull backups from them, reading the exported
 * `qemu:dirty-bitmap` context. A checkpoint is named by what `handle` makes of its create call's result.
 */
export interface CheckpointPlan {
  /** 'ids': the API tells chains apart; 'names': one set of checkpoints per domain, told apart by name only */
  chains: 'ids' | 'names';
  create(chain: number, disks: string[], ctx: { no: number }): ApiCall;
  handle(result: unknown, chain: number, ctx: { no: number }): string;
  remove(checkpoint: string, chain: number): ApiCall;
  /** an incremental pull backup of `disks` from `since` (the changes since it) */
  begin(since: string, chain: number, disks: string[]): ApiCall;
  /** the backup's handle from its begin result */
  backup(result: unknown): string;
  /** the export of a disk and the meta context its changed clusters are read from */
  exported(backup: string, disk: string): { name: string; context: string };
  end(backup: string): ApiCall;
  /**
   * whether a begin's refusal text or result says that a full backup is needed (the checkpoint cannot give
   * an incremental): `full` true for a result means the backup it started is a full one, with no map to read
   */
  fullNeeded(outcome: { error?: string; result?: unknown }): { full: boolean; started: boolean };
}

const capabilities = z
  .object({
    /** 'many': one call takes a list of disks; 'one': one disk per call (a session is one disk) */
    disksPerCall: z.enum(['one', 'many']),
    /** calls name a job by an id the API returned */
    jobIds: z.boolean(),
    /** several jobs (points in time) at once on the same domain */
    concurrentJobs: z.boolean(),
  })
  .strict();

const callSpec = z
  .object({
    doc: z.string().min(1),
    params: z.custom<z.ZodTypeAny>((v) => v instanceof z.ZodType, 'must be a zod schema'),
    result: z.custom<z.ZodTypeAny>((v) => v instanceof z.ZodType, 'must be a zod schema'),
  })
  .strict();

const fn = z.custom<(...a: never[]) => unknown>((v) => typeof v === 'function', 'must be a function');
const machine = z.custom<AnyStateMachine>(
  (v) =>
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { transition?: unknown }).transition === 'function' &&
    typeof (v as { root?: unknown }).root === 'object',
  'must be an xstate machine (setup({...}).createMachine({...}))',
);

export const proposalSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'lower-case letters, digits, dots and dashes'),
    title: z.string().min(1),
    summary: z.string().min(1),
    capabilities,
    calls: z.record(callSpec).refine((c) => Object.keys(c).length > 0, 'at least one call'),
    claims: z.array(z.enum(PROPERTY_IDS as [PropertyId, ...PropertyId[]])),
    /** why a property is not claimed, for the report ("one backup job per domain") */
    limits: z.record(z.string()).default({}),
    /** QEMU features a claim needs (detected, as libvirt would): without them the property is not expressible */
    requires: z.record(z.array(z.enum(FEATURES))).default({}),
    machine,
    session: z
      .object({
        start: fn,
        handle: fn,
        exportName: fn,
        stop: fn,
        request: z.record(fn),
        qemuEvents: z.record(fn).optional(),
      })
      .strict(),
    lower: z.record(fn),
    checkpoints: z
      .object({
        chains: z.enum(['ids', 'names']),
        create: fn,
        handle: fn,
        remove: fn,
        begin: fn,
        backup: fn,
        exported: fn,
        end: fn,
        fullNeeded: fn,
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const name of Object.keys(p.calls)) {
      if (!(name in p.lower))
        ctx.addIssue({ code: 'custom', path: ['lower', name], message: `call '${name}' has no lowering` });
    }
    for (const name of Object.keys(p.lower)) {
      if (!(name in p.calls))
        ctx.addIssue({
          code: 'custom',
          path: ['lower', name],
          message: `lowering for unknown call '${name}'`,
        });
    }
    const requested: string[] = [];
    for (const [label, build] of Object.entries(p.session.request)) {
      try {
        const c = (build as SessionPlan['request'][string])('h1', ['vda']);
        if (!(c.call in p.calls))
          ctx.addIssue({
            code: 'custom',
            path: ['session', 'request', label],
            message: `'${c.call}' is not a call of the API`,
          });
        requested.push(c.call);
      } catch (e) {
        ctx.addIssue({
          code: 'custom',
          path: ['session', 'request', label],
          message: `throws: ${e instanceof Error ? e.message : String(e)}`,
        });
      }
    }
    const qemuEvents = Object.keys(p.session.qemuEvents ?? {});
    for (const issue of checkMachine(
      p.machine,
      [...Object.keys(p.calls), ...qemuEvents],
      requested,
      qemuEvents,
    ))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

export interface Proposal {
  name: string;
  title: string;
  summary: string;
  capabilities: z.infer<typeof capabilities>;
  calls: Record<string, { doc: string; params: z.ZodTypeAny; result: z.ZodTypeAny }>;
  claims: PropertyId[];
  limits: Partial<Record<PropertyId, string>>;
  requires?: Partial<Record<PropertyId, Feature[]>>;
  machine: AnyStateMachine;
  /** the machine read once: states, their tags, transitions (checked when the proposal is defined) */
  shape: MachineShape;
  session: SessionPlan;
  lower: Record<string, (ctx: LowerCtx, params: Record<string, unknown>) => Promise<unknown>>;
  /** the file it was loaded from (a proposal of the user's; bundled ones have none) */
  file?: string;
  /** checkpoints and incremental backups, where the API has them (its domain's disks are then qcow2) */
  checkpoints?: CheckpointPlan;
}

export type ProposalInput = Omit<Proposal, 'limits' | 'shape' | 'file'> & {
  limits?: Partial<Record<PropertyId, string>>;
};

export class ProposalError extends Error {}

export function defineProposal(input: ProposalInput | Proposal, where = 'proposal'): Proposal {
  // a file may export what defineProposal made (it is checked again, its reading of the machine redone)
  const p =
    input !== null && typeof input === 'object' && 'shape' in input
      ? (({ shape: _shape, ...rest }) => rest)(input as Proposal)
      : input;
  const r = proposalSchema.safeParse(p);
  // p may be anything a file exported (null, a number): read its name only off an object
  const n = p !== null && typeof p === 'object' ? (p as { name?: unknown }).name : undefined;
  const name = typeof n === 'string' ? ` '${n}'` : '';
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ProposalError(oneLine(`${where}${name}: ${i.path.join('.') || '(top)'}: ${i.message}`));
  }
  return { ...p, limits: p.limits ?? {}, shape: shapeOf(p.machine) } as Proposal;
}

/** one line, whatever the keys and names hold */
function oneLine(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
