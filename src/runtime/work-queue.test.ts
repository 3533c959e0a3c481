/**
 * The keyed work queue on a manual clock: de-duplication, one reconcile of a key at a time, backoff, requeue,
 * the rate limit, forget, bounded state, stop; and a property test over random adds, results and time.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock, settle } from "./clock.ts";
import type { LeaderElector } from "./leader-elector.ts";
import { Manager } from "./manager.ts";
import {
  backoffDelay,
  type Reconciler,
  type Result,
  WorkQueue,
  type WorkQueueOptions,
} from "./work-queue.ts";

const done: Result = { done: true };

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A running queue over `reconcile`, recording each reconcile's key and start time. */
function running(reconcile: Reconciler<string>, options: Partial<WorkQueueOptions<string>> = {}) {
  const clock = new ManualClock();
  const calls: { key: string; at: number }[] = [];
  const queue = new WorkQueue<string>({
    name: "test",
    clock,
    ...options,
    reconcile: (key, signal) => {
      calls.push({ key, at: clock.now() });
      return reconcile(key, signal);
    },
  });
  const controller = new AbortController();
  const stopped = queue.start(controller.signal);
  const stop = () => {
    controller.abort();
    return stopped;
  };
  return { clock, calls, queue, stop, stopped };
}

describe("WorkQueue", () => {
  it("processes a key added several times while queued once", async () => {
    const gate = deferred<Result>();
    const { calls, queue } = running((key) => (key === "first" ? gate.promise : Promise.resolve(done)));
    queue.add("first"); // holds the only worker
    queue.add("app");
    queue.add("app");
    queue.add("app");
    expect(queue.state().queued).toBe(1);
    gate.resolve(done);
    await settle();
    expect(calls.map((c) => c.key)).toEqual(["first", "app"]);
  });

  it("never reconciles a key twice at once; a key added while processed is processed again after", async () => {
    const gates: ReturnType<typeof deferred<Result>>[] = [];
    let active = 0;
    let most = 0;
    const { calls, queue } = running(
      async () => {
        active++;
        most = Math.max(most, active);
        const gate = deferred<Result>();
        gates.push(gate);
        const result = await gate.promise;
        active--;
        return result;
      },
      { concurrency: 4 },
    );
    queue.add("app");
    await settle();
    queue.add("app");
    queue.add("app");
    await settle();
    expect(calls).toHaveLength(1); // four workers, but the key is being processed
    gates[0]!.resolve(done);
    await settle();
    expect(calls).toHaveLength(2);
    gates[1]!.resolve(done);
    await settle();
    expect(calls).toHaveLength(2);
    expect(most).toBe(1);
    expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
  });

  it("backs a failing key off exponentially up to the cap, and starts again from the base after done", async () => {
    let failing = true;
    const { clock, calls, queue } = running(
      () => (failing ? Promise.reject(new Error("apiserver unavailable")) : Promise.resolve(done)),
      { backoff: { baseMs: 100, capMs: 1_000 } },
    );
    queue.add("app");
    await clock.advance(4_000);
    // Delays 100, 200, 400, 800, then the cap of 1000.
    expect(calls.map((c) => c.at)).toEqual([0, 100, 300, 700, 1_500, 2_500, 3_500]);
    failing = false;
    await clock.advance(1_000);
    expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
    failing = true;
    calls.length = 0;
    queue.add("app");
    await clock.advance(350);
    expect(calls.map((c) => c.at)).toEqual([5_000, 5_100, 5_300]);
  });

  it("computes the backoff without overflow for very many failures", () => {
    expect(backoffDelay(1, { baseMs: 5, capMs: 60_000 })).toBe(5);
    expect(backoffDelay(5, { baseMs: 5, capMs: 60_000 })).toBe(80);
    expect(backoffDelay(10_000, { baseMs: 5, capMs: 60_000 })).toBe(60_000);
  });

  it("reconciles a key again after requeueAfter, and an add in between comes first", async () => {
    const { clock, calls, queue } = running(async () => ({ requeueAfter: 500 }));
    queue.add("app");
    await clock.advance(1_100);
    expect(calls.map((c) => c.at)).toEqual([0, 500, 1_000]);
    await clock.advance(100); // t = 1200: the next is due at 1500
    queue.add("app");
    await settle();
    expect(calls.map((c) => c.at)).toEqual([0, 500, 1_000, 1_200]);
    await clock.advance(499);
    expect(calls).toHaveLength(4); // the wait was replaced by the add: next at 1700
    await clock.advance(1);
    expect(calls).toHaveLength(5);
  });

  it("starts reconciles no faster than the rate limit, after a first burst", async () => {
    const { clock, calls, queue } = running(async () => done, {
      concurrency: 10,
      rateLimit: { perSecond: 2, burst: 3 },
    });
    for (let i = 0; i < 8; i++) queue.add(`app-${i}`);
    await settle();
    expect(calls.map((c) => c.at)).toEqual([0, 0, 0]);
    await clock.advance(2_500);
    expect(calls.map((c) => c.at)).toEqual([0, 0, 0, 500, 1_000, 1_500, 2_000, 2_500]);
  });

  it("forgets a key: its backoff wait and queued work are dropped, and a later add starts afresh", async () => {
    const { clock, calls, queue } = running(async () => ({ retry: new Error("conflict") }), {
      backoff: { baseMs: 100, capMs: 10_000 },
    });
    queue.add("app");
    await clock.advance(300);
    expect(calls).toHaveLength(3);
    queue.forget("app");
    expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
    await clock.advance(10_000);
    expect(calls).toHaveLength(3);
    queue.add("app");
    await clock.advance(100);
    expect(calls.map((c) => c.at)).toEqual([0, 100, 300, 10_300, 10_400]);
  });

  it("forgets a key while it is processed: its result does not requeue it", async () => {
    const gate = deferred<Result>();
    const { clock, calls, queue } = running(() => gate.promise);
    queue.add("app");
    await settle();
    queue.forget("app");
    gate.resolve({ requeueAfter: 10 });
    await clock.advance(1_000);
    expect(calls).toHaveLength(1);
    expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
  });

  it("counts a thrown error and a result that is not one as retries, with a clear error", async () => {
    const retried: { key: string; failures: number; delayMs: number; error: string }[] = [];
    const { clock, queue } = running(
      async (key) => {
        if (key === "throws") throw new Error("boom");
        return undefined as unknown as Result;
      },
      {
        backoff: { baseMs: 100, capMs: 100 },
        metrics: {
          retried: (key, failures, delayMs, error) =>
            retried.push({ key, failures, delayMs, error: (error as Error).message }),
        },
      },
    );
    queue.add("throws");
    queue.add("empty");
    await clock.advance(100);
    expect(retried).toEqual([
      { key: "throws", failures: 1, delayMs: 100, error: "boom" },
      { key: "empty", failures: 1, delayMs: 100, error: "the reconciler returned undefined, not a Result" },
      { key: "throws", failures: 2, delayMs: 100, error: "boom" },
      { key: "empty", failures: 2, delayMs: 100, error: "the reconciler returned undefined, not a Result" },
    ]);
  });

  it("reports depth and each reconcile by key", async () => {
    const depths: number[] = [];
    const reconciled: string[] = [];
    const gate = deferred<Result>();
    const { queue } = running((key) => (key === "a" ? gate.promise : Promise.resolve(done)), {
      metrics: {
        depth: (depth) => depths.push(depth),
        reconciled: (key, outcome) => reconciled.push(`${key}:${outcome}`),
      },
    });
    queue.add("a");
    queue.add("b");
    queue.add("c");
    gate.resolve({ terminal: new Error("invalid") });
    await settle();
    expect(depths).toEqual([1, 0, 1, 2, 1, 0]);
    expect(reconciled).toEqual(["a:terminal", "b:done", "c:done"]);
  });

  it("holds no state for a key once it is done: empty after 1,000,000 keys", async () => {
    let reconciles = 0;
    const { queue, clock } = running(
      async () => {
        reconciles++;
        return done;
      },
      { concurrency: 8 },
    );
    for (let batch = 0; batch < 100; batch++) {
      for (let i = 0; i < 10_000; i++) queue.add(`app-${batch}-${i}`);
      await settle();
    }
    expect(reconciles).toBe(1_000_000);
    expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
    expect(clock.pendingTimers).toBe(0);
  }, 60_000);

  it("on stop, drops queued keys, waits for the reconciles in flight, then takes no more keys", async () => {
    const gate = deferred<Result>();
    const signals: AbortSignal[] = [];
    const { clock, calls, queue, stop } = running(
      (_key, signal) => {
        signals.push(signal);
        return gate.promise;
      },
      { concurrency: 2 },
    );
    queue.add("a");
    queue.add("b");
    queue.add("c");
    await clock.advance(10);
    queue.addAfter("d", 1_000);
    let stopped = false;
    void stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(stopped).toBe(false); // a and b are still in flight
    gate.resolve(done);
    await settle();
    expect(stopped).toBe(true);
    queue.add("e");
    await clock.advance(2_000);
    expect(calls.map((c) => c.key)).toEqual(["a", "b"]);
    expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
    expect(clock.pendingTimers).toBe(0);
  });

  it("drops keys added before it starts (whoever feeds it lists everything when it starts)", async () => {
    const queue = new WorkQueue<string>({
      name: "test",
      reconcile: async () => done,
      clock: new ManualClock(),
    });
    queue.add("early");
    expect(queue.state().queued).toBe(0);
  });

  it("runs under the manager as a leader-only runnable: stopped with the lease, working again once regained", async () => {
    const clock = new ManualClock();
    let flip: (held: boolean) => void = () => {};
    const elector: LeaderElector = {
      run: (signal, onChange) => {
        flip = onChange;
        return new Promise((resolve) => signal.addEventListener("abort", () => resolve()));
      },
    };
    const reconciled: string[] = [];
    const queue = new WorkQueue<string>({
      name: "delivery",
      leaderOnly: true,
      clock,
      reconcile: async (key) => {
        reconciled.push(key);
        return { requeueAfter: 1_000 };
      },
    });
    const manager = new Manager({ log: () => {}, clock, elector });
    manager.add(queue);
    await manager.start();
    queue.add("follower");
    flip(true);
    await settle();
    queue.add("app");
    await clock.advance(1_000);
    expect(reconciled).toEqual(["app", "app"]);
    flip(false);
    await clock.advance(5_000);
    expect(queue.running).toBe(false);
    expect(reconciled).toEqual(["app", "app"]);
    flip(true);
    await settle();
    queue.add("app");
    await settle();
    expect(reconciled).toEqual(["app", "app", "app"]);
    void manager.stop();
    await clock.advance(10);
    expect(await manager.done).toEqual({ stuck: [] });
    expect(clock.pendingTimers).toBe(0);
  });

  it("refuses bad options with the field at fault", () => {
    const reconcile = async () => done;
    expect(() => new WorkQueue({ name: "q", reconcile, concurrency: 0 })).toThrow("concurrency: must be");
    expect(() => new WorkQueue({ name: "q", reconcile, backoff: { baseMs: 100, capMs: 10 } })).toThrow(
      "backoff.capMs: must be at least backoff.baseMs (100), got 10",
    );
    expect(() => new WorkQueue({ name: "q", reconcile, rateLimit: { perSecond: 0, burst: 1 } })).toThrow(
      "rateLimit.perSecond",
    );
  });

  it("property: one reconcile of a key at a time; every key added is reconciled after its last add", async () => {
    const keys = ["a", "b", "c", "d"];
    const step = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), key: fc.constantFrom(...keys) }),
      fc.record({
        kind: fc.constant("addAfter" as const),
        key: fc.constantFrom(...keys),
        ms: fc.integer({ min: 0, max: 500 }),
      }),
      fc.record({ kind: fc.constant("forget" as const), key: fc.constantFrom(...keys) }),
      fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 300 }) }),
      fc.record({ kind: fc.constant("finish" as const), index: fc.nat() }),
    );
    const resultOf = fc.oneof(
      fc.constant<Result>(done),
      fc.integer({ min: 1, max: 400 }).map<Result>((ms) => ({ requeueAfter: ms })),
      fc.constant<Result>({ retry: new Error("try again") }),
      fc.constant<Result>({ terminal: new Error("bad") }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 60 }),
        fc.infiniteStream(resultOf),
        fc.integer({ min: 1, max: 3 }),
        fc.option(
          fc.record({ perSecond: fc.integer({ min: 1, max: 20 }), burst: fc.integer({ min: 1, max: 4 }) }),
          {
            nil: undefined,
          },
        ),
        async (steps, results, concurrency, rateLimit) => {
          const inFlight = new Map<string, () => void>();
          const lastAdd = new Map<string, number>();
          const lastStart = new Map<string, number>();
          let tick = 0;
          let draining = false;
          let overlapped: string | undefined;
          const { clock, queue, stop } = running(
            (key) => {
              // Noted rather than thrown: the queue would count a throw here as a retry.
              if (inFlight.has(key)) overlapped = key;
              lastStart.set(key, ++tick);
              const result = draining ? done : results.next().value;
              return new Promise<Result>((resolve) => {
                inFlight.set(key, () => {
                  inFlight.delete(key);
                  resolve(result);
                });
              });
            },
            { concurrency, backoff: { baseMs: 10, capMs: 200 }, ...(rateLimit ? { rateLimit } : {}) },
          );
          for (const s of steps) {
            if (s.kind === "add" || s.kind === "addAfter") {
              lastAdd.set(s.key, ++tick);
              if (s.kind === "add") queue.add(s.key);
              else queue.addAfter(s.key, s.ms);
            } else if (s.kind === "forget") {
              queue.forget(s.key);
              lastAdd.delete(s.key);
            } else if (s.kind === "advance") {
              await clock.advance(s.ms);
            } else {
              const finishers = [...inFlight.values()];
              finishers[s.index % Math.max(finishers.length, 1)]?.();
              await settle();
            }
          }
          // Drain: every reconcile from now on is done, and time runs until nothing is left.
          draining = true;
          for (let round = 0; round < 100 && (inFlight.size > 0 || clock.pendingTimers > 0); round++) {
            for (const finish of [...inFlight.values()]) finish();
            await clock.advance(1_000);
          }
          await settle();
          expect(overlapped).toBeUndefined();
          expect(inFlight.size).toBe(0);
          for (const [key, added] of lastAdd) expect(lastStart.get(key) ?? 0).toBeGreaterThan(added);
          expect(queue.state()).toEqual({ queued: 0, processing: 0, waiting: 0, failing: 0 });
          await stop();
          expect(clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
