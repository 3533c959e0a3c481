/**
 * The manager on a manual clock with runnables that record what happens to them: start and stop order from
 * dependencies, stop deadlines, fail-fast, and leader-only runnables following a lease that flips.
 */
import { describe, expect, it } from "vitest";
import { ManualClock, settle } from "./clock.ts";
import type { LeaderElector } from "./leader-elector.ts";
import { leaderElection, Manager } from "./manager.ts";
import type { Log, Runnable } from "./runnable.ts";

interface Probe extends Runnable {
  /** Says the runnable is ready (for those with `reportsReady`). */
  ready(): void;
  /** Makes its `start` reject now. */
  fail(error: Error): void;
  running: boolean;
}

interface ProbeOptions {
  dependsOn?: string[];
  leaderOnly?: boolean;
  reportsReady?: boolean;
  /** How long it takes to let go after its signal aborts (on the manual clock). */
  stopTakesMs?: number;
  /** Never resolves after its signal aborts. */
  ignoresAbort?: boolean;
  /** Returns by itself this long after it starts (a run-once step). */
  returnsAfterMs?: number;
}

function setup(options: { stopDeadlineMs?: number; elector?: LeaderElector } = {}) {
  const clock = new ManualClock();
  const events: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const log: Log = (entry) => logs.push(entry);
  const manager = new Manager({ log, clock, stopDeadlineMs: options.stopDeadlineMs ?? 1_000, ...options });
  const probe = (name: string, probeOptions: ProbeOptions = {}): Probe => {
    let readyNow = () => {};
    let failNow = (_error: Error) => {};
    const runnable: Probe = {
      name,
      ...(probeOptions.dependsOn ? { dependsOn: probeOptions.dependsOn } : {}),
      ...(probeOptions.leaderOnly ? { leaderOnly: true } : {}),
      ...(probeOptions.reportsReady ? { reportsReady: true } : {}),
      running: false,
      ready: () => readyNow(),
      fail: (error) => failNow(error),
      start(signal, ready) {
        events.push(`start ${name}`);
        runnable.running = true;
        readyNow = ready;
        return new Promise<void>((resolve, reject) => {
          const end = () => {
            runnable.running = false;
            resolve();
          };
          failNow = (error) => {
            events.push(`fail ${name}`);
            runnable.running = false;
            reject(error);
          };
          if (probeOptions.returnsAfterMs !== undefined)
            clock.setTimeout(() => {
              events.push(`return ${name}`);
              end();
            }, probeOptions.returnsAfterMs);
          signal.addEventListener("abort", () => {
            events.push(`abort ${name}`);
            if (probeOptions.ignoresAbort) return;
            clock.setTimeout(() => {
              events.push(`stopped ${name}`);
              end();
            }, probeOptions.stopTakesMs ?? 0);
          });
        });
      },
    };
    manager.add(runnable);
    return runnable;
  };
  return { clock, events, logs, manager, probe };
}

/** An elector the test flips by hand; records when it is stopped. */
function handElector(events: string[]) {
  let change: (held: boolean) => void = () => {};
  const elector: LeaderElector = {
    run(signal, onChange) {
      change = onChange;
      return new Promise((resolve) =>
        signal.addEventListener("abort", () => {
          events.push("release lease");
          resolve();
        }),
      );
    },
  };
  return { elector, flip: (held: boolean) => change(held) };
}

describe("Manager", () => {
  it("starts a runnable only after those it depends on have started, and stops dependents first", async () => {
    const { clock, events, manager, probe } = setup();
    // Added in the wrong order on purpose: the dependencies decide.
    probe("api", { dependsOn: ["cache"], stopTakesMs: 30 });
    const cache = probe("cache", { dependsOn: ["store"], reportsReady: true, stopTakesMs: 20 });
    probe("store", { stopTakesMs: 10 });
    const started = manager.start();
    await settle();
    expect(events).toEqual(["start store", "start cache"]);
    await clock.advance(5_000);
    expect(events).toEqual(["start store", "start cache"]); // the cache has not said it is ready
    cache.ready();
    await started;
    expect(events).toEqual(["start store", "start cache", "start api"]);

    events.length = 0;
    const stopping = manager.stop();
    await clock.advance(100);
    expect(await stopping).toEqual({ stuck: [] });
    expect(events).toEqual([
      "abort api",
      "stopped api",
      "abort cache",
      "stopped cache",
      "abort store",
      "stopped store",
    ]);
  });

  it("counts a runnable that returned by itself as started (a run-once step such as migrations)", async () => {
    const { clock, events, manager, probe } = setup();
    probe("migrations", { returnsAfterMs: 50, reportsReady: true });
    probe("api", { dependsOn: ["migrations"] });
    const started = manager.start();
    await clock.advance(49);
    expect(events).toEqual(["start migrations"]);
    await clock.advance(1);
    await started;
    expect(events).toEqual(["start migrations", "return migrations", "start api"]);
    const stopping = manager.stop();
    await clock.advance(10);
    await stopping;
    // The step that returned holds nothing: only the api is aborted.
    expect(events.slice(3)).toEqual(["abort api", "stopped api"]);
  });

  it("reports a runnable that does not stop within its deadline as stuck, and goes on stopping the rest", async () => {
    const { clock, events, logs, manager, probe } = setup({ stopDeadlineMs: 1_000 });
    probe("store", { stopTakesMs: 0 });
    probe("feed", { dependsOn: ["store"], ignoresAbort: true });
    await manager.start();
    let outcome: unknown;
    void manager.stop().then((o) => {
      outcome = o;
    });
    await clock.advance(999);
    expect(outcome).toBeUndefined();
    expect(events).toEqual(["start store", "start feed", "abort feed"]); // the store waits for its dependent
    await clock.advance(1);
    expect(outcome).toEqual({ stuck: ["feed"] });
    expect(events.slice(-2)).toEqual(["abort store", "stopped store"]);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", runnable: "feed", deadlineMs: 1_000 }),
    );
  });

  it("stops everything when one runnable fails, and says which and why in `done`", async () => {
    const { clock, events, logs, manager, probe } = setup();
    probe("store", { stopTakesMs: 10 });
    const feed = probe("feed", { dependsOn: ["store"], stopTakesMs: 10 });
    probe("api", { dependsOn: ["store"], stopTakesMs: 10 });
    await manager.start();
    const failure = new Error("watch ended");
    feed.fail(failure);
    await clock.advance(100);
    expect(await manager.done).toEqual({ failure: { runnable: "feed", error: failure }, stuck: [] });
    expect(events.slice(3)).toEqual([
      "fail feed",
      "abort api",
      "stopped api",
      "abort store",
      "stopped store",
    ]);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", runnable: "feed", error: "watch ended" }),
    );
  });

  it("rejects start when a runnable fails before every runnable has started", async () => {
    const { clock, manager, probe } = setup();
    const cache = probe("cache", { reportsReady: true });
    probe("api", { dependsOn: ["cache"] });
    const started = manager.start();
    cache.fail(new Error("cannot list"));
    await expect(started).rejects.toThrow(
      'the manager stopped before every runnable had started: "cache" failed',
    );
    await clock.advance(10);
    expect((await manager.done).failure?.runnable).toBe("cache");
  });

  it("refuses unknown dependencies, cycles, and a runnable of every replica depending on a leader-only one", async () => {
    const { manager, probe } = setup();
    probe("a", { dependsOn: ["b"] });
    probe("b", { dependsOn: ["c"] });
    probe("c", { dependsOn: ["a"] });
    probe("d", { dependsOn: ["nowhere"] });
    probe("e", { leaderOnly: true });
    probe("f", { dependsOn: ["e"] });
    await expect(manager.start()).rejects.toThrow(
      'cannot start the manager: "d" depends on "nowhere", which is not added; ' +
        '"f" runs on every replica but depends on "e", which runs only on the leader; ' +
        "dependency cycle: a → b → c → a",
    );
    expect(() => probe("a")).toThrow('a runnable named "a" is already added');
  });

  it("runs leader-only runnables only while the lease is held: stopped in order when lost, started again", async () => {
    const events: string[] = [];
    const { elector, flip } = handElector(events);
    const { clock, events: recorded, manager, probe } = setup({ elector });
    probe("store");
    probe("health", { leaderOnly: true, dependsOn: ["store"], stopTakesMs: 10 });
    probe("compaction", { leaderOnly: true, dependsOn: ["health"], stopTakesMs: 10 });
    await manager.start();
    expect(recorded).toEqual(["start store"]);
    expect(manager.leader).toBe(false);

    flip(true);
    await settle();
    expect(recorded).toEqual(["start store", "start health", "start compaction"]);

    recorded.length = 0;
    flip(false);
    await clock.advance(100);
    expect(recorded).toEqual(["abort compaction", "stopped compaction", "abort health", "stopped health"]);

    recorded.length = 0;
    flip(true);
    await settle();
    expect(recorded).toEqual(["start health", "start compaction"]);

    recorded.length = 0;
    const stopping = manager.stop();
    await clock.advance(100);
    await stopping;
    // The lease is let go only after the work under it has stopped.
    expect([...recorded, ...events]).toEqual([
      "abort compaction",
      "stopped compaction",
      "abort health",
      "stopped health",
      "abort store",
      "stopped store",
      "release lease",
    ]);
  });

  it("does not start a leader-only runnable again while its previous run is still stopping", async () => {
    const events: string[] = [];
    const { elector, flip } = handElector(events);
    const { clock, events: recorded, manager, probe } = setup({ elector, stopDeadlineMs: 10_000 });
    probe("singleton", { leaderOnly: true, stopTakesMs: 500 });
    await manager.start();
    flip(true);
    await settle();
    flip(false);
    await clock.advance(100);
    flip(true);
    await clock.advance(100);
    expect(recorded).toEqual(["start singleton", "abort singleton"]);
    await clock.advance(300);
    expect(recorded).toEqual(["start singleton", "abort singleton", "stopped singleton", "start singleton"]);
    void manager.stop();
    await clock.advance(1_000);
    expect((await manager.done).stuck).toEqual([]);
  });

  it("stops when the signal given to start aborts, and reports an elector that does not stop", async () => {
    const stubborn: LeaderElector = {
      run: (_signal, onChange) => {
        onChange(true);
        return new Promise(() => {});
      },
    };
    const { clock, manager, probe } = setup({ elector: stubborn, stopDeadlineMs: 200 });
    const singleton = probe("singleton", { leaderOnly: true });
    const controller = new AbortController();
    await manager.start(controller.signal);
    await settle();
    expect(singleton.running).toBe(true);
    controller.abort();
    await clock.advance(200);
    expect(await manager.done).toEqual({ stuck: [leaderElection] });
    expect(singleton.running).toBe(false);
  });

  it("leaves no timer behind once stopped", async () => {
    const { clock, manager, probe } = setup();
    probe("a", { stopTakesMs: 5 });
    probe("b", { dependsOn: ["a"], stopTakesMs: 5 });
    await manager.start();
    const stopping = manager.stop();
    await clock.advance(10);
    await stopping;
    expect(clock.pendingTimers).toBe(0);
  });
});
