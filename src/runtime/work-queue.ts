/**
 * A keyed work queue and the reconcile loop over it, as a Runnable (docs/adr/0017). Changes add the key of the
 * object they concern; workers call `reconcile(key, signal)`, which looks at the world as it is now
 * (level-based) and answers `done`, `requeueAfter`, `retry` or `terminal`.
 *
 * - De-duplication: a key added while queued is processed once; a key added while being processed is
 *   processed again after, never at the same time as itself.
 * - `concurrency` reconciles at most at once (of different keys); an overall token bucket limits how fast they
 *   start.
 * - Per-key exponential backoff on `retry` (or a thrown error): base·2^(failures−1), capped; reset by `done`,
 *   `requeueAfter`, `terminal` and `forget`. No jitter, so that tests and logs are exact; the rate limit spreads
 *   keys that fail together.
 * - Bounded state: the queue holds an entry only for a key that is queued, being processed, waiting for its
 *   time (requeue or backoff) or failing. A key that is done and not queued leaves nothing behind, so the state
 *   is bounded by the number of keys outstanding at once, never by the number ever processed. (The FIFO may
 *   also hold entries of forgotten keys, at most twice the live ones plus 1,024.)
 * - Keys are compared as Map keys: use strings or numbers.
 * - A key added while the queue is not running is dropped: whoever feeds it lists everything again when the
 *   queue starts (this is what keeps a leader-only queue on a follower from filling up). On stop, queued and
 *   waiting keys are dropped, and the reconciles in flight (whose signal aborts) are waited for.
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import type { Log, Runnable } from "./runnable.ts";
import { type RateLimit, TokenBucket } from "./token-bucket.ts";

/** What a reconcile asks of the queue next for its key. */
export type Result =
  /** Nothing more to do until the key is added again. */
  | { done: true }
  /** Look again after this many ms (a success: the backoff resets). */
  | { requeueAfter: number }
  /** It failed and may succeed later: again after the key's backoff. */
  | { retry: unknown }
  /** It failed and will not succeed by retrying (bad input): logged, not retried until added again. */
  | { terminal: unknown };

export type Reconciler<K> = (key: K, signal: AbortSignal) => Promise<Result>;

/** The outcome of one reconcile, for metrics. */
export type Outcome = "done" | "requeue" | "retry" | "terminal";

export interface WorkQueueMetrics<K> {
  /** Keys waiting for a worker, told whenever it changes. */
  depth?(depth: number): void;
  /** One reconcile of `key` has ended (counting these per key gives reconciles per key). */
  reconciled?(key: K, outcome: Outcome, durationMs: number): void;
  /** `key` failed for the `failures`th time in a row and is tried again in `delayMs`. */
  retried?(key: K, failures: number, delayMs: number, error: unknown): void;
}

export interface Backoff {
  /** The delay after the first failure. */
  baseMs: number;
  /** The longest delay. */
  capMs: number;
}

export interface WorkQueueOptions<K> {
  /** The runnable's name, also in logs. */
  name: string;
  reconcile: Reconciler<K>;
  /** Reconciles at once (of different keys); 1 when absent. */
  concurrency?: number;
  /** 100 ms to 5 minutes when absent. */
  backoff?: Backoff;
  /** How fast reconciles may start; unlimited when absent. */
  rateLimit?: RateLimit;
  clock?: Clock;
  log?: Log;
  metrics?: WorkQueueMetrics<K>;
  dependsOn?: string[];
  leaderOnly?: boolean;
}

/** How many entries the queue holds, per kind (see the bound in the module comment). */
export interface WorkQueueState {
  /** Keys waiting for a worker (including those added again while being processed). */
  queued: number;
  processing: number;
  /** Keys waiting for their time (requeueAfter or backoff). */
  waiting: number;
  /** Keys whose last reconcile failed, with their count of failures. */
  failing: number;
}

export const defaultBackoff: Backoff = { baseMs: 100, capMs: 5 * 60_000 };

interface InFlight {
  /** `forget` was called while it ran: its result does not requeue the key. */
  forgotten: boolean;
}

export class WorkQueue<K> implements Runnable {
  readonly name: string;
  readonly dependsOn: string[] | undefined;
  readonly leaderOnly: boolean | undefined;
  readonly #reconcile: Reconciler<K>;
  readonly #concurrency: number;
  readonly #backoff: Backoff;
  readonly #rateLimit: RateLimit | undefined;
  readonly #clock: Clock;
  readonly #log: Log;
  readonly #metrics: WorkQueueMetrics<K>;

  /** Keys to process, first in first out; `#queuedKeys` says which entries count (a forgotten key's is stale). */
  #fifo: K[] = [];
  #head = 0;
  readonly #queuedKeys = new Set<K>();
  readonly #processing = new Map<K, InFlight>();
  /** Keys added while being processed: queued when their reconcile ends. */
  readonly #again = new Set<K>();
  readonly #waiting = new Map<K, { due: number; timer: TimerHandle }>();
  readonly #failures = new Map<K, number>();
  #bucket: TokenBucket | undefined;
  #pumpTimer: TimerHandle | undefined;
  #signal: AbortSignal | undefined;
  #drained: (() => void) | undefined;

  constructor(options: WorkQueueOptions<K>) {
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new Error(`concurrency: must be a whole number of 1 or more, got ${concurrency}`);
    const backoff = options.backoff ?? defaultBackoff;
    if (!(backoff.baseMs > 0)) throw new Error(`backoff.baseMs: must be above 0, got ${backoff.baseMs}`);
    if (!(backoff.capMs >= backoff.baseMs))
      throw new Error(
        `backoff.capMs: must be at least backoff.baseMs (${backoff.baseMs}), got ${backoff.capMs}`,
      );
    this.name = options.name;
    this.dependsOn = options.dependsOn;
    this.leaderOnly = options.leaderOnly;
    this.#reconcile = options.reconcile;
    this.#concurrency = concurrency;
    this.#backoff = backoff;
    this.#rateLimit = options.rateLimit;
    if (options.rateLimit) new TokenBucket(options.rateLimit, 0); // checks it now rather than at start
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? (() => {});
    this.#metrics = options.metrics ?? {};
  }

  /** Whether the queue runs (started, not stopped): only then are keys taken. */
  get running(): boolean {
    return this.#signal !== undefined && !this.#signal.aborted;
  }

  /** Queues `key` now (cancelling a requeue or backoff wait for it). Dropped when the queue is not running. */
  add(key: K): void {
    if (!this.running) return;
    this.#cancelWait(key);
    if (this.#processing.has(key)) {
      this.#again.add(key);
      return;
    }
    if (this.#queuedKeys.has(key)) return;
    this.#enqueue(key);
    this.#pump();
  }

  /**
   * Queues `key` in `ms`, unless it is queued already or waits for an earlier time. Dropped when the queue is not
   * running.
   */
  addAfter(key: K, ms: number): void {
    if (!this.running) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    if (this.#queuedKeys.has(key) || this.#again.has(key)) return;
    const due = this.#clock.now() + ms;
    const waiting = this.#waiting.get(key);
    if (waiting && waiting.due <= due) return;
    this.#cancelWait(key);
    const timer = this.#clock.setTimeout(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, ms);
    this.#waiting.set(key, { due, timer });
  }

  /**
   * Drops everything the queue holds for `key`: queued or waiting work and its backoff. A reconcile of it in
   * flight finishes, but its result does not requeue it. Adding it again afterwards works as for a new key.
   */
  forget(key: K): void {
    this.#cancelWait(key);
    if (this.#queuedKeys.delete(key)) {
      this.#metrics.depth?.(this.#queuedKeys.size);
      this.#dropStale();
    }
    this.#again.delete(key);
    this.#failures.delete(key);
    const inFlight = this.#processing.get(key);
    if (inFlight) inFlight.forgotten = true;
  }

  /** How many entries the queue holds now. */
  state(): WorkQueueState {
    return {
      queued: this.#queuedKeys.size + this.#again.size,
      processing: this.#processing.size,
      waiting: this.#waiting.size,
      failing: this.#failures.size,
    };
  }

  /** Runs the workers until `signal` aborts; then drops queued keys and resolves once reconciles in flight end. */
  start(signal: AbortSignal): Promise<void> {
    if (this.running) return Promise.reject(new Error(`work queue "${this.name}" is already running`));
    if (signal.aborted) return Promise.resolve();
    this.#signal = signal;
    this.#bucket = this.#rateLimit ? new TokenBucket(this.#rateLimit, this.#clock.now()) : undefined;
    return new Promise((resolve) => {
      signal.addEventListener(
        "abort",
        () => {
          this.#clear();
          if (this.#processing.size === 0) resolve();
          else this.#drained = resolve;
        },
        { once: true },
      );
    });
  }

  #enqueue(key: K): void {
    this.#queuedKeys.add(key);
    this.#fifo.push(key);
    this.#metrics.depth?.(this.#queuedKeys.size);
  }

  #dequeue(): K | undefined {
    while (this.#head < this.#fifo.length) {
      const key = this.#fifo[this.#head]!;
      this.#head++;
      // An entry whose key was forgotten (or taken already, when it was queued twice around a forget) is stale.
      if (this.#queuedKeys.delete(key)) {
        this.#compact();
        this.#metrics.depth?.(this.#queuedKeys.size);
        return key;
      }
    }
    this.#compact();
    return undefined;
  }

  /** Lets go of the part of the FIFO already consumed, once it is most of it. */
  #compact(): void {
    if (this.#head === this.#fifo.length) {
      this.#fifo = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#fifo.length) {
      this.#fifo = this.#fifo.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * Rebuilds the FIFO without the entries of forgotten keys once they outnumber the live ones, so that adding and
   * forgetting keys while every worker is busy cannot grow it without bound.
   */
  #dropStale(): void {
    const entries = this.#fifo.length - this.#head;
    if (entries <= 2 * this.#queuedKeys.size + 1024) return;
    const seen = new Set<K>();
    const live: K[] = [];
    for (let i = this.#head; i < this.#fifo.length; i++) {
      const key = this.#fifo[i]!;
      if (this.#queuedKeys.has(key) && !seen.has(key)) {
        seen.add(key);
        live.push(key);
      }
    }
    this.#fifo = live;
    this.#head = 0;
  }

  #cancelWait(key: K): void {
    const waiting = this.#waiting.get(key);
    if (!waiting) return;
    this.#clock.clearTimeout(waiting.timer);
    this.#waiting.delete(key);
  }

  /** Starts reconciles while there are keys, free workers and tokens; waits for the next token otherwise. */
  #pump(): void {
    while (this.running && this.#processing.size < this.#concurrency && this.#queuedKeys.size > 0) {
      if (this.#pumpTimer !== undefined) return;
      const wait = this.#bucket?.take(this.#clock.now()) ?? 0;
      if (wait > 0) {
        this.#pumpTimer = this.#clock.setTimeout(() => {
          this.#pumpTimer = undefined;
          this.#pump();
        }, wait);
        return;
      }
      const key = this.#dequeue();
      if (key === undefined) return;
      void this.#process(key, this.#signal!);
    }
  }

  async #process(key: K, signal: AbortSignal): Promise<void> {
    const inFlight: InFlight = { forgotten: false };
    this.#processing.set(key, inFlight);
    const began = this.#clock.now();
    let result: Result;
    try {
      result = checked(await this.#reconcile(key, signal));
    } catch (error) {
      result = { retry: error };
    }
    this.#processing.delete(key);
    if (!signal.aborted) {
      const outcome = this.#apply(key, result, inFlight.forgotten);
      this.#metrics.reconciled?.(key, outcome, this.#clock.now() - began);
      if (this.#again.delete(key)) this.add(key);
      this.#pump();
    } else if (this.#processing.size === 0 && this.#drained) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }

  #apply(key: K, result: Result, forgotten: boolean): Outcome {
    const outcome: Outcome =
      "done" in result
        ? "done"
        : "requeueAfter" in result
          ? "requeue"
          : "retry" in result
            ? "retry"
            : "terminal";
    if (forgotten) {
      this.#failures.delete(key);
      return outcome;
    }
    if ("retry" in result) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const delayMs = backoffDelay(failures, this.#backoff);
      this.#metrics.retried?.(key, failures, delayMs, result.retry);
      this.#log({
        level: failures > 1 ? "warn" : "info",
        msg: "reconcile failed; retrying",
        queue: this.name,
        key,
        failures,
        delayMs,
        error: describe(result.retry),
      });
      this.addAfter(key, delayMs);
      return outcome;
    }
    this.#failures.delete(key);
    if ("requeueAfter" in result) this.addAfter(key, result.requeueAfter);
    if ("terminal" in result)
      this.#log({
        level: "error",
        msg: "reconcile failed for good; not retried until the key changes",
        queue: this.name,
        key,
        error: describe(result.terminal),
      });
    return outcome;
  }

  #clear(): void {
    for (const waiting of this.#waiting.values()) this.#clock.clearTimeout(waiting.timer);
    this.#waiting.clear();
    if (this.#pumpTimer !== undefined) this.#clock.clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    this.#fifo = [];
    this.#head = 0;
    this.#queuedKeys.clear();
    this.#again.clear();
    this.#failures.clear();
    this.#metrics.depth?.(0);
  }
}

/** The delay after the `failures`th failure in a row: base·2^(failures−1), at most the cap. */
export function backoffDelay(failures: number, backoff: Backoff): number {
  return Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 52));
}

/** A reconciler that answers something other than a Result has a bug: counted as a retry with a clear error. */
function checked(result: unknown): Result {
  if (typeof result === "object" && result !== null) {
    if ("done" in result || "retry" in result || "terminal" in result) return result as Result;
    if ("requeueAfter" in result && typeof result.requeueAfter === "number" && result.requeueAfter >= 0)
      return result as Result;
  }
  throw new Error(`the reconciler returned ${JSON.stringify(result)}, not a Result`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
