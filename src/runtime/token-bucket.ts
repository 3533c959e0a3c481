/**
 * An overall rate limit as a token bucket: `burst` tokens at most, refilled at `perSecond`; each reconcile
 * takes one. Time comes in as an argument, so the bucket is pure.
 */

export interface RateLimit {
  /** Tokens added per second (the sustained rate of reconciles). */
  perSecond: number;
  /** Tokens the bucket holds at most (how many reconciles may start at once after a quiet time). */
  burst: number;
}

export class TokenBucket {
  readonly #limit: RateLimit;
  #tokens: number;
  #at: number;

  constructor(limit: RateLimit, now: number) {
    if (!(limit.perSecond > 0))
      throw new Error(`rateLimit.perSecond: must be above 0, got ${limit.perSecond}`);
    if (!(limit.burst >= 1)) throw new Error(`rateLimit.burst: must be 1 or more, got ${limit.burst}`);
    this.#limit = limit;
    this.#tokens = limit.burst;
    this.#at = now;
  }

  /** Takes a token if there is one and returns 0; otherwise returns how many ms until there is one. */
  take(now: number): number {
    const elapsed = Math.max(0, now - this.#at);
    this.#tokens = Math.min(this.#limit.burst, this.#tokens + (elapsed * this.#limit.perSecond) / 1000);
    this.#at = now;
    // A hair under one counts as one, so that rounding in the refill never costs a whole extra wait.
    if (this.#tokens >= 1 - 1e-9) {
      this.#tokens = Math.max(0, this.#tokens - 1);
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) * 1000) / this.#limit.perSecond);
  }
}
