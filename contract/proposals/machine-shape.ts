import type { AnyStateMachine } from 'xstate';

/**
 * A proposal's API machine, read once: the states its user sees, with the tags the checker acts on, and every
 * transition (what the checker drives, counts as covered and draws). Machines are flat: one level of states,
 * every transition naming its target, so that "which calls does this state accept" has one answer.
 */
export const STATE_TAGS = {
  pit: 'entering it fixes the point in time of every disk of the session',
  readable: "the session's exports exist: a reader may read them",
  pivoted: 'the guest now writes to the copy: pivot-identical is checked on entering it',
} as const;
export type StateTag = keyof typeof STATE_TAGS;

export interface MachineShape {
  id: string;
  initial: string;
  states: { name: string; tags: StateTag[]; final: boolean }[];
  /** one row per branch: a guarded event has a branch per target */
  transitions: { from: string; event: string; to: string; guard?: string }[];
  events: string[];
}

interface Issue {
  path: (string | number)[];
  message: string;
}

// xstate's StateNode as far as this file reads it
interface Node {
  key: string;
  type: string;
  tags: string[];
  states: Record<string, Node>;
  transitions: Map<string, { target?: Node[]; guard?: unknown }[]>;
  always?: unknown[];
  after?: unknown[];
  initial?: { target: Node[] };
}

function guardName(g: unknown): string | undefined {
  if (g === undefined) return undefined;
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && g !== null && typeof (g as { type?: unknown }).type === 'string')
    return (g as { type: string }).type;
  return 'inline guard';
}

export function shapeOf(m: AnyStateMachine): MachineShape {
  const root = m.root as unknown as Node;
  const states = Object.values(root.states);
  const transitions: MachineShape['transitions'] = [];
  for (const s of states)
    for (const [event, branches] of s.transitions)
      for (const b of branches)
        transitions.push({
          from: s.key,
          event,
          to: b.target?.[0]?.key ?? s.key,
          ...(b.guard !== undefined ? { guard: guardName(b.guard) } : {}),
        });
  return {
    id: m.id,
    initial: root.initial?.target[0]?.key ?? '',
    states: states.map((s) => ({ name: s.key, tags: s.tags as StateTag[], final: s.type === 'final' })),
    transitions,
    events: [...new Set(transitions.map((t) => t.event))],
  };
}

/**
 * What is wrong with a proposal's machine, as issues under `machine` (or `session.request`). `requested` are
 * the calls the session's requests make.
 */
export function checkMachine(
  m: AnyStateMachine,
  calls: string[],
  requested: string[],
  fromQemu: string[] = [],
): Issue[] {
  const issues: Issue[] = [];
  const root = m.root as unknown as Node;
  const at = (...p: (string | number)[]) => ['machine', ...p];
  for (const s of Object.values(root.states)) {
    if (Object.keys(s.states).length > 0)
      issues.push({ path: at('states', s.key), message: 'nested states: an API machine is flat' });
    if ((s.always?.length ?? 0) > 0 || (s.after?.length ?? 0) > 0)
      issues.push({
        path: at('states', s.key),
        message: 'eventless (always/after) transitions: every transition of an API machine is a call',
      });
    for (const tag of s.tags)
      if (!(tag in STATE_TAGS))
        issues.push({
          path: at('states', s.key, 'tags'),
          message: `unknown tag '${tag}' (known: ${Object.keys(STATE_TAGS).join(', ')})`,
        });
    for (const [event, branches] of s.transitions) {
      if (!calls.includes(event))
        issues.push({
          path: at('states', s.key, 'on', event),
          message: `'${event}' is neither a call of the API nor one of session.qemuEvents`,
        });
      branches.forEach((b, i) => {
        if (!b.target || b.target.length === 0)
          issues.push({
            path: at('states', s.key, 'on', event, i),
            message: `name the target, also to stay (target: '${s.key}')`,
          });
      });
    }
  }
  if (issues.length > 0) return issues;
  const shape = shapeOf(m);
  const tagged = (t: StateTag) => shape.states.some((s) => s.tags.includes(t));
  if (!tagged('pit')) issues.push({ path: at('states'), message: "no state is tagged 'pit'" });
  if (!tagged('readable')) issues.push({ path: at('states'), message: "no state is tagged 'readable'" });
  if (!shape.states.some((s) => s.final))
    issues.push({ path: at('states'), message: "no final state (type: 'final'): a session never ends" });
  // every call a live session can receive must be buildable from its handle
  const live = new Set(shape.transitions.filter((t) => t.from !== shape.initial).map((t) => t.event));
  for (const e of live)
    if (!requested.includes(e) && !fromQemu.includes(e))
      issues.push({ path: ['session', 'request'], message: `no request makes the call '${e}'` });
  return issues;
}
