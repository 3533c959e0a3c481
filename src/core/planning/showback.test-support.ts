/** Checks for showback tests: a showback adds up to its plan's cost figures. */
import { expect } from "vitest";
import type { ConsolidationPlan } from "./consolidation-planner.ts";
import { inWholeUnits, type Showback } from "./showback.ts";

/** Every priced side's businesses add up to its cost, which is the plan's figure to the micro-unit. */
export function expectSumsToFigures(plan: ConsolidationPlan, s: Showback): void {
  const scopes = [
    ...plan.targets.map((t, i) => ({ figures: t, scope: s.targets[i]! })),
    ...plan.locations.map((l, i) => ({ figures: l, scope: s.locations[i]! })),
  ];
  for (const { figures, scope } of scopes)
    for (const [side, cost] of [
      [scope.today, figures.before.monthlyCost],
      [scope.after, figures.after.monthlyCost],
    ] as const) {
      if (cost === undefined) {
        expect(side.monthlyCostMicro).toBeUndefined();
        expect(side.unpriced.length).toBeGreaterThan(0);
        continue;
      }
      expect(side.monthlyCostMicro).toBe(Math.round(cost * 1_000_000));
      const parts = side.businesses.map((b) => b.monthlyCostMicro!);
      expect(parts.every((p) => Number.isSafeInteger(p) && p >= 0)).toBe(true);
      expect(parts.reduce((a, b) => a + b, 0)).toBe(side.monthlyCostMicro);
      const whole = inWholeUnits(side)!;
      expect(whole.total).toBe(Math.round(cost));
      expect([...whole.businesses.values()].reduce((a, b) => a + b, 0)).toBe(whole.total);
    }
}
