import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Taint } from "../fleet-snapshot.ts";
import { optimalSupplyNodeCount, supplyViolations, zonesTaking } from "./supply-invariants.test-support.ts";
import { firstFitDecreasingOnSupply, packOnSupply, supplyBound } from "./supply-packing.ts";
import type { CatalogShape, OwnedNode, SupplyItem, SupplyOptions } from "./supply-types.ts";

const Gi = 2 ** 30;
const gpu = "nvidia.com/gpu";
const model = "gpu.model";
const taint: Taint = { key: "dedicated", value: "gpu", effect: "NoSchedule" };

/** A node's make-up: a CPU node, or a GPU node of model a or b, maybe tainted; allocatable drawn around it. */
const makeArb = fc.record({
  cpu: fc.constantFrom(2, 4, 8, 16),
  memoryGi: fc.constantFrom(4, 16, 64),
  pods: fc.integer({ min: 3, max: 110 }),
  gpu: fc.option(fc.record({ devices: fc.integer({ min: 1, max: 8 }), model: fc.constantFrom("a", "b") }), {
    nil: undefined,
    freq: 2,
  }),
  tainted: fc.boolean(),
  price: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
});

const big = {
  cpu: 16 as const,
  memoryGi: 64 as const,
  pods: 110,
  gpu: { devices: 8, model: "a" as const },
  tainted: false,
  price: 900,
};

type Make = typeof makeArb extends fc.Arbitrary<infer T> ? T : never;

function nodeOf(make: Make) {
  return {
    allocatable: {
      cpu: make.cpu,
      memory: make.memoryGi * Gi,
      pods: make.pods,
      ...(make.gpu ? { [gpu]: make.gpu.devices } : {}),
    },
    labels: (make.gpu ? { [model]: make.gpu.model } : {}) as Record<string, string>,
    ...(make.gpu && make.tainted ? { taints: [taint] } : {}),
    ...(make.price !== undefined ? { monthlyPrice: make.price } : {}),
  };
}

const supplyArb = (maxOwned: number, maxCatalog: number) =>
  fc
    .record({
      owned: fc.array(fc.record({ make: makeArb, zone: fc.integer({ min: 0, max: 3 }) }), {
        maxLength: maxOwned,
      }),
      catalog: fc.array(makeArb, { maxLength: maxCatalog }),
      // Now and then a large GPU shape any pod may use, so that many draws can be packed at all.
      roomy: fc.boolean(),
    })
    .map(({ owned, catalog: drawn, roomy }) => ({ owned, catalog: roomy ? [...drawn, big] : drawn }))
    .map(({ owned, catalog }) => ({
      owned: owned.map(
        ({ make, zone }, n): OwnedNode => ({
          name: `node-${n}`,
          cluster: `c${n % 2}`,
          shape: `${make.gpu ? `gpu-${make.gpu.model}` : "cpu"}-${make.cpu}`,
          zone: `z${zone}`,
          ...nodeOf(make),
        }),
      ),
      catalog: catalog.map((make, n): CatalogShape => ({ name: `shape-${n}`, ...nodeOf(make) })),
    }));

const optionsArb: fc.Arbitrary<SupplyOptions> = fc.record({
  zones: fc.integer({ min: 1, max: 3 }).map((n) => Array.from({ length: n }, (_, i) => `z${i}`)),
  headroomPercent: fc.constantFrom(0, 10, 25, 40),
  reserve: fc.constantFrom([], [gpu]),
  objective: fc.constantFrom("nodes" as const, "cost" as const),
});

/** Pods sized against a 16-core, 64 GiB node, now and then asking for GPUs, a model, tolerating the taint. */
const itemArb = (maxCount: number): fc.Arbitrary<SupplyItem> =>
  fc
    .record({
      count: fc.integer({ min: 0, max: maxCount }),
      cpu: fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constantFrom(0.1, 0.5, 1, 3, 8, 14)),
      memoryGi: fc.oneof(fc.double({ min: 0, max: 8, noNaN: true }), fc.constantFrom(0.5, 2, 16, 40)),
      gpus: fc.option(fc.constantFrom(1, 2, 4), { nil: undefined, freq: 3 }),
      pinned: fc.option(fc.constantFrom("a", "b", "any"), { nil: undefined, freq: 3 }),
      tolerates: fc.boolean(),
      maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined, freq: 3 }),
      maxPerZone: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined, freq: 5 }),
      zoneMaxSkew: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined, freq: 4 }),
    })
    .map((r) => ({
      id: "w",
      count: r.count,
      demand: { cpu: r.cpu, memory: r.memoryGi * Gi, pods: 1, ...(r.gpus ? { [gpu]: r.gpus } : {}) },
      ...(r.pinned === "a" || r.pinned === "b" ? { nodeSelector: { [model]: r.pinned } } : {}),
      ...(r.pinned === "any"
        ? {
            nodeAffinity: [
              { matchExpressions: [{ key: model, operator: "In" as const, values: ["a", "b"] }] },
            ],
          }
        : {}),
      ...(r.tolerates ? { tolerations: [{ key: "dedicated", operator: "Exists" as const }] } : {}),
      ...(r.maxPerNode ? { maxPerNode: r.maxPerNode } : {}),
      ...(r.maxPerZone ? { maxPerZone: r.maxPerZone } : {}),
      ...(r.zoneMaxSkew ? { zoneMaxSkew: r.zoneMaxSkew } : {}),
    }));

const itemsArb = (maxItems: number, maxCount: number) =>
  fc
    .array(itemArb(maxCount), { maxLength: maxItems })
    .map((items) => items.map((item, i) => ({ ...item, id: `w${i}` })));

describe.each([
  ["packOnSupply", packOnSupply],
  ["firstFitDecreasingOnSupply", firstFitDecreasingOnSupply],
] as const)("%s, for any items, supply and options", (_, packer) => {
  it("places every pod once on a node that admits it, within capacity, each owned node once, constraints held", () => {
    fc.assert(
      fc.property(itemsArb(8, 30), supplyArb(12, 3), optionsArb, (items, supply, options) => {
        const outcome = packer(items, supply, options);
        if (!outcome.ok) {
          for (const { reason } of outcome.unfit) expect(reason.length).toBeGreaterThan(0);
          return;
        }
        expect(supplyViolations(items, supply, options, outcome.nodes)).toEqual([]);
        expect(outcome.bound).toEqual(supplyBound(items, supply, options));
        expect(outcome.nodes.length).toBeGreaterThanOrEqual(outcome.bound.nodes);
      }),
      { numRuns: 400 },
    );
  });

  it("refuses an item for want of a fitting node exactly when no node of the supply takes its pods", () => {
    fc.assert(
      fc.property(itemsArb(6, 10), supplyArb(6, 2), optionsArb, (items, supply, options) => {
        const outcome = packer(items, supply, options);
        const nowhere = items.flatMap((item, i) =>
          item.count > 0 && zonesTaking(item, supply, options).length === 0 ? [i] : [],
        );
        if (outcome.ok) expect(nowhere).toEqual([]);
        else {
          const unfitNowhere = outcome.unfit
            .filter(
              ({ reason }) => !reason.startsWith("supply exhausted") && !reason.includes("per zone may run"),
            )
            .map((u) => u.item);
          expect(unfitNowhere).toEqual(nowhere);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("gives the same packing for the same input", () => {
    fc.assert(
      fc.property(itemsArb(8, 30), supplyArb(12, 3), optionsArb, (items, supply, options) => {
        expect(packer(items, supply, options)).toEqual(
          packer(structuredClone(items), structuredClone(supply), structuredClone(options)),
        );
      }),
      { numRuns: 100 },
    );
  });
});

describe("supplyBound", () => {
  it("never exceeds the fewest nodes an exhaustive search needs, which packOnSupply never beats", () => {
    const small = fc
      .tuple(itemsArb(3, 2), supplyArb(3, 1), optionsArb)
      .filter(([items]) => items.reduce((n, item) => n + item.count, 0) <= 4);
    fc.assert(
      fc.property(small, ([items, supply, options]) => {
        const optimum = optimalSupplyNodeCount(items, supply, {
          ...options,
          zones: options.zones.slice(0, 2),
        });
        const narrowed = { ...options, zones: options.zones.slice(0, 2) };
        const outcome = packOnSupply(items, supply, narrowed);
        if (outcome.ok) expect(outcome.nodes.length).toBeGreaterThanOrEqual(optimum);
        if (Number.isFinite(optimum))
          expect(supplyBound(items, supply, narrowed).nodes).toBeLessThanOrEqual(optimum);
      }),
      { numRuns: 300 },
    );
  });
});
