import { EVENTS } from '../../contract/qmp/commands.ts';

/**
 * Event payloads checked against the event table in spec/: on every target, so the table is tested against
 * what real QEMU sends and the simulator is held to it. An event the table does not list is not checked
 * (qemu-system sends ones the block layer has nothing to do with); one it lists must match it exactly.
 */
export function eventProblem(e: { event: string; data?: unknown }): string | undefined {
  const schema = (EVENTS as Record<string, (typeof EVENTS)[keyof typeof EVENTS]>)[e.event];
  if (!schema) return undefined;
  const r = schema.safeParse(e.data ?? {});
  if (r.success) return undefined;
  const i = r.error.issues[0]!;
  return `event ${e.event} ${JSON.stringify(e.data ?? {})}: ${i.path.join('.') || '(data)'}: ${i.message}`;
}
