import type { SimClock } from './clock.ts';

export interface SimEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export type EventListener = (e: SimEvent) => void;

/** Fan-out of QMP events to every monitor (and in-process subscriber), stamped from the simulator's clock. */
export class EventBus {
  private listeners = new Set<EventListener>();
  readonly log: SimEvent[] = [];
  /** Bound on the in-memory log; the oldest go first so a long serve run cannot grow without end. */
  readonly logLimit = 10_000;

  constructor(private readonly clock: SimClock) {}

  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(event: string, data?: Record<string, unknown>): void {
    const e: SimEvent =
      data === undefined
        ? { event, timestamp: this.clock.timestamp() }
        : { event, data, timestamp: this.clock.timestamp() };
    this.log.push(e);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    for (const l of this.listeners) l(e);
  }
}
