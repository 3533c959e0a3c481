/**
 * The manager runs a process's runnables as one: it starts them in the order their dependencies give (a
 * runnable starts once those it depends on have started), stops them in the reverse order (dependents first,
 * each given a deadline after which it is reported stuck and the stop goes on), runs the leader-only ones only
 * while this replica holds its one lease, and stops everything when one of them fails (docs/adr/0017).
 *
 * Signals form one tree: the manager's root signal, under it one signal per start of a runnable and one for
 * the leader elector. Stopping aborts the runnables' signals one by one in order, then the elector's, then the
 * root.
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { alwaysLeader, type LeaderElector } from "./leader-elector.ts";
import type { Log, Runnable } from "./runnable.ts";

export interface ManagerOptions {
  log: Log;
  clock?: Clock;
  /** Tells whether this replica holds the lease for the leader-only runnables; `alwaysLeader` when absent. */
  elector?: LeaderElector;
  /** How long each runnable (and the elector) has to resolve after its signal aborts; 10 s when absent. */
  stopDeadlineMs?: number;
}

/** How a manager ended. */
export interface ManagerOutcome {
  /** The runnable (or `leader-election`) whose failure stopped the manager, if one did. */
  failure?: { runnable: string; error: unknown };
  /** Runnables (and `leader-election`) that had not resolved by their stop deadline, in the order found. */
  stuck: string[];
}

/** The name the leader elector goes by in `ManagerOutcome`. */
export const leaderElection = "leader-election";

type Phase = "new" | "running" | "stopping" | "stopped";

/**
 * `idle`: not running (never started, or stopped). `starting`: started, not yet ready. `ready`: started.
 * `finished`: returned by itself (counts as started). `stopping`: aborted, not yet resolved. `stuck`: aborted
 * and past its deadline.
 */
type State = "idle" | "starting" | "ready" | "finished" | "stopping" | "stuck";

interface Entry {
  runnable: Runnable;
  state: State;
  dependencies: Entry[];
  dependents: Entry[];
  controller?: AbortController;
  deadline?: TimerHandle;
}

export class Manager {
  readonly #log: Log;
  readonly #clock: Clock;
  readonly #elector: LeaderElector;
  readonly #stopDeadlineMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Entries in an order where every one comes after its dependencies (set by `start`). */
  #ordered: Entry[] = [];
  #phase: Phase = "new";
  #leader = false;
  readonly #root = new AbortController();
  readonly #stuck: string[] = [];
  #failure: ManagerOutcome["failure"];
  #electorStop?: () => Promise<void>;
  #finish!: (outcome: ManagerOutcome) => void;
  #started?: { resolve: () => void; reject: (error: Error) => void };

  /** Resolves once the manager has stopped (by `stop()`, by its start signal, or by a failure). */
  readonly done: Promise<ManagerOutcome>;

  constructor(options: ManagerOptions) {
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#elector = options.elector ?? alwaysLeader;
    this.#stopDeadlineMs = options.stopDeadlineMs ?? 10_000;
    this.done = new Promise((resolve) => {
      this.#finish = resolve;
    });
  }

  /** Adds a runnable; only before `start`, and under a name not taken. */
  add(runnable: Runnable): void {
    if (this.#phase !== "new")
      throw new Error(`cannot add runnable "${runnable.name}": the manager has started`);
    if (this.#entries.has(runnable.name))
      throw new Error(`a runnable named "${runnable.name}" is already added`);
    this.#entries.set(runnable.name, { runnable, state: "idle", dependencies: [], dependents: [] });
  }

  /**
   * Checks the dependencies (unknown names, cycles, a runnable of every replica depending on a leader-only one
   * are refused, all named), then starts the runnables in order. Resolves once every runnable that is not
   * leader-only has started; rejects if the manager stops before that. Aborting `signal` stops the manager as
   * `stop()` does.
   */
  start(signal?: AbortSignal): Promise<void> {
    if (this.#phase !== "new") return Promise.reject(new Error("the manager has already been started"));
    try {
      this.#ordered = this.#order();
    } catch (error) {
      return Promise.reject(error);
    }
    this.#phase = "running";
    const started = new Promise<void>((resolve, reject) => {
      this.#started = { resolve, reject };
    });
    if (signal) {
      const onAbort = () => void this.stop();
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        void this.done.then(() => signal.removeEventListener("abort", onAbort));
      }
    }
    if (this.#phase === "running") {
      if (this.#ordered.some((entry) => entry.runnable.leaderOnly)) this.#runElector();
      this.#converge();
    }
    return started;
  }

  /** Stops every runnable in reverse dependency order, then the elector; resolves as `done` does. */
  stop(): Promise<ManagerOutcome> {
    if (this.#phase === "new") {
      this.#phase = "stopped";
      this.#root.abort();
      this.#finish({ stuck: [] });
    } else if (this.#phase === "running") {
      this.#phase = "stopping";
      this.#converge();
    }
    return this.done;
  }

  /** Whether this replica holds the lease now (always false before the elector first says so). */
  get leader(): boolean {
    return this.#leader;
  }

  #order(): Entry[] {
    const problems: string[] = [];
    for (const entry of this.#entries.values()) {
      for (const name of entry.runnable.dependsOn ?? []) {
        const dependency = this.#entries.get(name);
        if (!dependency) {
          problems.push(`"${entry.runnable.name}" depends on "${name}", which is not added`);
          continue;
        }
        if (dependency.runnable.leaderOnly && !entry.runnable.leaderOnly)
          problems.push(
            `"${entry.runnable.name}" runs on every replica but depends on "${name}", which runs only on the leader`,
          );
        entry.dependencies.push(dependency);
        dependency.dependents.push(entry);
      }
    }
    // Kahn's algorithm, in the order the runnables were added where the dependencies leave a choice.
    const ordered: Entry[] = [];
    const remaining = new Map([...this.#entries.values()].map((entry) => [entry, entry.dependencies.length]));
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (const [entry, count] of remaining) {
        if (count > 0) continue;
        ordered.push(entry);
        remaining.delete(entry);
        for (const dependent of entry.dependents) remaining.set(dependent, remaining.get(dependent)! - 1);
        progressed = true;
        break;
      }
    }
    if (remaining.size > 0) problems.push(`dependency cycle: ${this.#cycle([...remaining.keys()])}`);
    if (problems.length > 0) throw new Error(`cannot start the manager: ${problems.join("; ")}`);
    return ordered;
  }

  /** One cycle among entries that all lie on or behind a cycle, written as "a → b → a". */
  #cycle(blocked: Entry[]): string {
    const inBlocked = new Set(blocked);
    const path: Entry[] = [];
    let entry = blocked[0]!;
    while (!path.includes(entry)) {
      path.push(entry);
      entry = entry.dependencies.find((dependency) => inBlocked.has(dependency))!;
    }
    const loop = path.slice(path.indexOf(entry));
    return [...loop, entry].map((e) => e.runnable.name).join(" → ");
  }

  #wanted(entry: Entry): boolean {
    return this.#phase === "running" && (!entry.runnable.leaderOnly || this.#leader);
  }

  /** Starts what should run and can, stops what should not and may: called on every change of state. */
  #converge(): void {
    for (const entry of this.#ordered) {
      if (this.#phase !== "running") break;
      if (entry.state !== "idle" || !this.#wanted(entry)) continue;
      if (entry.dependencies.every((d) => d.state === "ready" || d.state === "finished")) this.#launch(entry);
    }
    for (const entry of [...this.#ordered].reverse()) {
      if (this.#wanted(entry)) continue;
      if (entry.state !== "starting" && entry.state !== "ready" && entry.state !== "finished") continue;
      if (!entry.dependents.every((d) => d.state === "idle" || d.state === "stuck")) continue;
      if (entry.state === "finished") entry.state = "idle";
      else this.#abort(entry);
    }
    this.#checkStarted();
    this.#checkStopped();
  }

  #launch(entry: Entry): void {
    const { runnable } = entry;
    const controller = new AbortController();
    const forward = () => controller.abort(this.#root.signal.reason);
    this.#root.signal.addEventListener("abort", forward, { once: true });
    entry.controller = controller;
    entry.state = runnable.reportsReady ? "starting" : "ready";
    this.#log({ level: "debug", msg: "starting runnable", runnable: runnable.name });
    const ready = () => {
      if (entry.controller !== controller || entry.state !== "starting") return;
      entry.state = "ready";
      this.#converge();
    };
    let running: Promise<void>;
    try {
      running = Promise.resolve(runnable.start(controller.signal, ready));
    } catch (error) {
      running = Promise.reject(error);
    }
    const settled = (failed: boolean, error: unknown) => {
      this.#root.signal.removeEventListener("abort", forward);
      this.#settled(entry, controller, failed, error);
    };
    running.then(
      () => settled(false, undefined),
      (error: unknown) => settled(true, error),
    );
  }

  #settled(entry: Entry, controller: AbortController, failed: boolean, error: unknown): void {
    if (entry.deadline !== undefined) this.#clock.clearTimeout(entry.deadline);
    entry.deadline = undefined;
    const name = entry.runnable.name;
    const aborted = controller.signal.aborted;
    if (entry.state === "stuck")
      this.#log({ level: "warn", msg: "stuck runnable stopped late", runnable: name });
    if (failed) {
      if (!aborted && this.#phase === "running") {
        this.#failure = { runnable: name, error };
        this.#log({
          level: "error",
          msg: "runnable failed; stopping all",
          runnable: name,
          error: describe(error),
        });
        this.#phase = "stopping";
      } else {
        this.#log({
          level: "warn",
          msg: "runnable failed while stopping",
          runnable: name,
          error: describe(error),
        });
      }
    }
    entry.controller = undefined;
    entry.state = aborted || failed ? "idle" : "finished";
    this.#converge();
  }

  #abort(entry: Entry): void {
    const controller = entry.controller!;
    entry.state = "stopping";
    this.#log({ level: "debug", msg: "stopping runnable", runnable: entry.runnable.name });
    entry.deadline = this.#clock.setTimeout(() => {
      entry.deadline = undefined;
      if (entry.controller !== controller || entry.state !== "stopping") return;
      entry.state = "stuck";
      this.#stuck.push(entry.runnable.name);
      this.#log({
        level: "error",
        msg: "runnable did not stop within its deadline; going on without it",
        runnable: entry.runnable.name,
        deadlineMs: this.#stopDeadlineMs,
      });
      this.#converge();
    }, this.#stopDeadlineMs);
    controller.abort();
  }

  #runElector(): void {
    const controller = new AbortController();
    let running: Promise<void>;
    const onChange = (held: boolean) => {
      if (this.#phase !== "running" || held === this.#leader) return;
      this.#leader = held;
      this.#log({ level: "info", msg: held ? "leader lease gained" : "leader lease lost" });
      this.#converge();
    };
    try {
      running = Promise.resolve(this.#elector.run(controller.signal, onChange));
    } catch (error) {
      running = Promise.reject(error);
    }
    let settled = false;
    const fail = (error: unknown) => {
      settled = true;
      if (controller.signal.aborted || this.#phase !== "running") return;
      this.#failure = { runnable: leaderElection, error };
      this.#log({ level: "error", msg: "leader election failed; stopping all", error: describe(error) });
      this.#phase = "stopping";
      this.#converge();
    };
    running.then(() => fail(new Error("the leader elector returned while the manager ran")), fail);
    this.#electorStop = () =>
      new Promise<void>((resolve) => {
        if (settled) return resolve();
        const deadline = this.#clock.setTimeout(() => {
          this.#stuck.push(leaderElection);
          this.#log({ level: "error", msg: "leader elector did not stop within its deadline" });
          resolve();
        }, this.#stopDeadlineMs);
        void running
          .catch(() => {})
          .finally(() => {
            this.#clock.clearTimeout(deadline);
            resolve();
          });
        controller.abort();
      });
  }

  #checkStarted(): void {
    if (!this.#started) return;
    if (this.#phase !== "running") {
      const reason = this.#failure
        ? `"${this.#failure.runnable}" failed: ${describe(this.#failure.error)}`
        : "it was stopped";
      this.#started.reject(new Error(`the manager stopped before every runnable had started: ${reason}`));
      this.#started = undefined;
      return;
    }
    const pending = this.#ordered.some(
      (entry) => !entry.runnable.leaderOnly && entry.state !== "ready" && entry.state !== "finished",
    );
    if (pending) return;
    this.#started.resolve();
    this.#started = undefined;
  }

  #checkStopped(): void {
    if (this.#phase !== "stopping") return;
    if (!this.#ordered.every((entry) => entry.state === "idle" || entry.state === "stuck")) return;
    this.#phase = "stopped";
    this.#leader = false;
    const electorStopped = this.#electorStop?.() ?? Promise.resolve();
    void electorStopped.then(() => {
      this.#root.abort();
      this.#finish({ ...(this.#failure ? { failure: this.#failure } : {}), stuck: [...this.#stuck] });
    });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
