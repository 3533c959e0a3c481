import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isSelected, type Rules } from "./filters.ts";
import { type ClusterFacts, candidatePositions, indexFleet } from "./fleet-index.ts";
import { type PlacementInput, selectorRequirements, validatePlacementSpec } from "./placement.ts";

const pick = <T>(xs: readonly T[], i: number) => xs[i % xs.length]!;

function fleetOf(size: number, seed: number): ClusterFacts[] {
  return Array.from({ length: size }, (_, i) => {
    const h = (Math.imul(i + 1, 2_654_435_761) ^ seed) >>> 0;
    const location = pick(["ams", "fra", "sgp"], h);
    return {
      name: `c${String(i).padStart(4, "0")}`,
      location,
      ...(h % 5 === 0 ? {} : { region: `${location}-r${h % 3}` }),
      zones: [],
      labels: {
        location,
        environment: pick(["prod", "dev"], h >>> 3),
        business: pick(["shop", "ads", "pay", "search"], h >>> 5),
        ...(h % 7 === 0 ? {} : { tier: pick(["web", "db"], h >>> 9) }),
      },
      taints: [],
      free: { cpuMilli: 1000, memoryBytes: 1e9, pods: 10 },
      health: { ready: true, since: 0 },
    };
  });
}

const placementArb = fc.record(
  {
    clusterNames: fc.subarray(["c0001", "c0042", "c0300", "nope"], { minLength: 1 }),
    locations: fc.subarray(["ams", "fra", "sgp", "iad"], { minLength: 1 }),
    regions: fc.subarray(["ams-r0", "fra-r1", "sgp-r2"], { minLength: 1 }),
    environments: fc.subarray(["prod", "dev"], { minLength: 1 }),
    businesses: fc.subarray(["shop", "ads", "pay"], { minLength: 1 }),
    clusterSelector: fc.record(
      {
        matchLabels: fc.constantFrom({ tier: "web" }, { business: "ads", tier: "db" }),
        matchExpressions: fc.constantFrom(
          [{ key: "tier", operator: "Exists" as const }],
          [{ key: "tier", operator: "In" as const, values: ["db", "cache"] }],
          [{ key: "tier", operator: "DoesNotExist" as const }],
          [{ key: "business", operator: "NotIn" as const, values: ["shop"] }],
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe("candidatePositions", () => {
  it("returns, ascending and once each, every cluster the placement selects — only them when exact", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.integer(), placementArb, (size, seed, raw) => {
        const checked = validatePlacementSpec({
          ...raw,
          replicas: { mode: "Duplicated", count: 1 },
        } as PlacementInput);
        if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
        const placement = checked.value;
        const index = indexFleet(fleetOf(size, seed));
        const rules = {
          placement,
          requirements: selectorRequirements(placement.clusterSelector),
          names: placement.clusterNames && new Set(placement.clusterNames),
          locations: placement.locations && new Set(placement.locations),
          regions: placement.regions && new Set(placement.regions),
          environments: placement.environments && new Set(placement.environments),
          businesses: placement.businesses && new Set(placement.businesses),
        } as Rules;
        const { positions, exact } = candidatePositions(index, placement);
        expect([...positions]).toEqual([...new Set(positions)].sort((a, b) => a - b));
        const selected = index.clusters.flatMap((c, i) => (isSelected(c, rules) ? [i] : []));
        if (exact) expect(positions).toEqual(selected);
        const given = new Set(positions);
        for (const p of selected) expect(given.has(p)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("shares one API resource set between clusters that serve the same kinds", () => {
    const base = fleetOf(3, 1);
    const index = indexFleet([
      { ...base[0]!, apiResources: ["v1/ConfigMap", "apps/v1/Deployment"] },
      { ...base[1]!, apiResources: ["apps/v1/Deployment", "v1/ConfigMap"] },
      base[2]!,
    ]);
    expect(index.apiSets).toHaveLength(1);
    expect(index.apiResources[0]).toBe(index.apiResources[1]);
    expect(index.apiResources[2]).toBeUndefined();
  });

  it("refuses a fleet that names a cluster twice", () => {
    const [a] = fleetOf(1, 1);
    expect(() => indexFleet([a!, a!])).toThrow('fleet snapshot lists cluster "c0000" twice');
  });
});
