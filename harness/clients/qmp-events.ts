/**
 * Event fan-out: each listener owns a queue, so two parts of a test never steal each other's
 * events, and a listener created before a command sees events QEMU emits before its reply
 * (a null-co backup job runs to `null` before the blockdev-backup reply arrives).
 */
import { AsyncQueue } from './async-queue.js';
import { QmpConnectionClosedError, QmpTimeoutError } from './qmp-errors.js';
import type { QmpEvent } from './qmp-wire.js';

export type EventFilter = string | readonly string[] | ((e: QmpEvent) => boolean);

/** Partial match: `event` equal, and each listed `data` member deep-equal. */
export interface EventPattern {
  event?: string | undefined;
  data?: Readonly<Record<string, unknown>> | undefined;
}

export type EventMatch = EventPattern | ((e: QmpEvent) => boolean);

export interface WaitOptions {
  timeoutMs?: number | undefined;
  /** names the awaited thing in the timeout message when `match` is a function */
  description?: string | undefined;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k]));
}

export function matches(e: QmpEvent, m: EventMatch): boolean {
  if (typeof m === 'function') return m(e);
  if (m.event !== undefined && e.event !== m.event) return false;
  if (m.data === undefined) return true;
  const data = e.data ?? {};
  return Object.entries(m.data).every(([k, v]) => Object.hasOwn(data, k) && deepEqual(data[k], v));
}

function describeMatch(m: EventMatch, description: string | undefined): string {
  if (description !== undefined) return description;
  if (typeof m === 'function') return m.name ? `predicate ${m.name}` : 'an anonymous predicate';
  return JSON.stringify(m);
}

function describeFilter(f: EventFilter | undefined): string {
  if (f === undefined) return 'any event';
  if (typeof f === 'string') return f;
  if (typeof f === 'function') return f.name ? `filter ${f.name}` : 'an anonymous filter';
  return f.join('|');
}

export function summarizeEvent(e: QmpEvent): string {
  const d = e.data;
  if (d === undefined) return e.event;
  const status = typeof d.status === 'string' ? d.status : undefined;
  const id = typeof d.id === 'string' ? d.id : typeof d.device === 'string' ? d.device : undefined;
  const bits = [id, status].filter((x) => x !== undefined);
  return bits.length > 0 ? `${e.event}(${bits.join(' ')})` : e.event;
}

export class EventListener {
  private readonly queue = new AsyncQueue<QmpEvent>();
  private closed = false;

  constructor(
    private readonly filter: EventFilter | undefined,
    private readonly defaultTimeoutMs: number,
    private readonly onClose: (l: EventListener) => void,
  ) {}

  accepts(e: QmpEvent): boolean {
    const f = this.filter;
    if (f === undefined) return true;
    if (typeof f === 'string') return e.event === f;
    if (typeof f === 'function') return f(e);
    return f.includes(e.event);
  }

  /** Called by the hub only. */
  deliver(e: QmpEvent): void {
    this.queue.push(e);
  }

  /** Called by the hub when the connection ends. */
  fail(err: Error): void {
    this.queue.fail(err);
  }

  next(opts: { timeoutMs?: number | undefined } = {}): Promise<QmpEvent> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    return this.queue.next(timeoutMs, () => `waiting for ${describeFilter(this.filter)}`);
  }

  /**
   * Consumes events until one matches; the ones passed over are dropped but named in the error,
   * because "saw created, running, aborting" is usually the whole diagnosis.
   */
  async waitFor(match: EventMatch, opts: WaitOptions = {}): Promise<QmpEvent> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const what = describeMatch(match, opts.description);
    const deadline = Date.now() + timeoutMs;
    const skipped: QmpEvent[] = [];
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      let e: QmpEvent;
      try {
        e = await this.queue.next(left, () => '');
      } catch (err) {
        const seen = skipped.length === 0 ? 'no other events' : skipped.map(summarizeEvent).join(', ');
        const msg = `waiting for event ${what}; passed over: ${seen}`;
        if (err instanceof QmpTimeoutError) {
          throw new QmpTimeoutError(`timed out after ${timeoutMs} ms ${msg}`);
        }
        const cause = err instanceof Error ? err.message : String(err);
        throw new QmpConnectionClosedError(`${cause} (while ${msg})`);
      }
      if (matches(e, match)) return e;
      skipped.push(e);
    }
  }

  drain(): QmpEvent[] {
    return this.queue.drain();
  }

  get pending(): number {
    return this.queue.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.fail(new QmpConnectionClosedError('event listener was closed'));
    this.onClose(this);
  }
}

export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private failure: Error | undefined;

  constructor(private readonly defaultTimeoutMs: number) {}

  listen(filter?: EventFilter): EventListener {
    const l = new EventListener(filter, this.defaultTimeoutMs, (x) => this.listeners.delete(x));
    if (this.failure !== undefined) l.fail(this.failure);
    else this.listeners.add(l);
    return l;
  }

  /** Called by the client only. A throwing filter must not break delivery to the others. */
  dispatch(e: QmpEvent): void {
    for (const l of this.listeners) {
      let ok = false;
      try {
        ok = l.accepts(e);
      } catch {
        ok = false;
      }
      if (ok) l.deliver(e);
    }
  }

  /** Called by the client only. */
  failAll(err: Error): void {
    if (this.failure === undefined) this.failure = err;
    for (const l of this.listeners) l.fail(err);
    this.listeners.clear();
  }
}
