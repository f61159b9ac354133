import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { redisConnectionOptions, redisTarget, type RedisTarget } from '../clients/redis-target.js';

/**
 * Change events: the API publishes a compact event whenever components, sessions, templates or
 * options change; operators subscribe and run their next pass early instead of waiting a whole
 * polling period. Events are hints, never the source of truth: a lost event only delays work until
 * the next poll.
 */
export type ChangeKind = 'components' | 'sessions' | 'templates' | 'options';

export interface ChangeEvent {
  kind: ChangeKind;
  /** How many records changed (components) or which session (sessions); informative only. */
  count?: number;
  name?: string;
  /** What happened, e.g. `create`, `patch`, `delete`, `report` (an on-node actual-state report). */
  op?: string;
}

export interface ChangeBus {
  publish(event: ChangeEvent): void;
  /** Returns the function that unsubscribes. */
  subscribe(listener: (event: ChangeEvent) => void): () => void;
  close(): Promise<void>;
}

/**
 * Coalesces a burst of events into one per (kind, op) within a short window, so 10,000 state
 * reports become a handful of messages.
 */
class Coalescer {
  private pending = new Map<string, ChangeEvent>();
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly windowMs: number,
    private readonly flush: (events: ChangeEvent[]) => void,
  ) {}

  add(e: ChangeEvent): void {
    const key = `${e.kind}|${e.op ?? ''}|${e.kind === 'sessions' ? (e.name ?? '') : ''}`;
    const prev = this.pending.get(key);
    if (prev) prev.count = (prev.count ?? 1) + (e.count ?? 1);
    else this.pending.set(key, { ...e, count: e.count ?? 1 });
    if (!this.timer) {
      this.timer = setTimeout(() => this.drain(), this.windowMs);
      this.timer.unref();
    }
  }

  drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const events = [...this.pending.values()];
    this.pending.clear();
    this.flush(events);
  }
}

/** In-process bus, for the memory store and the all-in-one process. */
export class LocalChangeBus implements ChangeBus {
  private readonly emitter = new EventEmitter();
  private readonly coalescer: Coalescer;

  constructor(opts: { windowMs?: number } = {}) {
    this.emitter.setMaxListeners(100);
    this.coalescer = new Coalescer(opts.windowMs ?? 20, (events) => {
      for (const e of events) this.emitter.emit('change', e);
    });
  }
  publish(event: ChangeEvent): void {
    this.coalescer.add(event);
  }
  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }
  async close(): Promise<void> {
    this.coalescer.drain();
    this.emitter.removeAllListeners();
  }
}

const REDIS_CHANNEL = 'bos:v2:changes';
/** How soon a subscriber connection that ended is replaced. */
const RESUBSCRIBE_MS = 1_000;

/**
 * Redis pub/sub bus, for an API and operators in different processes. Publishing never throws: a
 * Redis hiccup costs only an early wake-up.
 */
export class RedisChangeBus implements ChangeBus {
  private pub: Redis | undefined;
  private sub: Redis | undefined;
  private readonly listeners = new Set<(e: ChangeEvent) => void>();
  private readonly coalescer: Coalescer;
  private subscribed: Promise<void> = Promise.resolve();
  private closed = false;

  private readonly target: RedisTarget;

  constructor(
    target: RedisTarget | string,
    private readonly redisOptions: RedisOptions = {},
    opts: { windowMs?: number; channel?: string } = {},
  ) {
    this.target = redisTarget(target);
    this.channel = opts.channel ?? REDIS_CHANNEL;
    this.coalescer = new Coalescer(opts.windowMs ?? 20, (events) => {
      this.pub ??= this.connect();
      this.pub.publish(this.channel, JSON.stringify(events)).catch(() => undefined);
    });
  }
  private readonly channel: string;

  private connect(): Redis {
    const r = new Redis({ ...redisConnectionOptions(this.target), lazyConnect: false, maxRetriesPerRequest: 1, ...this.redisOptions });
    r.on('error', () => undefined); // reconnects by itself; events are hints
    // A connection that gave up reconnecting (ioredis can end one during a Sentinel failover) is
    // replaced: the publisher at its next event, the subscriber a moment later.
    r.once('end', () => {
      if (this.closed) return;
      if (this.pub === r) this.pub = undefined;
      if (this.sub === r) {
        this.sub = undefined;
        setTimeout(() => {
          if (!this.closed && !this.sub && this.listeners.size > 0) this.listen();
        }, RESUBSCRIBE_MS).unref();
      }
    });
    return r;
  }

  publish(event: ChangeEvent): void {
    this.coalescer.add(event);
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.sub) this.listen();
    return () => this.listeners.delete(listener);
  }

  private listen(): void {
    this.sub = this.connect();
    this.subscribed = this.sub.subscribe(this.channel).then(
      () => undefined,
      () => undefined,
    );
    this.sub.on('message', (_channel: string, message: string) => {
      let events: unknown;
      try {
        events = JSON.parse(message);
      } catch {
        return;
      }
      if (!Array.isArray(events)) return;
      for (const e of events) {
        if (e && typeof e === 'object' && typeof (e as ChangeEvent).kind === 'string') {
          for (const l of this.listeners) l(e as ChangeEvent);
        }
      }
    });
  }

  /** Resolves once the subscription is active (for tests and start-up ordering). */
  ready(): Promise<void> {
    return this.subscribed;
  }

  async close(): Promise<void> {
    this.coalescer.drain();
    this.closed = true;
    this.listeners.clear();
    await Promise.all([this.pub?.quit().catch(() => undefined), this.sub?.quit().catch(() => undefined)]);
  }
}
