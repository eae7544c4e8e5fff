import { assign, getNextSnapshot, type SnapshotFrom, setup } from 'xstate';
import type { Proposal } from '../../contract/proposals/define.ts';

/**
 * The API-level model: the domain, its fleecing sessions (jobs) and what a proposal's capabilities allow.
 * It says which operations are enabled and whether an operation should be accepted; the checker compares
 * that with what the lowering on QEMU did.
 */
export interface ApiContext {
  /** sessions alive, by their number */
  alive: number[];
  /** ids handed out so far (job identity: never reused while alive) */
  handles: Record<number, string>;
  concurrent: boolean;
}

export type ApiEvent =
  | { type: 'START'; session: number }
  | { type: 'STARTED'; session: number; handle: string }
  | { type: 'START_FAILED'; session: number }
  | { type: 'STOP'; session: number };

export function createApiMachine(p: Proposal) {
  return setup({
    types: { context: {} as ApiContext, events: {} as ApiEvent },
    guards: {
      // A proposal without concurrent jobs has one job per domain: a second start cannot be accepted.
      canStart: ({ context }) => context.concurrent || context.alive.length === 0,
      isAlive: ({ context, event }) => 'session' in event && context.alive.includes(event.session),
    },
  }).createMachine({
    id: `api-${p.name}`,
    context: { alive: [], handles: {}, concurrent: p.capabilities.concurrentJobs },
    initial: 'domain',
    states: {
      domain: {
        on: {
          // a target makes xstate count the event as enabled (`can`)
          START: { guard: 'canStart', target: 'domain' },
          STARTED: {
            actions: assign(({ context, event }) => ({
              alive: [...context.alive, event.session],
              handles: { ...context.handles, [event.session]: event.handle },
            })),
          },
          START_FAILED: {},
          STOP: {
            guard: 'isAlive',
            actions: assign(({ context, event }) => ({
              alive: context.alive.filter((s) => s !== event.session),
            })),
          },
        },
      },
    },
  });
}

export type ApiMachine = ReturnType<typeof createApiMachine>;
export type ApiSnapshot = SnapshotFrom<ApiMachine>;

export function apiStep(m: ApiMachine, s: ApiSnapshot, e: ApiEvent): ApiSnapshot {
  return getNextSnapshot(m, s, e);
}
