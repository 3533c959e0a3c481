import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { divide, stabilize, tolerance } from "./division.ts";

describe("divide", () => {
  it("splits 10 over capacity 3:1 as 8/2: the .5 remainders tie and the larger weight takes the extra one", () => {
    expect(divide(10, [30, 10], [30, 10])).toEqual({ shares: [8, 2], quotas: [7.5, 2.5], unplaced: 0 });
  });

  it("gives equal remainders with equal weights to the earlier item", () => {
    expect(divide(11, [5, 5], [5, 6]).shares).toEqual([5, 6]);
    expect(divide(3, [1, 1], [9, 9]).shares).toEqual([2, 1]);
  });

  it("never exceeds a cap, divides the rest among the others, and reports what fits nowhere", () => {
    expect(divide(10, [1, 1, 1], [1, 9, 9]).shares).toEqual([1, 5, 4]);
    expect(divide(10, [1, 1], [3, 4])).toMatchObject({ shares: [3, 4], unplaced: 3 });
    expect(divide(4, [0, 2], [5, 5]).shares).toEqual([0, 4]);
  });

  it("always places min(total, sum of caps of weighted items), each within its cap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 60 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (total, items) => {
          const weights = items.map(([w]) => w);
          const caps = items.map(([, c]) => c);
          const { shares, unplaced } = divide(total, weights, caps);
          const room = items.reduce((n, [w, c]) => n + (w > 0 ? c : 0), 0);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(Math.min(total, room));
          expect(unplaced).toBe(total - Math.min(total, room));
          shares.forEach((s, i) => {
            expect(s).toBeLessThanOrEqual(caps[i]!);
            if (weights[i] === 0) expect(s).toBe(0);
          });
        },
      ),
    );
  });
});

describe("stabilize", () => {
  it("tolerates one replica, or a tenth of the ideal share when larger", () => {
    expect([0, 5, 19, 20, 100].map(tolerance)).toEqual([1, 1, 1, 2, 10]);
  });

  it("keeps a previous split within the tolerance", () => {
    expect(stabilize([7, 3], [8, 2], [30, 10], [true, true])).toEqual({ shares: [7, 3], outcome: "kept" });
  });

  it("rebalances to the ideal split when a cluster strays beyond the tolerance", () => {
    expect(stabilize([5, 5], [8, 2], [30, 10], [true, true])).toEqual({
      shares: [8, 2],
      outcome: "rebalanced",
    });
  });

  it("gives a failed cluster's replicas to those most below their ideal share, moving nothing else", () => {
    // a failed (cap 0): its 4 go to b and c, whose ideal is 5 each.
    expect(stabilize([4, 3, 3], [0, 5, 5], [0, 10, 10], [true, true, true])).toEqual({
      shares: [0, 5, 5],
      outcome: "adjusted",
    });
  });

  it("takes a lower count from those most above their ideal share", () => {
    expect(stabilize([6, 4], [5, 3], [9, 9], [true, true])).toEqual({ shares: [5, 3], outcome: "adjusted" });
  });
});
