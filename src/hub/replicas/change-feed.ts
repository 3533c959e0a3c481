/**
 * Hands the store's changes to watches. One LISTEN per hub process; on each notification the feed reads the new
 * events once (all kinds, in order) and gives every watch the events of its kind, with the position scanned
 * through, so a watch moves forward on every change, of its kind or not. A change made through another replica
 * arrives by NOTIFY on the shared PostgreSQL; a periodic read covers a lost notification. With no watch open the
 * feed reads nothing.
 */
import { type ChangeEvent, type ResourceStore, WatchExpiredError } from "../../store/resource-store.ts";

/** What a watch is told by the feed. */
export interface ChangeListener {
  /** Events of the watched kind after the watch's position, oldest first, and the position now scanned through. */
  deliver(events: readonly ChangeEvent[], scannedThrough: string): void;
  /** The feed can no longer serve this watch (its events were compacted away, or the hub is stopping). */
  end(error?: Error): void;
}

/** An open subscription; `close` stops deliveries at once. */
export interface FeedSubscription {
  close(): void;
}

export interface ChangeFeedOptions {
  /** How often the feed reads when watches are open, in case a notification was lost (default 5 s). */
  pollMs?: number;
  /** Events read per query (default 1000). */
  batch?: number;
  log?: (entry: Record<string, unknown>) => void;
}

interface Subscriber {
  kind: string;
  position: bigint;
  listener: ChangeListener;
}

export class ChangeFeed {
  /** The newest resourceVersion known to be committed (from notifications and reads). */
  private latest = 0n;
  /** Every event up to here has been handed to the subscribers. */
  private position = 0n;
  private store: ResourceStore | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private waiters = new Set<() => void>();
  private stop: (() => Promise<void>) | undefined;
  private poll: NodeJS.Timeout | undefined;
  /** Reads and catch-ups run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private readQueued = false;
  private readonly pollMs: number;
  private readonly batch: number;
  private readonly log: (entry: Record<string, unknown>) => void;

  constructor(options: ChangeFeedOptions = {}) {
    this.pollMs = options.pollMs ?? 5000;
    this.batch = options.batch ?? 1000;
    this.log = options.log ?? (() => {});
  }

  async start(store: ResourceStore): Promise<void> {
    this.store = store;
    this.position = this.latest = BigInt(await store.latestVersion());
    this.stop = await store.subscribe((rv) => this.changed(rv));
    this.poll = setInterval(() => {
      if (this.subscribers.size > 0) this.scheduleRead();
    }, this.pollMs);
    this.poll.unref();
  }

  /** Resolves when a change after `afterVersion` is known, on the periodic wake-up, or when aborted. */
  wait(afterVersion: string, signal: AbortSignal): Promise<void> {
    if (this.latest > BigInt(afterVersion || "0")) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      this.waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /**
   * Subscribes a watch of `kind` from `resourceVersion` (already checked as watchable): first the retained events
   * of that kind up to the feed's position (read for this watch alone), then every later event as it is read.
   * Rejects, before delivering anything, when the store cannot serve that starting point.
   */
  watch(kind: string, resourceVersion: string, listener: ChangeListener): Promise<FeedSubscription> {
    return this.serially(async () => {
      const store = this.started();
      if (this.subscribers.size === 0 && this.latest > this.position) this.position = this.latest;
      const subscriber: Subscriber = { kind, position: BigInt(resourceVersion), listener };
      while (subscriber.position < this.position) {
        const events = await store.eventsSince(String(subscriber.position), kind, this.batch, {
          through: String(this.position),
          previous: true,
        });
        const through = events.length < this.batch ? this.position : BigInt(events.at(-1)!.resourceVersion);
        subscriber.position = through;
        listener.deliver(events, String(through));
      }
      this.subscribers.add(subscriber);
      // Notifications that came while it caught up found nobody to read for.
      if (this.latest > this.position) this.scheduleRead();
      return { close: () => this.subscribers.delete(subscriber) };
    });
  }

  private changed(rv: string): void {
    if (/^\d+$/.test(rv)) {
      const version = BigInt(rv);
      if (version > this.latest) this.latest = version;
    }
    this.wakeAll();
    if (this.subscribers.size > 0) this.scheduleRead();
    // Nobody to hand events to: a watch that starts later reads its own catch-up up to the latest.
  }

  private scheduleRead(): void {
    if (this.readQueued) return;
    this.readQueued = true;
    void this.serially(async () => {
      this.readQueued = false;
      await this.read();
    });
  }

  /** Reads the events after the position, once for all subscribers, and hands each its kind's share. */
  private async read(): Promise<void> {
    const store = this.started();
    for (;;) {
      if (this.subscribers.size === 0) {
        if (this.latest > this.position) this.position = this.latest;
        return;
      }
      let events: ChangeEvent[];
      try {
        events = await store.eventsSince(String(this.position), undefined, this.batch, { previous: true });
      } catch (error) {
        if (error instanceof WatchExpiredError) {
          // This replica fell behind compaction (e.g. the database was away a long time): its watches
          // must list again, as kube-apiserver's would.
          for (const subscriber of [...this.subscribers]) this.endSubscriber(subscriber, error);
          this.position = BigInt(await store.latestVersion());
          return;
        }
        this.log({ level: "error", msg: "reading changes for watches failed", error: String(error) });
        return;
      }
      if (events.length === 0) return;
      const through = BigInt(events.at(-1)!.resourceVersion);
      this.position = through;
      if (through > this.latest) this.latest = through;
      this.handOut(events, through);
      if (events.length < this.batch) return;
      // Give requests their turn between large batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private handOut(events: readonly ChangeEvent[], through: bigint): void {
    const byKind = new Map<string, ChangeEvent[]>();
    for (const event of events) {
      const list = byKind.get(event.kind);
      if (list) list.push(event);
      else byKind.set(event.kind, [event]);
    }
    for (const subscriber of [...this.subscribers]) {
      if (!this.subscribers.has(subscriber)) continue;
      const start = subscriber.position;
      const ofKind = byKind.get(subscriber.kind) ?? [];
      // Normally all are new to it; a watch that started ahead of the feed skips what it asked to skip.
      const own =
        ofKind.length > 0 && BigInt(ofKind[0]!.resourceVersion) <= start
          ? ofKind.filter((e) => BigInt(e.resourceVersion) > start)
          : ofKind;
      if (through > subscriber.position) subscriber.position = through;
      try {
        subscriber.listener.deliver(own, String(subscriber.position));
      } catch (error) {
        this.endSubscriber(subscriber, error as Error);
      }
    }
  }

  private endSubscriber(subscriber: Subscriber, error?: Error): void {
    this.subscribers.delete(subscriber);
    try {
      subscriber.listener.end(error);
    } catch (failure) {
      this.log({ level: "error", msg: "ending a watch failed", error: String(failure) });
    }
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private started(): ResourceStore {
    if (!this.store) throw new Error("the change feed is not started");
    return this.store;
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  async close(): Promise<void> {
    clearInterval(this.poll);
    for (const subscriber of [...this.subscribers]) this.endSubscriber(subscriber);
    this.wakeAll();
    await this.stop?.();
  }
}
