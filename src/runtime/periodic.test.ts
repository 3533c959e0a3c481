import { describe, expect, it } from "vitest";
import { ManualClock, settle } from "./clock.ts";
import { periodic } from "./periodic.ts";

describe("periodic: a pass now, then one every so often, until stopped", () => {
  it("runs at once, then everyMs after each pass ends; a failing pass is logged and the next comes on time", async () => {
    const clock = new ManualClock(0);
    const passes: number[] = [];
    const logged: Array<Record<string, unknown>> = [];
    const runnable = periodic({
      name: "compaction",
      everyMs: 1000,
      clock,
      log: (entry) => logged.push(entry),
      work: async () => {
        passes.push(clock.now());
        if (passes.length === 2) throw new Error("database away");
      },
    });
    const stop = new AbortController();
    const running = runnable.start(stop.signal, () => {});
    await settle();
    await clock.advance(3500);
    expect(passes).toEqual([0, 1000, 2000, 3000]);
    expect(logged).toEqual([{ level: "warn", msg: "compaction pass failed", error: "Error: database away" }]);
    stop.abort();
    await running;
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(5000);
    expect(passes).toHaveLength(4);
  });
});
