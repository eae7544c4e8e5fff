import type { z } from 'zod';

/**
 * Every file format's parser fails the same way: one line naming the file and the field that is wrong
 * ("results.json: checks.3.status: Invalid enum value …"), never zod's multi-line dump.
 */
export function parseWith<S extends z.ZodTypeAny>(schema: S, raw: unknown, where: string): z.infer<S> {
  const p = schema.safeParse(raw);
  if (!p.success) {
    const i = p.error.issues[0];
    throw new Error(`${where}: ${issuePath(i.path)}: ${oneLine(i.message)}`);
  }
  return p.data;
}

/** A zod issue's path on one line ("checks.3.status"; keys with control characters escaped). */
export function issuePath(p: (string | number)[]): string {
  return oneLine(p.join('.')) || '(top)';
}

/** control characters (newlines...) escaped, so a message stays on one line */
export function oneLine(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
