/**
 * A long-lived part of a process (a server, a controller, a feed, a work queue) as the manager sees it: one
 * `start(signal)` that runs until the signal aborts, and the names of the parts it needs running first
 * (docs/adr/0017).
 */

export interface Runnable {
  /** Unique within a manager; used in logs, in errors and in `dependsOn`. */
  name: string;
  /** Runnables that must have started before this one starts, and that stop only after it has stopped. */
  dependsOn?: string[];
  /** Runs only while this replica holds the leader lease; stopped when it is lost, started again when regained. */
  leaderOnly?: boolean;
  /**
   * When true, the runnable counts as started only once it calls the `ready` given to `start` (or once `start`
   * resolves), so that its dependents wait until it can serve them (a cache filled, a port bound). When absent,
   * it counts as started as soon as `start` has been called.
   */
  reportsReady?: boolean;
  /**
   * Runs until `signal` aborts, or returns earlier when its work is done (a run-once step such as migrations,
   * with `reportsReady`, counts as started when it returns). It must resolve only after it has released everything it holds
   * (timers, sockets, handles). Rejecting while the manager runs stops the whole manager.
   */
  start(signal: AbortSignal, ready: () => void): Promise<void>;
}

/** Writes one structured log entry (`level`, `msg` and fields), as the hub, relay and agent do. */
export type Log = (entry: Record<string, unknown>) => void;
