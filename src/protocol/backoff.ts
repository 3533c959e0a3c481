/**
 * When to reconnect. Exponential backoff with full jitter spreads clients out; a `goaway` from the hub names
 * the delay itself (the hub spreads clients over a window when it restarts), and wins over the backoff.
 */

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

/** The delay before attempt `attempt` (0 for the first retry): uniform in [0, min(max, base·2^attempt)]. */
export function reconnectDelay(
  attempt: number,
  random: () => number,
  policy: BackoffPolicy = defaultBackoff,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The delays a hub hands out in `goaway` when it stops: clients are spread evenly over `windowMs`, so that the
 * hub (or its replacement) sees a steady trickle of reconnections instead of all of them at once.
 */
export function spreadRetries(clients: number, windowMs: number, random: () => number): number[] {
  const slot = windowMs / Math.max(clients, 1);
  return Array.from({ length: clients }, (_, i) => Math.floor(i * slot + random() * slot));
}
