/**
 * Shapes of what a QMP server sends (greeting, reply, event), as zod schemas.
 * The client validates every message against these so a server that drifts from the protocol
 * fails with one line naming the field instead of handing `undefined` to a test much later.
 */
import { z } from 'zod';

const versionTriple = z.object({
  major: z.number().int().nonnegative(),
  minor: z.number().int().nonnegative(),
  micro: z.number().int().nonnegative(),
});

export const greetingSchema = z.object({
  QMP: z.object({
    version: z.object({ qemu: versionTriple, package: z.string() }),
    capabilities: z.array(z.string()),
  }),
});
export type QmpGreeting = z.infer<typeof greetingSchema>;

/** QEMU echoes any JSON value given as `id`; only our own string ids are ever matched. */
const replyId = z.unknown().optional();

export const returnSchema = z.object({ return: z.unknown(), id: replyId });
export const errorSchema = z.object({
  error: z.object({ class: z.string(), desc: z.string() }),
  id: replyId,
});
export type QmpReturn = z.infer<typeof returnSchema>;
export type QmpErrorReply = z.infer<typeof errorSchema>;
export type QmpReply = QmpReturn | QmpErrorReply;

export const eventSchema = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({
    seconds: z.number().int(),
    microseconds: z.number().int(),
  }),
});
export type QmpEvent = z.infer<typeof eventSchema>;

export type Classified =
  | { kind: 'event'; event: QmpEvent }
  | { kind: 'reply'; reply: QmpReply }
  | { kind: 'invalid'; problem: string };

/** One line: the first issue's path and message, e.g. `error.desc: Expected string, received number`. */
export function describeZodError(what: string, err: z.ZodError): string {
  const issue = err.issues[0];
  if (issue === undefined) return `${what}: invalid`;
  const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  return `${what}: ${path}: ${issue.message}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Decide what a parsed message is by its discriminating key, then validate its shape.
 * A message carrying both `return` and `error` is invalid: QEMU never sends one.
 */
export function classifyMessage(msg: unknown): Classified {
  if (!isPlainObject(msg)) return { kind: 'invalid', problem: 'QMP message is not a JSON object' };
  if ('event' in msg) {
    const r = eventSchema.safeParse(msg);
    return r.success
      ? { kind: 'event', event: r.data }
      : { kind: 'invalid', problem: describeZodError('QMP event has the wrong shape', r.error) };
  }
  const hasReturn = 'return' in msg;
  const hasError = 'error' in msg;
  if (hasReturn && hasError) {
    return { kind: 'invalid', problem: 'QMP reply has both "return" and "error"' };
  }
  if (hasReturn) {
    const r = returnSchema.safeParse(msg);
    return r.success
      ? { kind: 'reply', reply: r.data }
      : { kind: 'invalid', problem: describeZodError('QMP reply has the wrong shape', r.error) };
  }
  if (hasError) {
    const r = errorSchema.safeParse(msg);
    return r.success
      ? { kind: 'reply', reply: r.data }
      : { kind: 'invalid', problem: describeZodError('QMP error reply has the wrong shape', r.error) };
  }
  if ('QMP' in msg) return { kind: 'invalid', problem: 'QMP greeting received again mid-session' };
  // keys as JSON writes them (escaped), so that the problem stays on one line
  const keys =
    Object.keys(msg)
      .slice(0, 5)
      .map((k) => JSON.stringify(k).slice(1, -1))
      .join(', ') || '(none)';
  return { kind: 'invalid', problem: `QMP message is neither reply nor event (keys: ${keys})` };
}

export function isErrorReply(r: QmpReply): r is QmpErrorReply {
  return 'error' in r;
}
