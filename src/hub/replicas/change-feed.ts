/**
 * Wakes watches when the store changes. One LISTEN per hub process; every watch waits on it. A change made
 * through another replica arrives by NOTIFY on the shared PostgreSQL; a periodic wake-up covers a lost
 * notification (e.g. while the listening connection was being re-established).
 */
import type { ResourceStore } from "../../store/resource-store.ts";

export class ChangeFeed {
  private latest = 0n;
  private waiters = new Set<() => void>();
  private stop: (() => Promise<void>) | undefined;
  private readonly pollMs: number;

  constructor(pollMs = 5000) {
    this.pollMs = pollMs;
  }

  async start(store: ResourceStore): Promise<void> {
    this.stop = await store.subscribe((rv) => {
      const version = BigInt(rv || "0");
      if (version > this.latest) this.latest = version;
      this.wakeAll();
    });
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

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  async close(): Promise<void> {
    this.wakeAll();
    await this.stop?.();
  }
}
