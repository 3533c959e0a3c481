import { describe, expect, it } from "vitest";
import { divideByLargestRemainder, divideRoundHalfUp, toSafeNumber } from "./money.ts";

describe("divideRoundHalfUp", () => {
  it("rounds to the nearest whole unit, halves up", () => {
    expect(divideRoundHalfUp(7n, 2n)).toBe(4n); // 3.5 → 4
    expect(divideRoundHalfUp(5n, 4n)).toBe(1n); // 1.25 → 1
    expect(divideRoundHalfUp(7n, 4n)).toBe(2n); // 1.75 → 2
    expect(divideRoundHalfUp(0n, 9n)).toBe(0n);
  });
});

describe("divideByLargestRemainder", () => {
  it("gives each claim the floor of its share and the rest to the largest remainders", () => {
    // 10 over 1:1:1 → 3.33 each: floors 3+3+3 = 9, one unit left, all remainders equal → smallest key "a".
    expect(
      divideByLargestRemainder(10n, [
        { key: "c", weight: 1n },
        { key: "a", weight: 1n },
        { key: "b", weight: 1n },
      ]),
    ).toEqual([3n, 4n, 3n]);
    // 100 over 1:2:4 (sum 7) → 14.29, 28.57, 57.14: floors 14+28+57 = 99; remainders 2/7, 4/7, 1/7 → "y" gets 1.
    expect(
      divideByLargestRemainder(100n, [
        { key: "x", weight: 1n },
        { key: "y", weight: 2n },
        { key: "z", weight: 4n },
      ]),
    ).toEqual([14n, 29n, 57n]);
  });

  it("never gives a unit to a claim of weight 0 and always adds up", () => {
    const parts = divideByLargestRemainder(5n, [
      { key: "a", weight: 0n },
      { key: "b", weight: 1n },
      { key: "c", weight: 1n },
    ]);
    expect(parts).toEqual([0n, 3n, 2n]);
  });

  it("returns undefined when there is something to divide and no weight to divide it by", () => {
    expect(divideByLargestRemainder(5n, [{ key: "a", weight: 0n }])).toBeUndefined();
    expect(divideByLargestRemainder(0n, [{ key: "a", weight: 0n }])).toEqual([0n]);
  });
});

describe("toSafeNumber", () => {
  it("refuses amounts a number cannot hold exactly", () => {
    expect(toSafeNumber(9_007_199_254_740_991n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toSafeNumber(9_007_199_254_740_992n)).toThrow(RangeError);
  });
});
