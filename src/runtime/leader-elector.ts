/**
 * Leader election as the manager sees it: something that tells, while it runs, whether this replica holds the
 * one lease under which the leader-only runnables of a process run. `alwaysLeader` is the elector of a process
 * that is alone (an agent, a relay, a hub with one replica); `src/hub/replicas/lease-elector.ts` holds the database lease.
 */

export interface LeaderElector {
  /**
   * Runs until `signal` aborts, calling `onChange(true)` when this replica gains the lease and
   * `onChange(false)` when it loses it (only on changes). Resolves after the lease has been released and
   * everything the elector holds let go.
   */
  run(signal: AbortSignal, onChange: (held: boolean) => void): Promise<void>;
}

/** Holds the lease from the start until stopped. */
export const alwaysLeader: LeaderElector = {
  run(signal, onChange) {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      onChange(true);
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  },
};
