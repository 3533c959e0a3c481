/**
 * Time for the runtime layer, injected: the manager's stop deadlines and the work queue's backoff, delays and
 * rate limit all read and wait through a `Clock`, so that tests drive them with `ManualClock` instead of
 * sleeping. `systemClock` is the real one.
 */

/** An opaque timer, as returned by `Clock.setTimeout`. */
export type TimerHandle = { readonly timer: unique symbol };

export interface Clock {
  /** Milliseconds since the epoch (or since the clock began, for a manual one). */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer that has not fired; a handle that has fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};

/**
 * A clock that runs `scale` times faster than `real` from the moment it is made: `now()` starts at the real time
 * and a timer of `ms` fires after `ms / scale` real milliseconds. For compressed-time runs of whole processes
 * (`UNITFLEET_METERING_TIME_SCALE=60` makes a metering hour pass in a real minute), never for production.
 */
export function scaledClock(scale: number, real: Clock = systemClock): Clock {
  if (!(scale >= 1) || !Number.isFinite(scale))
    throw new RangeError(`a clock's scale must be ≥ 1, got ${scale}`);
  const origin = real.now();
  return {
    now: () => origin + (real.now() - origin) * scale,
    setTimeout: (fn, ms) => real.setTimeout(fn, Math.max(0, ms) / scale),
    clearTimeout: (handle) => real.clearTimeout(handle),
  };
}

interface ManualTimer {
  due: number;
  /** Order of creation, so that timers due at the same time fire in the order they were set. */
  sequence: number;
  fn: () => void;
}

/**
 * A clock that moves only when told. `advance(ms)` fires every timer that falls due, in order of time, and
 * lets the promises they settle run between two timers (a timer set by one that fired is honoured if it falls
 * within the advance), so that async code waiting on timers behaves as it would in real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #sequence = 0;
  readonly #timers = new Map<number, ManualTimer>();

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const sequence = ++this.#sequence;
    this.#timers.set(sequence, { due: this.#now + Math.max(0, ms), sequence, fn });
    return sequence as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as unknown as number);
  }

  /** How many timers are set and not yet fired: 0 when everything that waited on this clock has let go. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing timers as they fall due and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (!next || next.due > target) break;
      this.#timers.delete(next.sequence);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  #earliest(): ManualTimer | undefined {
    let earliest: ManualTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (
        !earliest ||
        timer.due < earliest.due ||
        (timer.due === earliest.due && timer.sequence < earliest.sequence)
      )
        earliest = timer;
    }
    return earliest;
  }
}

/** Lets every promise chain that can move on now do so (a macrotask turn runs all pending microtasks). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
