import { describe, expect, it } from "vitest";
import { ManualClock, scaledClock } from "./clock.ts";

describe("scaledClock", () => {
  it("runs `scale` times faster from the real time it was made at, and fires timers sooner by as much", async () => {
    const real = new ManualClock(1_000_000);
    const fast = scaledClock(60, real);
    expect(fast.now()).toBe(1_000_000);
    const fired: number[] = [];
    fast.setTimeout(() => fired.push(fast.now()), 60_000);
    await real.advance(999);
    expect(fired).toEqual([]);
    await real.advance(1);
    expect(fired).toEqual([1_060_000]);
    const cleared = fast.setTimeout(() => fired.push(-1), 60_000);
    fast.clearTimeout(cleared);
    await real.advance(5_000);
    expect(fired).toEqual([1_060_000]);
    expect(fast.now()).toBe(1_000_000 + 6_000 * 60);
  });

  it("refuses a scale below 1", () => {
    expect(() => scaledClock(0.5)).toThrow(/≥ 1/);
    expect(() => scaledClock(Number.NaN)).toThrow(/≥ 1/);
  });
});
