/**
 * Bounded churn (issue 15, docs/multi-cluster-services.md): the writes into one consumer cluster are coalesced
 * and rate-limited, so that a storm of endpoint changes in one source cluster cannot flood the consumers' API
 * servers. Pure: time comes in as `now` (milliseconds), nothing waits; the caller asks again at `nextAt`.
 *
 * - **Coalescing**: the writes one import needs are offered as a whole, each time it changes (a fresh diff
 *   against what the consumer holds). A write offered for an object that already has one pending replaces it
 *   but keeps its place in time; a pending write the new diff no longer needs is dropped (its place in time is
 *   kept until it falls due, so a flickering object cannot postpone its write for ever). A write becomes due
 *   `coalesceMs` after it was first offered, so every change within that window costs one write per object.
 * - **Rate**: a token bucket per consumer, `writesPerSecond` with room for `burst`: in any span of T seconds
 *   the consumer gets at most `burst + writesPerSecond × T` writes, whatever the storm.
 * - **Order**: due writes go oldest first (then by key), so a quiet import waits behind at most what was due
 *   before it, never behind a storm's later changes.
 */

export interface ChurnPolicy {
  /** How long a change waits for the changes that follow it, in milliseconds. */
  coalesceMs: number;
  /** The steady rate of writes into one consumer cluster. */
  writesPerSecond: number;
  /** The most writes in a burst (the bucket's size). */
  burst: number;
}

/** 250 ms of coalescing, 20 writes a second, bursts of 50: within the 2 s export → import target. */
export const defaultChurnPolicy: ChurnPolicy = { coalesceMs: 250, writesPerSecond: 20, burst: 50 };

/** A write waiting for its turn: the object it concerns, and what to do (the caller's own shape). */
export interface OfferedWrite<W> {
  /** The object's identity (object-diff.ts, `objectKey`). */
  key: string;
  write: W;
}

interface Pending<W> {
  /** Absent when the write was withdrawn (the entry only remembers its place in time). */
  write?: W;
  group: string;
  dueAt: number;
}

/** Coalesces and rate-limits the writes into one consumer cluster (see the module comment). */
export class ConsumerWriteLimiter<W> {
  readonly #policy: ChurnPolicy;
  readonly #pending = new Map<string, Pending<W>>();
  #tokens: number;
  #refilledAt: number;

  constructor(policy: ChurnPolicy, now: number) {
    if (!(policy.writesPerSecond > 0) || !(policy.burst >= 1) || !(policy.coalesceMs >= 0))
      throw new RangeError(
        `a churn policy needs writesPerSecond > 0, burst ≥ 1 and coalesceMs ≥ 0 (got ${JSON.stringify(policy)})`,
      );
    this.#policy = policy;
    this.#tokens = policy.burst;
    this.#refilledAt = now;
  }

  /** Writes waiting, due or not. */
  get pending(): number {
    return [...this.#pending.values()].filter((p) => p.write !== undefined).length;
  }

  /**
   * The writes that import `group` needs now: they replace what was pending for it (keeping each object's
   * place in time); an empty list withdraws them all (the consumer already holds what it must).
   */
  offer(group: string, writes: ReadonlyArray<OfferedWrite<W>>, now: number): void {
    const offered = new Set(writes.map((w) => w.key));
    // A withdrawn write keeps its place in time until it falls due, so that an object flickering between
    // "needs a write" and "holds what it must" cannot push its write back for ever.
    for (const [key, p] of this.#pending)
      if (p.group === group && !offered.has(key)) this.#pending.set(key, { group, dueAt: p.dueAt });
    for (const { key, write } of writes) {
      const earlier = this.#pending.get(key);
      this.#pending.set(key, { write, group, dueAt: earlier?.dueAt ?? now + this.#policy.coalesceMs });
    }
  }

  /** The writes to make now (as many as the bucket allows, oldest first), and when to call again. */
  take(now: number): { writes: W[]; nextAt: number | undefined } {
    this.#refill(now);
    const due: Array<[string, W, number]> = [];
    for (const [key, p] of this.#pending) {
      if (p.dueAt > now) continue;
      if (p.write === undefined) this.#pending.delete(key);
      else due.push([key, p.write, p.dueAt]);
    }
    due.sort(([ka, , a], [kb, , b]) => a - b || (ka < kb ? -1 : ka > kb ? 1 : 0));
    const granted = due.slice(0, Math.floor(this.#tokens));
    this.#tokens -= granted.length;
    for (const [key] of granted) this.#pending.delete(key);
    return { writes: granted.map(([, write]) => write), nextAt: this.#nextAt(now) };
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#refilledAt);
    this.#tokens = Math.min(
      this.#policy.burst,
      this.#tokens + (elapsed * this.#policy.writesPerSecond) / 1000,
    );
    this.#refilledAt = Math.max(this.#refilledAt, now);
  }

  #nextAt(now: number): number | undefined {
    const waiting = [...this.#pending.values()].filter((p) => p.write !== undefined);
    if (waiting.length === 0) return undefined;
    const earliest = Math.min(...waiting.map((p) => p.dueAt));
    const tokenAt =
      this.#tokens >= 1 ? now : now + Math.ceil(((1 - this.#tokens) * 1000) / this.#policy.writesPerSecond);
    return Math.max(earliest, tokenAt);
  }
}
