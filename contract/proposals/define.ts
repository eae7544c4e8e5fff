import { z } from 'zod';
import type { Port } from '../port.ts';
import { PROPERTY_IDS, type PropertyId } from '../properties.ts';

/**
 * An API proposal as an executable spec: its calls (zod-typed), what it claims, how a fleecing session is
 * built from its calls, and how each call is lowered to QMP (feature-detected, as libvirt would).
 * `defineProposal` checks the shape when the file is loaded and names the field that is wrong.
 */

/** What a lowering sees: the QEMU (through a Port), the domain, and the API implementation's own state. */
export interface LowerCtx {
  port: Port;
  /** the domain's disks: API name -> block node name, size */
  disks: Record<string, { node: string; size: number }>;
  /** the implementation's bookkeeping (what libvirt keeps in its domain object) */
  state: Record<string, unknown>;
  /** the NBD server the harness runs (guests and readers use it) */
  nbdServerRunning: boolean;
}

export type ApiCall = { call: string; params: Record<string, unknown> };

/**
 * A fleecing session made of API calls. `start` returns the calls that give a reader point-in-time
 * exports of `disks`; the checker may let the guest write between any two of them. `pitCall[disk]` says which
 * of the start calls fixes that disk's point in time.
 */
export interface SessionPlan {
  start(disks: string[], ctx: { sessionNo: number }): ApiCall[];
  /** index (in start's list) of the call that fixes each disk's point in time */
  pitCall(disks: string[]): Record<string, number>;
  /** the handle of the session from the results of the start calls */
  handle(results: unknown[], disks: string[], ctx: { sessionNo: number }): string;
  exportName(handle: string, disk: string): string;
  stop(handle: string, disks: string[]): ApiCall[];
  stats?(handle: string): ApiCall;
}

const capabilities = z
  .object({
    /** 'many': one call takes a list of disks; 'one': one disk per call */
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
    session: z
      .object({ start: fn, pitCall: fn, handle: fn, exportName: fn, stop: fn, stats: fn.optional() })
      .strict(),
    lower: z.record(fn),
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
  });

export interface Proposal {
  name: string;
  title: string;
  summary: string;
  capabilities: z.infer<typeof capabilities>;
  calls: Record<string, { doc: string; params: z.ZodTypeAny; result: z.ZodTypeAny }>;
  claims: PropertyId[];
  limits: Partial<Record<PropertyId, string>>;
  session: SessionPlan;
  lower: Record<string, (ctx: LowerCtx, params: Record<string, unknown>) => Promise<unknown>>;
}

export type ProposalInput = Omit<Proposal, 'limits'> & { limits?: Partial<Record<PropertyId, string>> };

export class ProposalError extends Error {}

export function defineProposal(p: ProposalInput, where = 'proposal'): Proposal {
  const r = proposalSchema.safeParse(p);
  if (!r.success) {
    const i = r.error.issues[0];
    // p may be anything a file exported (null, a number): read its name only off an object
    const n = p !== null && typeof p === 'object' ? (p as { name?: unknown }).name : undefined;
    const name = typeof n === 'string' ? ` '${n}'` : '';
    // one line, whatever the keys and names hold
    const line = (s: string) =>
      s.replace(/[\u0000-\u001f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    throw new ProposalError(line(`${where}${name}: ${i.path.join('.') || '(top)'}: ${i.message}`));
  }
  return { ...p, limits: p.limits ?? {} } as Proposal;
}
