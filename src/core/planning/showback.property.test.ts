/**
 * The showback of any plan adds up to the plan's cost figures: on generated fleets (some workloads paid by
 * another business than their cluster's), under policies that price every node type, some, or none, every
 * target's and Location's businesses sum to its monthly cost today and after, to the micro-unit and in the whole
 * units a table shows; no business pays a negative amount.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defaultSharedNamespaces } from "../metering/allocation.ts";
import { planConsolidation, shapesOf } from "./consolidation-planner.ts";
import {
  type ConsolidationPolicySpec,
  consolidationPolicySpec,
  defaultPolicy,
} from "./consolidation-policy.ts";
import { fleetShapes, generateFleet } from "./fleet-generator.ts";
import { type Fleet, readFleet } from "./fleet-snapshot.ts";
import { expectSumsToFigures } from "./showback.test-support.ts";
import { showback } from "./showback.ts";

const fleetOptions = fc
  .record({
    clusters: fc.integer({ min: 2, max: 10 }),
    nodesPerCluster: fc.integer({ min: 2, max: 8 }),
    podsPerNode: fc.integer({ min: 5, max: 30 }),
    locations: fc.integer({ min: 1, max: 2 }),
    shape: fc.constantFrom(...fleetShapes),
    seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  })
  .map((o) => ({
    clusters: o.clusters,
    nodes: o.clusters * o.nodesPerCluster,
    pods: o.clusters * o.nodesPerCluster * o.podsPerNode,
    locations: Math.min(o.locations, o.clusters),
    shape: o.shape,
    seed: o.seed,
  }));

/** Prices in cents (0.00–3,000.00 a month), or none: which node types of each Location the policy prices. */
interface PricingValue {
  cents: number[];
  mode: number;
  otherPayerEvery: number;
}

const pricing: fc.Arbitrary<PricingValue> = fc.record({
  cents: fc.array(fc.integer({ min: 0, max: 300_000 }), { minLength: 16, maxLength: 16 }),
  /** 0: every type priced; 1: a Location unpriced (the fleet's shapes); 2: some types left out of the policy. */
  mode: fc.constantFrom(0, 0, 1, 2),
  /** Every n-th workload is paid by another business. */
  otherPayerEvery: fc.integer({ min: 2, max: 7 }),
});

function policyFor(fleet: Fleet, p: PricingValue) {
  const nodeShapes: NonNullable<ConsolidationPolicySpec["nodeShapes"]> = [];
  fleet.locations.forEach((location, l) => {
    if (p.mode === 1 && l === 0) return;
    shapesOf(fleet, defaultPolicy(), location.name).forEach((shape, i) => {
      if (p.mode === 2 && i % 3 === 1) return;
      const { cpu, memory, pods, ...extended } = shape.allocatable;
      nodeShapes.push({
        name: shape.name,
        locations: [location.name],
        cpu: cpu ?? 0,
        memory: memory ?? 0,
        pods: pods ?? 110,
        ...(Object.keys(extended).length > 0 ? { extendedResources: extended } : {}),
        labels: { ...shape.labels },
        monthlyPrice: (p.cents[(i + l) % p.cents.length] ?? 0) / 100,
      });
    });
  });
  return consolidationPolicySpec.parse({ nodeShapes } satisfies ConsolidationPolicySpec);
}

describe("every showback", () => {
  it("sums to the plan's figures when prices' float sum would round the other way (found by the property)", () => {
    // 0.299995 × 0.3 a month: the plan summed prices in floats (…89998.999…) and lost a micro-unit.
    checked(
      { clusters: 5, nodes: 40, pods: 200, locations: 1, shape: "mixed", seed: 30 },
      { cents: [299_995, ...Array(15).fill(0)], mode: 0, otherPayerEvery: 2 },
    );
  });

  it("sums to the plan's cost figures for every target and Location, today and after", () => {
    fc.assert(
      fc.property(fleetOptions, pricing, (options, p) => {
        checked(options, p);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});

/** Plans a generated fleet under a pricing and checks its showback against the plan's figures. */
function checked(options: Parameters<typeof generateFleet>[0], p: PricingValue): void {
  const snapshot = generateFleet(options);
  let n = 0;
  for (const cluster of snapshot.clusters)
    for (const w of cluster.workloads) {
      n += 1;
      if (n % p.otherPayerEvery === 0) w.business = ["ads", "search", "shop"][n % 3]!;
    }
  const read = readFleet(snapshot);
  if (!read.ok) throw new Error(JSON.stringify(read.problems.slice(0, 3)));
  const fleet = read.value;
  const policy = policyFor(fleet, p);
  const plan = planConsolidation(fleet, policy);
  const s = showback(fleet, policy, plan);
  expect(s.targets.map((t) => t.name)).toEqual(plan.targets.map((t) => t.name));
  expect(s.locations.map((l) => l.location)).toEqual(plan.locations.map((l) => l.location));
  expectSumsToFigures(plan, s);
  // The same pods are weighed on both sides: a business's Deployments and StatefulSets (shared namespaces
  // aside) weigh the same today and after; only DaemonSets change, with the node count.
  for (const l of s.locations) {
    const placed = new Map<string, number>();
    for (const c of fleet.clusters.filter((x) => x.location === l.location))
      for (const w of c.workloads)
        if (w.kind !== "DaemonSet" && !defaultSharedNamespaces.includes(w.namespace))
          placed.set(
            w.business,
            (placed.get(w.business) ?? 0) + w.replicas * Math.round((w.podRequests.cpu ?? 0) * 1000),
          );
    for (const [business, cpu] of placed) {
      const after = l.after.businesses.find((b) => b.business === business);
      expect(after?.allocated.cpu ?? 0).toBeGreaterThanOrEqual(cpu);
    }
  }
  // Deterministic.
  expect(showback(fleet, policy, plan)).toEqual(s);
}
