import { describe, expect, it } from "vitest";
import { consolidationPolicySpec } from "./consolidation-policy.ts";
import { labLikeFleet } from "./fleet-fixtures.test-support.ts";
import { readFleet } from "./fleet-snapshot.ts";
import { planUnits } from "./unit-planner.ts";

const read = readFleet({
  ...labLikeFleet(),
  locations: [
    {
      name: "frankfurt",
      regions: [
        { name: "fra-north", zones: ["fra-north-1", "fra-north-2", "fra-north-3"] },
        { name: "fra-south", zones: ["fra-south-1", "fra-south-2"] },
      ],
    },
    { name: "singapore", zones: ["sgp-1", "sgp-2"] },
  ],
});
if (!read.ok) throw new Error(JSON.stringify(read.problems));
const fleet = read.value;

describe("planUnits", () => {
  it("gives each business/environment group one unit of the same shape in each of the Location's Regions", () => {
    const result = planUnits(fleet, consolidationPolicySpec.parse({}), "frankfurt");
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const plan = result.value;
    expect(plan.regions.map((r) => [r.name, r.existing])).toEqual([
      ["fra-north", true],
      ["fra-south", true],
    ]);
    expect(plan.units.map((u) => u.name)).toEqual([
      "payments-prod-fra-north",
      "payments-prod-fra-south",
      "search-staging-fra-north",
      "search-staging-fra-south",
      "shop-dev-fra-north",
      "shop-dev-fra-south",
      "shop-prod-fra-north",
      "shop-prod-fra-south",
    ]);
    for (const [a, b] of [plan.units.slice(0, 2), plan.units.slice(6, 8)] as const)
      expect(a?.pools).toEqual(b?.pools);
    // With one Region down, the other carries the whole load: each shop-prod unit holds all 21 pods.
    const shop = plan.units.find((u) => u.name === "shop-prod-fra-north");
    expect(shop?.podsAtFailure).toBe(21);
    expect(shop?.pods).toBe(10.5);
    for (const u of plan.units) expect(u.nodes).toBeGreaterThanOrEqual(u.lowerBound);
    expect(plan.after.clusters).toBe(8);
    expect(plan.after.blastRadius.share).toBeCloseTo(0.5);
    expect(plan.before.blastRadius.share).toBe(1);
    expect(plan.after.requested.cpu).toBeCloseTo(plan.before.requested.cpu);
  });

  it("proposes Regions for a Location that has none", () => {
    const result = planUnits(fleet, consolidationPolicySpec.parse({ units: { regions: 2 } }), "singapore");
    if (!result.ok) throw new Error("not planned");
    expect(result.value.regions).toEqual([
      { name: "singapore-region-1", zones: ["sgp-1"], existing: false },
      { name: "singapore-region-2", zones: ["sgp-2"], existing: false },
    ]);
  });

  it("names an unknown Location", () => {
    const result = planUnits(fleet, consolidationPolicySpec.parse({}), "oslo");
    expect(result).toEqual({
      ok: false,
      problems: [
        { path: "location", message: "Location oslo is not in the fleet (it has: frankfurt, singapore)" },
      ],
    });
  });
});
