/**
 * Ordering and resumption within a session. Each direction numbers its messages 1, 2, 3… Received messages
 * are accepted in order only; a repeat (after a reconnect, the peer resends what it had not seen acknowledged)
 * is recognised and dropped, so nothing runs twice; a gap means frames were lost and the session restarts
 * from the last acknowledged number.
 */

export type SequenceVerdict = "accept" | "duplicate" | "gap";

export class InboundSequence {
  private last: number;

  /** `resumeFrom`: the last sequence number handled in an earlier session (0 for a new one). */
  constructor(resumeFrom = 0) {
    this.last = resumeFrom;
  }

  check(seq: number): SequenceVerdict {
    if (seq <= this.last) return "duplicate";
    if (seq !== this.last + 1) return "gap";
    this.last = seq;
    return "accept";
  }

  /** The highest sequence number handled: what an `ack` reports and a `hello` resumes from. */
  get handled(): number {
    return this.last;
  }
}

/**
 * What a sender keeps until the peer acknowledges it: on reconnect, everything after the peer's `resumeFrom`
 * is sent again, in order, with its original sequence number.
 */
export class OutboundLog<T> {
  private next = 1;
  private readonly pending: Array<{ seq: number; item: T }> = [];
  private readonly limit: number;

  constructor(limit = 10_000) {
    this.limit = limit;
  }

  /** Numbers an outgoing item and keeps it until acknowledged. Returns its sequence number. */
  record(item: T): number {
    const seq = this.next++;
    this.pending.push({ seq, item });
    if (this.pending.length > this.limit) this.pending.shift();
    return seq;
  }

  /** Forgets everything up to `upTo`: the peer has it. */
  acknowledge(upTo: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= upTo) this.pending.shift();
  }

  /** What to resend after the peer says it handled everything up to `resumeFrom`; undefined if lost. */
  replayAfter(resumeFrom: number): Array<{ seq: number; item: T }> | undefined {
    const first = this.pending[0];
    if (first && first.seq > resumeFrom + 1) return undefined;
    if (!first && resumeFrom + 1 < this.next) return undefined;
    return this.pending.filter((p) => p.seq > resumeFrom);
  }

  get unacknowledged(): number {
    return this.pending.length;
  }
}

/**
 * Commands run at most once per idempotency key: the outcome of a key is remembered (for `ttlMs`) and
 * returned again if the same command arrives again, e.g. resent after a reconnect or through another replica.
 * A key that arrives again while its first run is still going waits for that run: it never starts a second.
 */
export class IdempotencyCache<R> {
  private readonly entries = new Map<string, { result: Promise<R>; at: number }>();
  private readonly ttlMs: number;

  constructor(ttlMs = 10 * 60_000) {
    this.ttlMs = ttlMs;
  }

  /** Runs `work` for a new key; for a known key returns the remembered result without running anything. */
  async once(key: string, now: number, work: () => Promise<R>): Promise<{ result: R; replayed: boolean }> {
    for (const [k, e] of this.entries) if (now - e.at > this.ttlMs) this.entries.delete(k);
    const known = this.entries.get(key);
    if (known) return { result: await known.result, replayed: true };
    const result = work();
    this.entries.set(key, { result, at: now });
    return { result: await result, replayed: false };
  }

  get size(): number {
    return this.entries.size;
  }
}
