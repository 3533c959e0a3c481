/**
 * An informer: one kind of the store kept in memory, listed once and then followed through the hub's change feed,
 * so that controllers read objects without a query and react to each change. As a client-go informer does: the
 * cache is the store as of the last change handed out; when the feed can no longer serve it (compacted away, the
 * its events were compacted away), it lists again and hands out the difference as changes, so that no change is ever missed.
 *
 * Bound: one entry per stored object of the kind (what the store holds, nothing more).
 */
import type { ChangeEvent, ResourceStore, StoredObject } from "../../store/resource-store.ts";
import type { ChangeListener, FeedSubscription } from "../replicas/change-feed.ts";

/** The feed an informer follows (the hub's `ChangeFeed`). */
export interface InformerFeed {
  watch(kind: string, resourceVersion: string, listener: ChangeListener): Promise<FeedSubscription>;
}

/** A change as an informer hands it out: the object before (absent when created) and after (absent when deleted). */
export interface InformedChange {
  kind: string;
  name: string;
  before: StoredObject | undefined;
  after: StoredObject | undefined;
}

export class Informer {
  readonly kind: string;
  private readonly store: ResourceStore;
  private readonly feed: InformerFeed;
  private readonly objects = new Map<string, StoredObject>();
  private readonly handlers: Array<(change: InformedChange) => void> = [];
  private readonly log: (entry: Record<string, unknown>) => void;
  private subscription: FeedSubscription | undefined;
  private stopped = false;
  /** The newest resourceVersion the cache reflects. */
  private position = "0";

  constructor(deps: {
    kind: string;
    store: ResourceStore;
    feed: InformerFeed;
    log: (entry: Record<string, unknown>) => void;
  }) {
    this.kind = deps.kind;
    this.store = deps.store;
    this.feed = deps.feed;
    this.log = deps.log;
  }

  /** Adds a handler of every later change (and of the differences a relist finds). */
  onChange(handler: (change: InformedChange) => void): void {
    this.handlers.push(handler);
  }

  get(name: string): StoredObject | undefined {
    return this.objects.get(name);
  }

  list(): StoredObject[] {
    return [...this.objects.values()];
  }

  get size(): number {
    return this.objects.size;
  }

  /**
   * Keeps an object this process just wrote (its newer resourceVersion), so that a read before its change arrives
   * sees it; the change, when it comes, is then no news. A stale write (older than the cache) is ignored.
   */
  remember(object: StoredObject): void {
    const known = this.objects.get(object.metadata.name);
    if (known && versionOf(known) >= versionOf(object)) return;
    this.objects.set(object.metadata.name, object);
  }

  /** Lists the kind and follows it; resolves once the cache holds the store as of the list. */
  async start(): Promise<void> {
    await this.relist();
  }

  stop(): void {
    this.stopped = true;
    this.subscription?.close();
    this.subscription = undefined;
  }

  private async relist(): Promise<void> {
    const listed = await this.store.list(this.kind);
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const object of listed.items) {
      const name = object.metadata.name;
      seen.add(name);
      const before = this.objects.get(name);
      if (before && before.metadata.resourceVersion === object.metadata.resourceVersion) continue;
      this.objects.set(name, object);
      this.emit({ kind: this.kind, name, before, after: object });
    }
    for (const [name, before] of [...this.objects])
      if (!seen.has(name)) {
        this.objects.delete(name);
        this.emit({ kind: this.kind, name, before, after: undefined });
      }
    this.position = listed.resourceVersion;
    this.subscription = await this.feed.watch(this.kind, this.position, {
      deliver: (events, scannedThrough) => this.apply(events, scannedThrough),
      end: (error) => this.ended(error),
    });
    if (this.stopped) this.subscription.close();
  }

  private apply(events: readonly ChangeEvent[], scannedThrough: string): void {
    for (const event of events) {
      const name = event.object.metadata.name;
      const before = this.objects.get(name);
      // Already known from `remember` (a write of this process) or from a relist: no news.
      if (before && versionOf(before) >= BigInt(event.resourceVersion)) continue;
      if (event.type === "DELETED") {
        this.objects.delete(name);
        this.emit({ kind: this.kind, name, before, after: undefined });
      } else {
        this.objects.set(name, event.object);
        this.emit({ kind: this.kind, name, before, after: event.object });
      }
    }
    this.position = scannedThrough;
  }

  /** The feed ended this watch: with an error (compacted away) it lists again; without, the hub is stopping. */
  private ended(error?: Error): void {
    this.subscription = undefined;
    if (this.stopped || !error) return;
    this.log({
      level: "info",
      msg: "informer lists again",
      kind: this.kind,
      ...(error ? { reason: error.message } : {}),
    });
    const retry = (delayMs: number) =>
      this.relist().catch((failure: unknown) => {
        if (this.stopped) return;
        this.log({ level: "warn", msg: "informer list failed", kind: this.kind, error: String(failure) });
        setTimeout(() => void retry(Math.min(delayMs * 2, 30_000)), delayMs).unref();
      });
    void retry(500);
  }

  private emit(change: InformedChange): void {
    for (const handler of this.handlers) {
      try {
        handler(change);
      } catch (error) {
        this.log({ level: "error", msg: "informer handler failed", kind: this.kind, error: String(error) });
      }
    }
  }
}

function versionOf(object: StoredObject): bigint {
  return BigInt(String(object.metadata.resourceVersion ?? "0"));
}
